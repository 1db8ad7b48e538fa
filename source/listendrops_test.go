package source_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/source"
)

// listenNoAccept makes a listener with a backlog of 1 that never accepts,
// inside the namespace (the caller runs it in ns.Do), closed at cleanup.
func listenNoAccept(t *testing.T, sa unix.Sockaddr) error {
	fam := unix.AF_INET
	if _, ok := sa.(*unix.SockaddrInet6); ok {
		fam = unix.AF_INET6
	}
	fd, err := unix.Socket(fam, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, sa); err != nil {
		return err
	}
	return unix.Listen(fd, 1)
}

// connectN starts n non-blocking connects to sa (inside the namespace),
// closed at cleanup.
func connectN(t *testing.T, sa unix.Sockaddr, n int) error {
	fam := unix.AF_INET
	if _, ok := sa.(*unix.SockaddrInet6); ok {
		fam = unix.AF_INET6
	}
	for range n {
		fd, err := unix.Socket(fam, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		t.Cleanup(func() { unix.Close(fd) })
		if err := unix.Connect(fd, sa); err != nil && err != unix.EINPROGRESS {
			return err
		}
	}
	return nil
}

// TestListenerDrops (issue 19's acceptance, without eBPF): a listener
// overflowing while another listener in the same namespace stays idle:
// the drops are on the full one, read from its own sk_drops
// (INET_DIAG_SKMEMINFO on the LISTEN dump), and the listeners' drops add
// up to the namespace's ListenDrops exactly (a fresh namespace's counters
// start at 0). An IPv6 listener overflows too where the namespace has
// ::1.
func TestListenerDrops(t *testing.T) {
	name, ns := nstest.New(t, "tcptop-ldrops")
	lo4 := [4]byte{127, 0, 0, 1}
	full := &unix.SockaddrInet4{Port: 7000, Addr: lo4}
	idle := &unix.SockaddrInet4{Port: 7001, Addr: lo4}
	full6 := &unix.SockaddrInet6{Port: 7002, Addr: netip.IPv6Loopback().As16()}
	v6 := true
	err := ns.Do(func() error {
		for _, sa := range []unix.Sockaddr{full, idle} {
			if err := listenNoAccept(t, sa); err != nil {
				return err
			}
		}
		if err := listenNoAccept(t, full6); err != nil {
			t.Logf("no IPv6 listener (%v): IPv4 only", err)
			v6 = false
		}
		if err := connectN(t, full, 8); err != nil {
			return err
		}
		if v6 {
			return connectN(t, full6, 5)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	k, err := source.Open(source.Options{Netns: name})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	ap := func(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
	var got map[netip.AddrPort]*source.Socket
	var s *source.Sample
	deadline := time.Now().Add(5 * time.Second)
	for {
		if s, err = k.Read(context.Background()); err != nil {
			t.Fatal(err)
		}
		got = map[netip.AddrPort]*source.Socket{}
		var sum int64
		for i := range s.Sockets {
			sk := &s.Sockets[i]
			if sk.State != source.Listen {
				continue
			}
			got[sk.Local] = sk
			if !sk.DropsKnown {
				t.Fatalf("listener %v has no drop counter", sk.Local)
			}
			sum += int64(sk.Drops)
		}
		// The SYNs the full queues refused: 8-2 (a backlog of 1 holds
		// two), 5-2 for IPv6. Retransmitted SYNs add to them later.
		enough := got[ap("127.0.0.1:7000")] != nil && got[ap("127.0.0.1:7000")].Drops >= 6
		if v6 {
			enough = enough && got[ap("[::1]:7002")] != nil && got[ap("[::1]:7002")].Drops >= 3
		}
		if enough && sum == s.Counters["ListenDrops"] {
			t.Logf("drops %d; ListenDrops %d, ListenOverflows %d", sum, s.Counters["ListenDrops"], s.Counters["ListenOverflows"])
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("drops: %d on the full listener, %d in all; ListenDrops %d: %+v", got[ap("127.0.0.1:7000")].Drops, sum, s.Counters["ListenDrops"], got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if i := got[ap("127.0.0.1:7001")]; i == nil || i.Drops != 0 {
		t.Errorf("the idle listener: %+v, want 0 drops", i)
	}
	if o := s.Counters["ListenOverflows"]; o < 6 {
		t.Errorf("ListenOverflows %d: the drops were not accept-queue overflows", o)
	}
	// A dump without LISTEN asks nothing more.
	k2, err := source.Open(source.Options{Netns: name, States: source.MaskOf(source.SynSent)})
	if err != nil {
		t.Fatal(err)
	}
	defer k2.Close()
	s2, err := k2.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, sk := range s2.Sockets {
		if sk.State == source.Listen || sk.DropsKnown {
			t.Errorf("a SYN_SENT-only dump returned %v with drops known %v", sk.State, sk.DropsKnown)
		}
	}
}
