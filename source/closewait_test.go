package source_test

import (
	"context"
	"net"
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
