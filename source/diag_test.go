package source_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/internal/sscount"
	"github.com/tcptop/tcptop/source"
)

// population is a known set of sockets built inside a namespace by the test.
type population struct {
	t         *testing.T
	ns        *source.Namespace
	closers   []io.Closer
	fds       []int
	fullPort  uint16
	cwConns   []net.Conn // server side, CLOSE_WAIT
	twDest    netip.AddrPort
	estConns  []net.Conn
	listenTW  net.Listener
	listenCW  net.Listener
	listenEst net.Listener
}

const (
	nEst      = 3  // ESTABLISHED pairs
	nCW       = 5  // server sockets left in CLOSE_WAIT
	nTW       = 7  // client-side TIME_WAIT toward one ip:port
	fullBL    = 8  // backlog of the listener that never accepts
	fullConns = 20 // clients connecting to it
)

// wantStates is what the kernel must show for the population.
var wantStates = map[string]int{
	// pairs, plus full-queue clients and their queued children
	"ESTABLISHED": 2*nEst + 2*(fullBL+1),
	"SYN_SENT":    fullConns - (fullBL + 1),
	"CLOSE_WAIT":  nCW,
	"FIN_WAIT2":   nCW,
	"TIME_WAIT":   nTW,
	"LISTEN":      4,
}

func (p *population) do(fn func() error) {
	p.t.Helper()
	if err := p.ns.Do(fn); err != nil {
		p.t.Fatal(err)
	}
}

func (p *population) cleanup() {
	for _, c := range p.closers {
		c.Close()
	}
	for _, fd := range p.fds {
		unix.Close(fd)
	}
}

// build makes the population on addr (127.0.0.1 or ::1) inside ns.
func build(t *testing.T, ns *source.Namespace, addr string) *population {
	p := &population{t: t, ns: ns}
	t.Cleanup(p.cleanup)
	hostport := net.JoinHostPort(addr, "0")
	ip := netip.MustParseAddr(addr)
	p.do(func() error {
		var err error
		// ESTABLISHED pairs.
		if p.listenEst, err = net.Listen("tcp", hostport); err != nil {
			return err
		}
		p.closers = append(p.closers, p.listenEst)
		for range nEst {
			c, s, err := pair(p.listenEst)
			if err != nil {
				return err
			}
			p.closers = append(p.closers, c, s)
			p.estConns = append(p.estConns, s)
		}
		// CLOSE_WAIT: the client closes, the server never does.
		if p.listenCW, err = net.Listen("tcp", hostport); err != nil {
			return err
		}
		p.closers = append(p.closers, p.listenCW)
		for range nCW {
			c, s, err := pair(p.listenCW)
			if err != nil {
				return err
			}
			c.Close()
			p.closers = append(p.closers, s)
			p.cwConns = append(p.cwConns, s)
		}
		// TIME_WAIT on the client: it closes first, the server follows.
		if p.listenTW, err = net.Listen("tcp", hostport); err != nil {
			return err
		}
		p.closers = append(p.closers, p.listenTW)
		p.twDest = p.listenTW.Addr().(*net.TCPAddr).AddrPort()
		p.twDest = netip.AddrPortFrom(p.twDest.Addr().Unmap(), p.twDest.Port())
		for range nTW {
			c, s, err := pair(p.listenTW)
			if err != nil {
				return err
			}
			c.Close()
			s.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := s.Read(make([]byte, 1)); err != io.EOF {
				return fmt.Errorf("server read: want EOF, got %v", err)
			}
			s.Close()
		}
		// A listener with backlog 8 that never accepts, and 20 clients.
		fam := unix.AF_INET
		if ip.Is6() {
			fam = unix.AF_INET6
		}
		lfd, err := unix.Socket(fam, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		p.fds = append(p.fds, lfd)
		if err := unix.Bind(lfd, sockaddr(ip, 0)); err != nil {
			return err
		}
		if err := unix.Listen(lfd, fullBL); err != nil {
			return err
		}
		sa, err := unix.Getsockname(lfd)
		if err != nil {
			return err
		}
		p.fullPort = uint16(port(sa))
		for range fullConns {
			cfd, err := unix.Socket(fam, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			p.fds = append(p.fds, cfd)
			if err := unix.Connect(cfd, sockaddr(ip, int(p.fullPort))); err != nil && !errors.Is(err, unix.EINPROGRESS) {
				return err
			}
		}
		return nil
	})
	return p
}

// pair dials ln and accepts the connection: the client and server ends.
func pair(ln net.Listener) (client, server net.Conn, err error) {
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return nil, nil, err
	}
	server, err = ln.Accept()
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	return client, server, nil
}

func sockaddr(ip netip.Addr, port int) unix.Sockaddr {
	if ip.Is4() {
		return &unix.SockaddrInet4{Addr: ip.As4(), Port: port}
	}
	return &unix.SockaddrInet6{Addr: ip.As16(), Port: port}
}

func port(sa unix.Sockaddr) int {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return a.Port
	case *unix.SockaddrInet6:
		return a.Port
	}
	return 0
}

