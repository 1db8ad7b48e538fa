package ebpf

import (
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/source"
)

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %v: %v: %s", args, err, out)
	}
}

// TestBlackholeAndRefused: connects into a black hole (SYNs that go
// nowhere) show SYN retransmits and timed-out connects on
// that peer; a connect to a closed port shows a refusal on its own peer.
func TestBlackholeAndRefused(t *testing.T) {
	tr := loadOrSkip(t)
	name, ns := nstest.New(t, "tcptop-ebpf")
	// SYNs to a MAC nobody has vanish: v1 drops frames not for it.
	ipCmd(t, "-n", name, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
	ipCmd(t, "-n", name, "addr", "add", "10.77.0.1/24", "dev", "v0")
	ipCmd(t, "-n", name, "link", "set", "v0", "up")
	ipCmd(t, "-n", name, "link", "set", "v1", "up")
	ipCmd(t, "-n", name, "neigh", "add", "10.77.0.2", "lladdr", "02:00:00:00:00:99", "dev", "v0", "nud", "permanent")
	hole := netip.MustParseAddrPort("10.77.0.2:5432")
	closed := netip.MustParseAddrPort("127.0.0.1:1")
	const tries = 2
	// Sequentially, on this thread: a goroutine would leave the namespace.
	err := ns.Do(func() error {
		for range tries {
			// Past the first SYN retransmit (1 s), then give up.
			if c, err := net.DialTimeout("tcp4", hole.String(), 1500*time.Millisecond); err == nil {
				c.Close()
			}
		}
		if c, err := net.Dial("tcp4", closed.String()); err == nil {
			c.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e := waitFor(t, tr, ns, func(e *source.EBPF) bool {
		p := findPeer(e, source.EBPFOut, netip.AddrPortFrom(netip.MustParseAddr("10.77.0.1"), 0), hole)
		return p != nil && p.Abandoned+p.TimedOut == tries
	})
	h := findPeer(e, source.EBPFOut, netip.AddrPortFrom(netip.MustParseAddr("10.77.0.1"), 0), hole)
	r := findPeer(e, source.EBPFOut, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0), closed)
	if h == nil || r == nil {
		t.Fatalf("peers missing: %+v", e.Peers)
	}
	if h.Retrans < tries || h.Abandoned+h.TimedOut != tries || h.Opens != 0 || h.Refused != 0 {
		t.Errorf("black hole: %d retransmits, %d timed out/abandoned, %d opens, %d refused; want ≥%d, %d, 0, 0", h.Retrans, h.Abandoned+h.TimedOut, h.Opens, h.Refused, tries, tries)
	}
	if r.Refused != 1 || r.Retrans != 0 || r.Abandoned+r.TimedOut != 0 {
		t.Errorf("closed port: %d refused, %d retransmits, %d timed out; want 1, 0, 0", r.Refused, r.Retrans, r.Abandoned+r.TimedOut)
	}
}

// TestListenerOverflow: a listener that never accepts, with a backlog of
// 1, overflows while another listener stays idle: the drops are the full
// one's. A SYN dropped by a full queue passes no tracepoint: counting it
// needs fentry (tcp_conn_request), which kernels without
// CONFIG_FUNCTION_TRACER refuse; there the programs must leave the idle
// listener alone, and the drops are checked where tcptop then reads
// them: each listener's own sk_drops (source.Socket.Drops).
func TestListenerOverflow(t *testing.T) {
	tr := loadOrSkip(t)
	fentry := !slices.ContainsFunc(tr.Skipped, func(s string) bool { return strings.HasPrefix(s, "conn_request") })
	name, ns := nstest.New(t, "tcptop-ebpf")
	var full, idle netip.AddrPort
	err := ns.Do(func() error {
		for i, p := range []*netip.AddrPort{&full, &idle} {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			t.Cleanup(func() { unix.Close(fd) })
			if err := unix.Bind(fd, &unix.SockaddrInet4{Port: 7000 + i, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
				return err
			}
			if err := unix.Listen(fd, 1); err != nil {
				return err
			}
			*p = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(7000+i))
		}
		// Non-blocking connects made here, so in the namespace.
		for range 8 {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			t.Cleanup(func() { unix.Close(fd) })
			_ = unix.Connect(fd, &unix.SockaddrInet4{Port: int(full.Port()), Addr: [4]byte{127, 0, 0, 1}})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	listener := func(e *source.EBPF, a netip.AddrPort) *source.EBPFPeer {
		return findPeer(e, source.EBPFListen, a, netip.AddrPort{})
	}
	e := waitFor(t, tr, ns, func(e *source.EBPF) bool {
		l := listener(e, full)
		return !fentry || (l != nil && l.Overflows > 0)
	})
	if i := listener(e, idle); i != nil {
		t.Errorf("the idle listener %s has drops: %+v", idle, i.EBPFCounts)
	}
	if !fentry {
		t.Logf("this kernel refuses fentry (skipped: %v): the programs do not see SYNs a full queue drops", tr.Skipped)
		listenerDropsFromDump(t, name, full, idle)
		return
	}
	l := listener(e, full)
	if l == nil || l.Overflows+l.Retrans == 0 {
		t.Fatalf("no drops on the full listener %s: %+v", full, e.Peers)
	}
	t.Logf("full listener: %d overflows, %d SYN-ACK retransmits", l.Overflows, l.Retrans)
}

// listenerDropsFromDump checks the drops of the full and the idle
// listener as a plain (eBPF-less) read of the namespace shows them.
func listenerDropsFromDump(t *testing.T, netns string, full, idle netip.AddrPort) {
	t.Helper()
	k, err := source.Open(source.Options{Netns: netns})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	s, err := k.Read(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	drops := map[netip.AddrPort]*source.Socket{}
	for i := range s.Sockets {
		if sk := &s.Sockets[i]; sk.State == source.Listen {
			drops[sk.Local] = sk
		}
	}
	if f := drops[full]; f == nil || !f.DropsKnown || f.Drops == 0 {
		t.Errorf("the full listener %s: %+v, want drops", full, f)
	} else {
		t.Logf("full listener: %d drops (sk_drops)", f.Drops)
	}
	if i := drops[idle]; i == nil || !i.DropsKnown || i.Drops != 0 {
		t.Errorf("the idle listener %s: %+v, want 0 drops", idle, i)
	}
}
