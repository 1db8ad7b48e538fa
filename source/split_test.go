package source_test

import (
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/source"
)

// splitPopulation makes, in ns, sockets whose local and remote ports fall
// on every side of mid: listeners below and above it (IPv4 and IPv6),
// clients bound to ports below and above it, some closed by the client
// (TIME_WAIT on its side, so FIN_WAIT2/CLOSE_WAIT ones too for a while).
func splitPopulation(t *testing.T, ns *source.Namespace, mid int) {
	t.Helper()
	var (
		mu    sync.Mutex
		conns []net.Conn
		lns   []net.Listener
	)
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
		for _, l := range lns {
			l.Close()
		}
	})
	err := ns.Do(func() error {
		for i, addr := range []string{
			fmt.Sprintf("127.0.0.1:%d", mid-1000), fmt.Sprintf("127.0.0.1:%d", mid+1000),
			fmt.Sprintf("[::1]:%d", mid-1001), fmt.Sprintf("[::1]:%d", mid),
		} {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			lns = append(lns, ln)
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					mu.Lock()
					conns = append(conns, c)
					mu.Unlock()
				}
			}()
			network := "tcp4"
			host := "127.0.0.1"
			if i >= 2 {
				network, host = "tcp6", "::1"
			}
			// Clients from ports on both sides of mid, and from
			// the kernel's own choice.
			for j, port := range []int{mid - 3000 - 10*i, mid + 3000 + 10*i, mid - 1, mid + 1, 0} {
				if port == mid-1 && i%2 == 1 {
					port = 0
				}
				la := &net.TCPAddr{IP: net.ParseIP(host), Port: port}
				if port == mid+1 {
					la.Port = mid + 1 + i
				}
				if port == mid-1 {
					la.Port = mid - 1 - i
				}
				d := net.Dialer{LocalAddr: la}
				c, err := d.Dial(network, ln.Addr().String())
				if err != nil {
					return fmt.Errorf("dial %s from %v: %w", ln.Addr(), la, err)
				}
				if j == 4 {
					c.Close() // TIME_WAIT on the client's side
					continue
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the accepts
}

// key is what a dump says of a socket that does not move between two
// dumps made one after the other.
func keys(socks []source.Socket) []string {
	var out []string
	for _, s := range socks {
		out = append(out, fmt.Sprintf("%d %v %v %v", s.Cookie, s.State, s.Local, s.Remote))
	}
	slices.Sort(out)
	return out
}

// TestDumpSplitSameAsDump: the two halves of a split dump are exactly the
// sockets of one dump, whatever side of mid their ports are on, IPv4 and
// IPv6, listeners, connections and TIME_WAIT.
func TestDumpSplitSameAsDump(t *testing.T) {
	_, ns := nstest.New(t, "tcptop-split")
	const mid = 40000
	splitPopulation(t, ns, mid)
	d, other := newDumper(t, ns), newDumper(t, ns)
	all := source.StateMask(0xfff)
	one, err := d.Dump(all, 0, 64)
	if err != nil {
		t.Fatal(err)
	}
	a := keys(one)
	if len(a) < 40 {
		t.Fatalf("the population: only %d sockets", len(a))
	}
	// The halves share one array sized by the hint: too small for both
	// (each reallocates), for one of them, room to spare.
	for _, hint := range []int{0, 1, 64, len(one) + len(one)/8, 4 * len(one)} {
		two, err := d.DumpSplit(other, mid, all, 0, hint)
		if err != nil {
			t.Fatal(err)
		}
		if b := keys(two); !slices.Equal(a, b) {
			t.Errorf("hint %d: split dump differs from one dump:\none: %v\nsplit: %v", hint, a, b)
		}
	}
	// Each half alone holds what its filter says, and neither is empty.
	for _, xor := range []bool{true, false} {
		d.SetFilter(source.SplitBytecode(mid, xor))
		h, err := d.Dump(all, 0, 64)
		d.SetFilter(nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) == 0 || len(h) == len(one) {
			t.Errorf("xor=%v: %d of %d sockets", xor, len(h), len(one))
		}
		for _, s := range h {
			lp, rp := s.Local.Port() >= mid, s.Remote.Port() >= mid
			if (lp != rp) != xor {
				t.Errorf("xor=%v: %v → %v in this half", xor, s.Local, s.Remote)
			}
		}
	}
	// The states mask still applies to each half.
	est, err := d.DumpSplit(other, mid, source.MaskOf(source.Established), 0, 64)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range est {
		if s.State != source.Established {
			t.Errorf("asked ESTABLISHED, got %v", s.State)
		}
	}
}

// TestFirstReadSplits: a Kernel's first read of a table at least
// splitDumpMin big takes the split path and counts what ss counts.
func TestFirstReadSplits(t *testing.T) {
	name, ns := nstest.New(t, "tcptop-split1")
	splitPopulation(t, ns, 46884)
	defer source.SetSplitDumpMin(1)()
	k, err := source.Open(source.Options{Netns: name})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	want := nstest.SSCounts(t, name)
	s, err := k.Read(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n := source.SplitDumps(k); n != 1 {
		t.Errorf("%d split dumps, want the first read's", n)
	}
	if _, err := k.Read(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := source.SplitDumps(k); n != 1 {
		t.Errorf("%d split dumps after a second read, want 1", n)
	}
	got := map[string]int{}
	for _, so := range s.Sockets {
		got[so.State.String()]++
	}
	for st, n := range want {
		if got[st] != n {
			t.Errorf("%s: %d, ss counts %d (all: %v vs %v)", st, got[st], n, got, want)
		}
	}
}
