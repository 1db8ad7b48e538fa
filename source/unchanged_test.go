package source_test

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/source"
)

// Partial.Unchanged is true while nothing became ESTABLISHED or left it
// since the full read, and false from the poll that sees a connection
// opened or closed until the next full read.
func TestPartialUnchanged(t *testing.T) {
	k, ns := cwReader(t, "tcptop-unch", 10, 0)
	ctx := context.Background()
	partial := func(what string, want bool) {
		t.Helper()
		s, err := k.ReadPartial(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.Partial == nil || s.Partial.Unchanged != want {
			t.Fatalf("%s: Partial %+v, want Unchanged %v", what, s.Partial, want)
		}
	}
	full := func() {
		t.Helper()
		if _, err := k.Read(ctx); err != nil {
			t.Fatal(err)
		}
	}
	full()
	partial("nothing moved", true)
	partial("nothing moved, again", true)

	conns := nstest.NewConns(t, ns)
	conns.Dial(1)
	partial("a connection opened", false)
	partial("still not the full read's", false)
	full()
	partial("after the full read", true)
	conns.Held[0].Close() // its peer goes to CLOSE_WAIT: two sockets left ESTABLISHED
	partial("a connection closed", false)
	full()
	partial("after the full read", true)
	// A refused connect opens nothing but counts ActiveOpens: a change as
	// far as the counters can tell.
	if err := ns.Do(func() error {
		c, err := net.Dial("tcp", "127.0.0.1:1")
		if err == nil {
			c.Close()
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	partial("a refused connect", false)
}

// A socket that was connecting at the full read (SYN_SENT: its connect()
// counted before) and becomes ESTABLISHED while another one leaves (a
// reset) moves no open counter and leaves the ESTABLISHED count the
// same: only the opening sockets followed by cookie tell.
func TestPartialUnchangedFollowsOpeningSockets(t *testing.T) {
	aName, a, _, b := vethPair(t)
	const port = 7000
	var lfd, c1, c2 = -1, -1, -1
	t.Cleanup(func() {
		for _, fd := range []int{lfd, c1, c2} {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
	})
	// In b a listener whose accept queue holds one (backlog 0): a second
	// client's SYNs are dropped while the first waits to be accepted.
	if err := b.Do(func() error {
		var err error
		if lfd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0); err != nil {
			return err
		}
		if err := unix.Bind(lfd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{10, 77, 0, 2}}); err != nil {
			return err
		}
		return unix.Listen(lfd, 0)
	}); err != nil {
		t.Fatal(err)
	}
	server := &unix.SockaddrInet4{Port: port, Addr: [4]byte{10, 77, 0, 2}}
	if err := a.Do(func() error {
		var err error
		if c1, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0); err != nil {
			return err
		}
		if err := unix.Connect(c1, server); err != nil {
			return err
		}
		if c2, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0); err != nil {
			return err
		}
		if err := unix.Connect(c2, server); err != unix.EINPROGRESS {
			t.Errorf("second connect: %v, want EINPROGRESS", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	k, err := source.Open(source.Options{Netns: aName})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	ctx := context.Background()
	s0, err := k.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := countState(s0, source.SynSent); n != 1 || countState(s0, source.Established) != 1 {
		t.Fatalf("full read: %d SYN_SENT and %d ESTABLISHED, want 1 and 1", n, countState(s0, source.Established))
	}
	s1, err := k.ReadPartial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !s1.Partial.Unchanged {
		t.Fatalf("nothing moved yet: Partial %+v, want Unchanged", s1.Partial)
	}
	// c1 leaves with a reset; its server side is accepted, which makes
	// room for c2's next SYN.
	if err := unix.SetsockoptLinger(c1, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}); err != nil {
		t.Fatal(err)
	}
	unix.Close(c1)
	c1 = -1
	if err := b.Do(func() error {
		fd, _, err := unix.Accept(lfd)
		if err == nil {
			unix.Close(fd)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var s2 *source.Sample
	for deadline := time.Now().Add(15 * time.Second); ; {
		if s2, err = k.ReadPartial(ctx); err != nil {
			t.Fatal(err)
		}
		if countState(s2, source.SynSent) == 0 && s2.Partial.Established == 1 {
			break // c2 is ESTABLISHED
		}
		if time.Now().After(deadline) {
			t.Fatalf("c2 did not connect: %d SYN_SENT, %d ESTABLISHED by the counter", countState(s2, source.SynSent), s2.Partial.Established)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, c := range []string{"ActiveOpens", "PassiveOpens"} {
		if s2.Counters[c] != s0.Counters[c] {
			t.Fatalf("%s moved (%d -> %d): this test would not test the opening sockets", c, s0.Counters[c], s2.Counters[c])
		}
	}
	if s2.Partial.Established != s2.Partial.Carried {
		t.Fatalf("ESTABLISHED %d, carried %d: this test would not test the opening sockets", s2.Partial.Established, s2.Partial.Carried)
	}
	if s2.Partial.Unchanged {
		t.Errorf("a connecting socket became ESTABLISHED and another left: Partial %+v, want not Unchanged", s2.Partial)
	}
}

func countState(s *source.Sample, st source.State) int {
	n := 0
	for _, sk := range s.All() {
		if sk.State == st {
			n++
		}
	}
	return n
}

// A full read on the dump schedule (after a partial one) puts its
// ESTABLISHED sockets first and apart, in Carried, in their order, and
// the partial reads after it carry that very slice; a first full read
// (a one-shot) is one list.
func TestFullReadPutsEstablishedApart(t *testing.T) {
	k, _ := cwReader(t, "tcptop-apart", 15, 3)
	ctx := context.Background()
	first, err := k.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if first.Carried != nil {
		t.Fatalf("the first full read put %d sockets apart", len(first.Carried))
	}
	p1, err := k.ReadPartial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p1Flat := p1.Flat()
	full, err := k.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(full.Carried) != 30 || cap(full.Carried) != len(full.Carried) || full.Partial != nil {
		t.Fatalf("scheduled full read: %d apart (cap %d), Partial %+v; want the 30 ESTABLISHED", len(full.Carried), cap(full.Carried), full.Partial)
	}
	for _, sk := range full.Carried {
		if sk.State != source.Established {
			t.Fatalf("%v %v put apart", sk.State, sk.Local)
		}
	}
	if n := countState(full, source.CloseWait); n != 3 || countState(full, source.Listen) != 1 || full.NumSockets() != 37 {
		t.Fatalf("scheduled full read: %d sockets, %d CLOSE_WAIT; want 37 (30 ESTABLISHED, 3 CLOSE_WAIT and their 3 FIN_WAIT2, the listener) and 3", full.NumSockets(), n)
	}
	for _, sk := range full.Sockets {
		if sk.State == source.Established {
			t.Fatalf("ESTABLISHED %v left among the others", sk.Local)
		}
	}
	p2, err := k.ReadPartial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(p2.Carried) != 30 || &p2.Carried[0] != &full.Carried[0] {
		t.Errorf("the partial read after it does not carry the full sample's own slice")
	}
	if !reflect.DeepEqual(p1.Flat(), p1Flat) {
		t.Errorf("an earlier partial sample changed")
	}
}

// TestScheduledFirstReadPutsEstablishedApart: a reader opened for a dump
// schedule (Options.Scheduled) puts its first full read's ESTABLISHED
// sockets apart, as a full read after a partial one does, and the first
// partial read shares them; the same sockets as an unscheduled reader's
// first read, which stays one list.
func TestScheduledFirstReadPutsEstablishedApart(t *testing.T) {
	name, ns := nstest.New(t, "tcptop-apart1")
	cwPopulation(t, ns, 15, 3)
	open := func(scheduled bool) *source.Kernel {
		k, err := source.Open(source.Options{Netns: name, Scheduled: scheduled})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { k.Close() })
		return k
	}
	ctx := context.Background()
	plain, err := open(false).Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if plain.Carried != nil {
		t.Fatalf("an unscheduled first read put %d sockets apart", len(plain.Carried))
	}
	k := open(true)
	first, err := k.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Carried) != 30 || cap(first.Carried) != 30 {
		t.Fatalf("scheduled first read: %d apart (cap %d), want the 30 ESTABLISHED", len(first.Carried), cap(first.Carried))
	}
	for _, sk := range first.Carried {
		if sk.State != source.Established {
			t.Fatalf("%v %v put apart", sk.State, sk.Local)
		}
	}
	for _, sk := range first.Sockets {
		if sk.State == source.Established {
			t.Fatalf("ESTABLISHED %v left among the others", sk.Local)
		}
	}
	// The same sockets (the closing pairs may move on between two reads:
	// FIN_WAIT1 to FIN_WAIT2; ESTABLISHED ones stay).
	key := func(s *source.Sample) []string {
		var out []string
		for _, sk := range s.All() {
			k := fmt.Sprintf("%d %v %v", sk.Cookie, sk.Local, sk.Remote)
			if sk.State == source.Established {
				k += " ESTABLISHED"
			}
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	if a, b := key(plain), key(first); !slices.Equal(a, b) {
		t.Errorf("the scheduled first read's sockets differ:\n%v\n%v", b, a)
	}
	p, err := k.ReadPartial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Carried) != 30 || &p.Carried[0] != &first.Carried[0] {
		t.Errorf("the first partial read does not carry the first read's own slice")
	}
}

// cwReader is a reader of a new namespace holding cwPopulation(est, cw),
// closed when the test ends.
func cwReader(t *testing.T, prefix string, est, cw int) (*source.Kernel, *source.Namespace) {
	t.Helper()
	name, ns := nstest.New(t, prefix)
	cwPopulation(t, ns, est, cw)
	k, err := source.Open(source.Options{Netns: name})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k, ns
}

// Full reads one after another (the monitor showing a drill-down) stay
// one list: only the full read right after a partial one puts its
// ESTABLISHED sockets apart.
func TestFullReadsInARowStayOneList(t *testing.T) {
	k, _ := cwReader(t, "tcptop-inarow", 5, 0)
	ctx := context.Background()
	for i, partial := range []bool{false, true, false, false, true, false} {
		read := k.Read
		if partial {
			read = k.ReadPartial
		}
		s, err := read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		apart := s.Partial == nil && s.Carried != nil
		if want := i == 2 || i == 5; apart != want {
			t.Errorf("read %d (partial %v): ESTABLISHED put apart %v, want %v", i, partial, apart, want)
		}
	}
}