func newDumper(t *testing.T, ns *source.Namespace) *source.Dumper {
	t.Helper()
	var d *source.Dumper
	if err := ns.Do(func() (err error) { d, err = source.NewDumper(); return }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func countStates(socks []source.Socket) map[string]int {
	m := map[string]int{}
	for _, s := range socks {
		m[s.State.String()]++
	}
	return m
}

// dumpUntil dumps until the state counts equal want (bounded: 5 s).
func dumpUntil(t *testing.T, d *source.Dumper, want map[string]int) []source.Socket {
	t.Helper()
	var socks []source.Socket
	var err error
	for range 100 {
		socks, err = d.Dump(source.AllStatesMask, 0, 64)
		if err != nil {
			t.Fatal(err)
		}
		if sscount.Equal(countStates(socks), want) {
			return socks
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("states never settled: got %v, want %v", countStates(socks), want)
	return nil
}

func inode(t *testing.T, c net.Conn) uint32 {
	t.Helper()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	raw.Control(func(fd uintptr) { err = unix.Fstat(int(fd), &st) })
	if err != nil {
		t.Fatal(err)
	}
	return uint32(st.Ino)
}

func TestDumpMatchesPopulation(t *testing.T) {
	for _, addr := range []string{"127.0.0.1", "::1"} {
		t.Run(addr, func(t *testing.T) {
			name, ns := nstest.New(t, "tcptop-src")
			p := build(t, ns, addr)
			d := newDumper(t, ns)
			socks := dumpUntil(t, d, wantStates)

			if got := nstest.SSCounts(t, name); !sscount.Equal(got, wantStates) {
				t.Errorf("ss -tan counts %v, want %v", got, wantStates)
			}
			wantFam := uint8(unix.AF_INET)
			if addr == "::1" {
				wantFam = unix.AF_INET6
			}
			cookies := map[uint64]bool{}
			byInode := map[uint32]source.Socket{}
			for _, s := range socks {
				if s.Family != wantFam {
					t.Errorf("socket %v: family %d, want %d", s.Local, s.Family, wantFam)
				}
				if s.Cookie == 0 || cookies[s.Cookie] {
					t.Errorf("socket %v -> %v: cookie %d zero or repeated", s.Local, s.Remote, s.Cookie)
				}
				cookies[s.Cookie] = true
				if s.Inode != 0 {
					byInode[s.Inode] = s
				}
			}

			// The full listener: queue backlog+1, backlog 8.
			var full *source.Socket
			for i := range socks {
				if socks[i].State == source.Listen && socks[i].Local.Port() == p.fullPort {
					full = &socks[i]
				}
			}
			if full == nil {
				t.Fatal("full listener not in dump")
			}
			if full.RecvQ != fullBL+1 || full.SendQ != fullBL {
				t.Errorf("full listener queue %d/%d, want %d/%d", full.RecvQ, full.SendQ, fullBL+1, fullBL)
			}

			// CLOSE_WAIT sockets are the server conns the test holds.
			for _, c := range p.cwConns {
				s, ok := byInode[inode(t, c)]
				if !ok {
					t.Fatalf("CLOSE_WAIT conn inode %d not in dump", inode(t, c))
				}
				la := c.LocalAddr().(*net.TCPAddr).AddrPort()
				ra := c.RemoteAddr().(*net.TCPAddr).AddrPort()
				if s.State != source.CloseWait || s.Local != la || s.Remote != ra {
					t.Errorf("CLOSE_WAIT socket = %v %v->%v, want CLOSE_WAIT %v->%v", s.State, s.Local, s.Remote, la, ra)
				}
				if s.UID != uint32(os.Geteuid()) {
					t.Errorf("uid %d, want %d", s.UID, os.Geteuid())
				}
			}
			// TIME_WAIT: toward twDest, no inode, a timer of at most 60 s.
			for _, s := range socks {
				if s.State != source.TimeWait {
					continue
				}
				if s.Remote != p.twDest {
					t.Errorf("TIME_WAIT toward %v, want %v", s.Remote, p.twDest)
				}
				if s.Inode != 0 || s.Timer != 3 || s.Expires == 0 || s.Expires > 60000 {
					t.Errorf("TIME_WAIT socket inode %d timer %d expires %d", s.Inode, s.Timer, s.Expires)
				}
			}
		})
	}
}

func TestDualStackListenerInIPv6Dump(t *testing.T) {
	_, ns := nstest.New(t, "tcptop-dual")
	var ln net.Listener
	var c, s net.Conn
	err := ns.Do(func() (err error) {
		if ln, err = net.Listen("tcp", "[::]:0"); err != nil {
			return err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		if c, err = net.Dial("tcp4", fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
			return err
		}
		s, err = ln.Accept()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	defer c.Close()
	defer s.Close()
	d := newDumper(t, ns)
	socks, err := d.Dump(source.AllStatesMask, 0, 8)
	if err != nil {
		t.Fatal(err)
	}
	ino := inode(t, s)
	for _, sk := range socks {
		if sk.Inode == ino {
			if sk.Family != unix.AF_INET6 || !sk.Local.Addr().Is4In6() {
				t.Errorf("accepted socket family %d local %v, want AF_INET6 ::ffff:127.0.0.1", sk.Family, sk.Local)
			}
			return
		}
	}
	t.Fatalf("accepted IPv4 connection on a dual-stack listener missing from the dump: %v", socks)
}

func TestStateMaskAndExtensions(t *testing.T) {
	_, ns := nstest.New(t, "tcptop-mask")
	p := build(t, ns, "127.0.0.1")
	d := newDumper(t, ns)
	dumpUntil(t, d, wantStates)

	ls, err := d.Dump(source.MaskOf(source.Listen), 0, 8)
	if err != nil {
		t.Fatal(err)
	}
	if got := countStates(ls); !sscount.Equal(got, map[string]int{"LISTEN": 4}) {
		t.Errorf("LISTEN-only dump: %v", got)
	}
	// Orphaned FIN_WAIT2 lives as a timewait socket; asking for FIN_WAIT2
	// alone must still find it, and not return the TIME_WAIT ones.
	fw, err := d.Dump(source.MaskOf(source.FinWait2), 0, 8)
	if err != nil {
		t.Fatal(err)
	}
	if got := countStates(fw); !sscount.Equal(got, map[string]int{"FIN_WAIT2": nCW}) {
		t.Errorf("FIN_WAIT2-only dump: %v", got)
	}
	// Without extensions no tcp_info; with ExtInfo every full socket has it.
	est, err := d.Dump(source.MaskOf(source.Established), source.ExtInfo, 8)
	if err != nil {
		t.Fatal(err)
	}
	if len(est) != wantStates["ESTABLISHED"] {
		t.Fatalf("ESTABLISHED dump: %d sockets", len(est))
	}
	ino := inode(t, p.estConns[0])
	for _, s := range est {
		if s.Info == nil {
			t.Errorf("ESTABLISHED %v without tcp_info", s.Local)
		} else if s.Inode == ino && s.Info.RTT == 0 {
			t.Errorf("tcp_info RTT 0 for an established loopback connection")
		}
	}
	plain, _ := d.Dump(source.MaskOf(source.Established), 0, 8)
	for _, s := range plain {
		if s.Info != nil {
			t.Fatal("tcp_info present without ExtInfo")
		}
	}
}

func TestAttributionAndInference(t *testing.T) {
	_, ns := nstest.New(t, "tcptop-attr")
	p := build(t, ns, "127.0.0.1")
	d := newDumper(t, ns)
	socks := dumpUntil(t, d, wantStates)

	// A child process sharing one CLOSE_WAIT socket: both pids own it.
	f, err := p.cwConns[0].(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command("sleep", "30")
	child.ExtraFiles = []*os.File{f}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	waitAsleep(t, child.Process.Pid)
	shared := inode(t, p.cwConns[0])

	a := source.NewAttributor("/proc")
	procs, _, err := a.Attribute(socks)
	if err != nil {
		t.Fatal(err)
	}
	me := int32(os.Getpid())
	if procs[me] == nil || procs[me].Name == "" || procs[me].Cmdline == "" || procs[me].User != "root" {
		t.Errorf("own process details: %+v", procs[me])
	}
	for _, s := range socks {
		switch {
		case s.Inode == shared:
			if !slices.Contains(s.Owners, me) || !slices.Contains(s.Owners, int32(child.Process.Pid)) || len(s.Owners) != 2 {
				t.Errorf("shared socket owners %v, want %d and %d", s.Owners, me, child.Process.Pid)
			}
		case s.Inode != 0:
			if !slices.Equal(s.Owners, []int32{me}) || s.OwnerInferred {
				t.Errorf("%v %v: owners %v inferred %v, want [%d]", s.State, s.Local, s.Owners, s.OwnerInferred, me)
			}
		case s.State == source.Established:
			// A child in the full listener's accept queue: no file yet;
			// inferred from the listener.
			if !slices.Equal(s.Owners, []int32{me}) || !s.OwnerInferred {
				t.Errorf("queued child %v: owners %v inferred %v", s.Local, s.Owners, s.OwnerInferred)
			}
		}
	}
	if procs[int32(child.Process.Pid)] == nil || procs[int32(child.Process.Pid)].Name != "sleep" {
		t.Errorf("child process details: %+v", procs[int32(child.Process.Pid)])
	}
	// Open files and RLIMIT_NOFILE, against what the process itself says.
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if procs[me].FDLimit != int64(lim.Cur) {
		t.Errorf("own FDLimit %d, want %d", procs[me].FDLimit, lim.Cur)
	}
	if ents, err := os.ReadDir("/proc/self/fd"); err != nil {
		t.Fatal(err)
	} else if got := procs[me].FDs; got < len(ents)-8 || got > len(ents)+8 || got < len(p.cwConns) {
		t.Errorf("own FDs %d, /proc/self/fd has %d", got, len(ents))
	}
	// sleep does not open files: its count is exactly its fd directory's.
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", child.Process.Pid)); err != nil {
		t.Fatal(err)
	} else if got := procs[int32(child.Process.Pid)].FDs; got != len(ents) || got < 4 {
		t.Errorf("child FDs %d, want %d (stdio and the shared socket at least)", got, len(ents))
	}

	// An established pair closes, client first: the client's TIME_WAIT is
	// inferred from the same 4-tuple seen in the previous poll.
	c := p.estConns[0]
	peer := c.RemoteAddr().(*net.TCPAddr).AddrPort() // the client end
	var client net.Conn
	for _, cl := range p.closers {
		if nc, ok := cl.(net.Conn); ok && nc.LocalAddr().(*net.TCPAddr).AddrPort() == peer {
			client = nc
		}
	}
	if client == nil {
		t.Fatal("client end of the pair not found")
	}
	client.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("want EOF, got %v", err)
	}
	c.Close()
	want := map[string]int{}
	for k, v := range wantStates {
		want[k] = v
	}
	want["ESTABLISHED"] -= 2
	want["TIME_WAIT"]++
	socks = dumpUntil(t, d, want)
	if _, _, err := a.Attribute(socks); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range socks {
		if s.State == source.TimeWait && s.Local == peer {
			found = true
			if !slices.Equal(s.Owners, []int32{me}) || !s.OwnerInferred {
				t.Errorf("TIME_WAIT from a known 4-tuple: owners %v inferred %v", s.Owners, s.OwnerInferred)
			}
		}
	}
	if !found {
		t.Fatal("closed pair's TIME_WAIT not in dump")
	}
}

func TestServerSideTimeWaitInferredFromListener(t *testing.T) {
	_, ns := nstest.New(t, "tcptop-twsrv")
	var ln net.Listener
	const n = 4
	err := ns.Do(func() (err error) {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return err
		}
		for range n {
			c, s, err := pair(ln)
			if err != nil {
				return err
			}
			s.Close() // the server closes first: TIME_WAIT on the server
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			c.Read(make([]byte, 1))
			c.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d := newDumper(t, ns)
	socks := dumpUntil(t, d, map[string]int{"LISTEN": 1, "TIME_WAIT": n})
	a := source.NewAttributor("/proc") // no history: only the listener can tell
	if _, _, err := a.Attribute(socks); err != nil {
		t.Fatal(err)
	}
	lport := uint16(ln.Addr().(*net.TCPAddr).Port)
	for _, s := range socks {
		if s.State != source.TimeWait {
			continue
		}
		if s.Local.Port() != lport {
			t.Errorf("server TIME_WAIT on port %d, want %d", s.Local.Port(), lport)
		}
		if !slices.Equal(s.Owners, []int32{int32(os.Getpid())}) || !s.OwnerInferred {
			t.Errorf("server TIME_WAIT owners %v inferred %v", s.Owners, s.OwnerInferred)
		}
	}
}

func TestOpenNamespaceErrors(t *testing.T) {
	if _, err := source.OpenNamespace("tcptop-no-such-ns"); err == nil || !errors.Is(err, os.ErrNotExist) && err.Error() == "" {
		t.Fatalf("missing namespace: %v", err)
	} else if got := err.Error(); got != `network namespace "tcptop-no-such-ns" not found (/var/run/netns/tcptop-no-such-ns does not exist; see `+"`ip netns list`)" {
		t.Errorf("error = %q", got)
	}
	if _, err := source.OpenNamespace("/etc/hostname"); err == nil {
		t.Fatal("a plain file accepted as a namespace")
	}
}

func TestKernelReadOwnNamespace(t *testing.T) {
	name, _ := nstest.New(t, "tcptop-kern")
	k, err := source.Open(source.Options{Netns: name, Attribute: true})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	s, err := k.Read(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s.Netns != name || len(s.Sockets) != 0 || !s.Attributed {
		t.Errorf("empty namespace sample: netns %q, %d sockets, attributed %v", s.Netns, len(s.Sockets), s.Attributed)
	}
	if !s.Sysctl.PortRangeParsed || s.Sysctl.Somaxconn == 0 {
		t.Errorf("sysctls not read inside the namespace: %+v", s.Sysctl)
	}
	if _, ok := s.Counters["ListenOverflows"]; !ok {
		t.Errorf("counters not read: %v", s.Counters)
	}
}

// TestRecordDumps records the raw netlink datagrams of dumps of the test
// population (IPv4 and IPv6) into testdata/netlink for the parser's golden
// and fuzz tests. It runs only with -update.
func TestRecordDumps(t *testing.T) {
	if !source.Update() {
		t.Skip("records fixtures only with -update")
	}
	for _, c := range []struct{ addr, file string }{{"127.0.0.1", "population-v4"}, {"::1", "population-v6"}} {
		_, ns := nstest.New(t, "tcptop-rec")
		build(t, ns, c.addr)
		d := newDumper(t, ns)
		dumpUntil(t, d, wantStates)
		var rec []byte
		source.SetTap(d, func(b []byte) {
			rec = binary.LittleEndian.AppendUint32(rec, uint32(len(b)))
			rec = append(rec, b...)
		})
		if _, err := d.Dump(source.AllStatesMask, source.ExtInfo, 64); err != nil {
			t.Fatal(err)
		}
		source.SetTap(d, nil)
		if err := os.MkdirAll("../testdata/netlink", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("../testdata/netlink/"+c.file+".bin", rec, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// waitAsleep waits until process pid sleeps in the kernel (its wchan a
// nanosleep): a sleep(1) just started may still be in its dynamic loader,
// with a library open, which the fd count would see (failed under -race:
// "child FDs 7, want 6").
func waitAsleep(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/wchan", pid))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("nanosleep")) {
			return
		}
		if len(b) == 0 || string(b) == "0" { // wchan hidden: settle instead
			time.Sleep(200 * time.Millisecond)
			return
		}
	}
	t.Fatalf("process %d never went to sleep", pid)
}
