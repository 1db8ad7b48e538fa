package main

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/source"
)

// TestKillAlreadyGone: a socket that vanishes between the listing and the
// destroy (its owner closes it) is reported "already gone", the others
// destroyed, and the run exits 0 (runKill returns nil).
func TestKillAlreadyGone(t *testing.T) {
	name, ns := nstest.New(t, "tcptop-killgone")
	port, cw := killPopulation(t, ns)
	c := config{netns: name}
	c.act = actionFlags{kill: "state:CLOSE_WAIT port:" + strconv.Itoa(port), killSet: true, yes: true}
	if err := c.act.check(&c); err != nil {
		t.Fatal(err)
	}
	var listed int
	beforeDestroy = func(socks []source.Socket) {
		listed = len(socks)
		// The owner closes the first one: LAST_ACK, then gone once the
		// peer's ACK comes back (at once on loopback).
		gone := socks[0].Cookie
		for _, conn := range cw {
			if conn.LocalAddr().String() == socks[0].Local.String() && conn.RemoteAddr().String() == socks[0].Remote.String() {
				conn.Close()
			}
		}
		for range 100 {
			if !alive(t, name, gone) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Errorf("socket %s did not go away", socks[0].ID())
	}
	t.Cleanup(func() { beforeDestroy = nil })
	var out, errOut bytes.Buffer
	if err := runKill(c, &out, &errOut); err != nil {
		t.Fatalf("runKill: %v (exit 0 wanted)\n%s%s", err, out.String(), errOut.String())
	}
	if listed != 3 {
		t.Fatalf("listed %d sockets, want 3:\n%s", listed, out.String())
	}
	s := out.String()
	if strings.Count(s, "already gone: ") != 1 || strings.Count(s, "destroyed: ") != 2 || !strings.Contains(s, "2 destroyed, 1 already gone") {
		t.Errorf("report:\n%s", s)
	}
}

// alive reports whether the namespace still has a socket with the cookie.
func alive(t *testing.T, ns string, cookie uint64) bool {
	t.Helper()
	k, err := source.Open(source.Options{Netns: ns})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	ex, err := k.Exact()
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	socks, err := ex.Dump(source.AllStatesMask, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range socks {
		if socks[i].Cookie == cookie {
			return true
		}
	}
	return false
}
