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
