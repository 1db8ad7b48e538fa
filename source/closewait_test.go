package source_test

import (
	"context"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/source"
)

// CLOSE_WAIT sockets get the kernel's time since the peer's last segment
// (tcp_info) once a dump holds CloseWaitInfo of them: a lower bound of
// their time in CLOSE_WAIT, known at the first look.
func TestCloseWaitAgesFromTheKernel(t *testing.T) {
	name, ns := nstest.New(t, "tcptop-cwage")
	var ln net.Listener
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
		if ln != nil {
			ln.Close()
		}
	})
	err := ns.Do(func() error {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return err
		}
		for range 3 {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				return err
			}
			s, err := ln.Accept()
			if err != nil {
				return err
			}
			c.Close() // the peer's FIN: s is in CLOSE_WAIT from now
			held = append(held, s)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	closed := time.Now()
	time.Sleep(1500 * time.Millisecond)

	read := func(min int) *source.Sample {
		k, err := source.Open(source.Options{Netns: name, CloseWaitInfo: min})
		if err != nil {
			t.Fatal(err)
		}
		defer k.Close()
		s, err := k.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := read(3)
	n := 0
	for _, sk := range s.Sockets {
		if sk.State != source.CloseWait {
			continue
		}
		n++
		if sk.Info == nil {
			t.Fatalf("CLOSE_WAIT %v has no tcp_info", sk.Local)
		}
		age := time.Duration(sk.Info.LastAckRecv) * time.Millisecond
		if age < 1400*time.Millisecond || age > time.Since(closed)+100*time.Millisecond {
			t.Errorf("CLOSE_WAIT %v: %v since the peer's last segment, want about %v", sk.Remote, age, time.Since(closed))
		}
	}
	if n != 3 {
		t.Fatalf("%d CLOSE_WAIT sockets, want 3", n)
	}
	// Fewer than asked for: no second dump, no tcp_info.
	for _, sk := range read(4).Sockets {
		if sk.State == source.CloseWait && sk.Info != nil {
			t.Errorf("tcp_info asked for 3 CLOSE_WAIT sockets with a minimum of 4")
		}
	}
}

// A reader asks tcp_info again only when CloseWaitInfo of its CLOSE_WAIT
// sockets are new since the last ask; the others keep a lower bound that
// grows with the time since.
func TestCloseWaitInfoCarried(t *testing.T) {
	name, ns := nstest.New(t, "tcptop-cwcarry")
	var ln net.Listener
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
		if ln != nil {
			ln.Close()
		}
	})
	closeWait := func(n int) error {
		return ns.Do(func() error {
			for range n {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					return err
				}
				s, err := ln.Accept()
				if err != nil {
					return err
				}
				c.Close()
				held = append(held, s)
			}
			return nil
		})
	}
	if err := ns.Do(func() (err error) { ln, err = net.Listen("tcp", "127.0.0.1:0"); return err }); err != nil {
		t.Fatal(err)
	}
	if err := closeWait(3); err != nil {
		t.Fatal(err)
	}
	k, err := source.Open(source.Options{Netns: name, CloseWaitInfo: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	ages := func() (map[uint64]time.Duration, int) {
		s, err := k.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		m, none := map[uint64]time.Duration{}, 0
		for _, sk := range s.Sockets {
			if sk.State != source.CloseWait {
				continue
			}
			if sk.Info == nil {
				none++
				continue
			}
			m[sk.Cookie] = time.Duration(sk.Info.LastAckRecv) * time.Millisecond
		}
		return m, none
	}
	first, _ := ages()
	if len(first) != 3 {
		t.Fatalf("first read: %d CLOSE_WAIT with tcp_info, want 3", len(first))
	}
	time.Sleep(700 * time.Millisecond)
	if err := closeWait(1); err != nil { // one new: under the minimum of 3 new
		t.Fatal(err)
	}
	second, none := ages()
	if len(second) != 3 || none != 1 {
		t.Fatalf("second read: %d carried, %d without tcp_info; want 3 and the new one without", len(second), none)
	}
	for c, a := range first {
		if d := second[c] - a; d < 600*time.Millisecond || d > 2*time.Second {
			t.Errorf("cookie %x: carried age grew by %v over ~700ms", c, d)
		}
	}
	if err := closeWait(2); err != nil { // now 3 new since the last ask: a new dump
		t.Fatal(err)
	}
	third, none := ages()
	if len(third) != 6 || none != 0 {
		t.Fatalf("third read: %d with tcp_info, %d without; want all 6", len(third), none)
	}
}

// cwPopulation makes, in ns, est ESTABLISHED connections and cw server
// sockets in CLOSE_WAIT (their clients closed), all kept open until the
// test ends.
func cwPopulation(t *testing.T, ns *source.Namespace, est, cw int) {
	t.Helper()
	cwPopulationAt(t, ns, "127.0.0.1:0", est, cw)
}

// cwPopulationAt is cwPopulation with its listener at addr ("[::1]:0"
// for IPv6).
func cwPopulationAt(t *testing.T, ns *source.Namespace, addr string, est, cw int) {
	t.Helper()
	var held []io.Closer
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	err := ns.Do(func() error {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		held = append(held, ln)
		for i := range est + cw {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				return err
			}
			s, err := ln.Accept()
			if err != nil {
				return err
			}
			held = append(held, s)
			if i < cw {
				c.Close() // the peer's FIN: s is in CLOSE_WAIT from now
			} else {
				held = append(held, c)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// cwInfos is the tcp_info of socks' CLOSE_WAIT sockets by cookie (nil
// where there is none).
func cwInfos(socks []source.Socket) map[uint64]*source.TCPInfo {
	m := map[uint64]*source.TCPInfo{}
	for _, sk := range socks {
		if sk.State == source.CloseWait {
			m[sk.Cookie] = sk.Info
		}
	}
	return m
}

// sameInfo compares two tcp_infos of one idle socket taken apart by at
// most gap: equal but for the times since the last segments, which grow
// by at most gap between them, give or take one tick of the kernel's
// clock (they are jiffies turned into ms: 10 ms at HZ=100).
func sameInfo(a, b source.TCPInfo, gap time.Duration) bool {
	const tick = 10
	within := func(x, y uint32) bool {
		d := int64(y) - int64(x)
		return d >= -gap.Milliseconds()-tick && d <= gap.Milliseconds()+tick
	}
	if !within(a.LastAckRecv, b.LastAckRecv) || !within(a.LastDataRecv, b.LastDataRecv) || !within(a.LastDataSent, b.LastDataSent) {
		return false
	}
	a.LastAckRecv, a.LastDataRecv, a.LastDataSent = 0, 0, 0
	b.LastAckRecv, b.LastDataRecv, b.LastDataSent = 0, 0, 0
	return a == b
}

// The CLOSE_WAIT sockets' tcp_info asked by exact requests, on one socket
// or shared with a second one, is what a dump masked to CLOSE_WAIT gives
// (the way for many of them), on a namespace of 300 connections and 40
// CLOSE_WAIT sockets; and a Read gives it to every CLOSE_WAIT socket, the
// next Read carrying it.
func TestCloseWaitExactSameAsDump(t *testing.T) {
	name, ns := nstest.New(t, "tcptop-cwexact")
	cwPopulation(t, ns, 300, 40)
	time.Sleep(300 * time.Millisecond)
	open := func() *source.Kernel {
		k, err := source.Open(source.Options{Netns: name, CloseWaitInfo: 10})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { k.Close() })
		return k
	}
	// One dump without tcp_info, given it by each way in turn.
	plain, err := source.Open(source.Options{Netns: name, CloseWaitInfo: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	s, err := plain.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(cwInfos(s.Sockets)); n != 40 {
		t.Fatalf("%d CLOSE_WAIT sockets, want 40", n)
	}
	age := func(restore func()) (map[uint64]*source.TCPInfo, time.Time) {
		t.Helper()
		defer restore()
		socks := slices.Clone(s.Sockets)
		at := time.Now()
		if err := source.AgeCloseWait(open(), socks); err != nil {
			t.Fatal(err)
		}
		return cwInfos(socks), at
	}
	a, t0 := age(func() {})                           // exact requests, one socket
	split, _ := age(source.SetInfoSplitMin(2))        // shared with a second socket
	dumped, _ := age(source.SetCloseWaitExactMax(39)) // a masked dump
	gap := time.Since(t0)
	for name, b := range map[string]map[uint64]*source.TCPInfo{"two sockets": split, "masked dump": dumped} {
		for c, ia := range a {
			ib := b[c]
			if ia == nil || ib == nil {
				t.Fatalf("cookie %x: tcp_info by exact requests %v, by %s %v", c, ia != nil, name, ib != nil)
			}
			if !sameInfo(*ia, *ib, gap) {
				t.Errorf("cookie %x: by %s %+v, by exact requests %+v (taken %v apart)", c, name, *ib, *ia, gap)
			}
		}
	}
	k := open()
	for i := range 2 {
		s, err := k.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		gap := time.Since(t0)
		r := cwInfos(s.Sockets)
		if len(r) != len(a) {
			t.Fatalf("read %d: %d CLOSE_WAIT, want %d", i, len(r), len(a))
		}
		for c, ia := range a {
			if r[c] == nil || !sameInfo(*ia, *r[c], gap) {
				t.Errorf("read %d, cookie %x: %+v, want %+v give or take %v", i, c, r[c], *ia, gap)
			}
		}
	}
}
