package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcptop/tcptop/internal/nstest"
)

// sortPopulation makes, inside ns and owned by this test process, a
// listener, one connection made first (the oldest pair) and then n more,
// one of whose accepted ends has recvQ unread bytes waiting. It returns
// the oldest pair's accepted end and the one with the bytes.
func sortPopulation(t *testing.T, ns interface{ Do(func() error) error }, ln *net.Listener, n, recvQ int, before func()) (old, full net.Conn) {
	t.Helper()
	var closers []io.Closer
	t.Cleanup(func() {
		for _, c := range closers {
			c.Close()
		}
	})
	pair := func() (net.Conn, net.Conn, error) {
		c, err := net.Dial("tcp", (*ln).Addr().String())
		if err != nil {
			return nil, nil, err
		}
		s, err := (*ln).Accept()
		if err != nil {
			return nil, nil, err
		}
		closers = append(closers, c, s)
		return c, s, nil
	}
	err := ns.Do(func() error {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		*ln = l
		closers = append(closers, l)
		_, old, err = pair()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	before()
	err = ns.Do(func() error {
		for i := range n {
			c, s, err := pair()
			if err != nil {
				return fmt.Errorf("connection %d: %w", i, err)
			}
			if i == n/2 {
				full = s
				if _, err := c.Write(make([]byte, recvQ)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return old, full
}

// TestSocketSortInTmux: a process with 10,001 sockets (a listener and
// 5,000 connections, both ends); its socket list sorted by age puts the
// connection that was there first on top, by Recv-Q the one socket with
// unread bytes; Enter opens the detail on the top row at 80x24, with the
// owner's fd number.
func TestSocketSortInTmux(t *testing.T) {
	tcptop, _ := bins(t)
	name, ns := nstest.New(t, "tcptop-sort")
	const conns, recvQ = 4999, 777
	var ln net.Listener
	var sess *tmuxSession
	old, full := sortPopulation(t, ns, &ln, conns, recvQ, func() {
		sess = newTmux(t, 80, 24, "env TERM=xterm-256color LANG=C.UTF-8 "+tcptop+" --netns "+name+" --interval 500ms; sleep 60")
		sess.waitFor("the first snapshot", func(s string) bool { return strings.Contains(s, "PEERS") && strings.Contains(s, "127.0.0.1") })
		time.Sleep(1500 * time.Millisecond) // the oldest pair ages
	})
	pid := strconv.Itoa(os.Getpid())
	sess.keys("Tab")
	sess.waitFor("this process on top of the processes", func(s string) bool {
		rows := tableRows(s)
		return strings.Contains(s, "PROCESSES") && len(rows) > 0 && strings.HasPrefix(rows[0], pid+" ") && strings.Contains(rows[0], "10,001")
	})
	sess.keys("Enter")
	sess.waitFor("its 10,001 sockets", func(s string) bool { return strings.Contains(s, "10,001 rows") || strings.Contains(s, "/10,001") })

	// By age: the pair made before the others (either end).
	oldL, oldR := old.LocalAddr().String(), old.RemoteAddr().String()
	isOld := func(row string) bool {
		f := strings.Fields(row)
		return len(f) >= 2 && ((f[0] == oldL && f[1] == oldR) || (f[0] == oldR && f[1] == oldL))
	}
	sess.text(">")
	screen := sess.waitFor("the oldest pair on top (sort by age)", func(s string) bool {
		rows := tableRows(s)
		return len(rows) > 1 && isOld(rows[0]) && isOld(rows[1])
	})
	top := tableRows(screen)[0]
	f := strings.Fields(top)
	// The detail, with the owner's fd number (the accepted end's is
	// known here).
	fdWant := regexp.MustCompile(`\[` + pid + `\] fd \d+`)
	if f[0] == oldL {
		fdWant = regexp.MustCompile(`\[` + pid + `\] fd ` + strconv.Itoa(connFD(t, old)) + `\b`)
	}
	sess.keys("Enter")
	sess.waitFor("the detail of the oldest with its owner's fd", func(s string) bool {
		return strings.Contains(s, "SOCKET "+f[0]+" → "+f[1]) && strings.Contains(s, "rtt") && fdWant.MatchString(s)
	})
	sess.keys("Escape")
	sess.waitFor("the list again", func(s string) bool { return !strings.Contains(s, "SOCKET ") })

	// By Recv-Q: the socket with the unread bytes.
	fullL, fullR := full.LocalAddr().String(), full.RemoteAddr().String()
	sess.text(">")
	sess.waitFor("the socket with unread bytes on top (sort by recv-q)", func(s string) bool {
		rows := tableRows(s)
		if len(rows) == 0 {
			return false
		}
		f := strings.Fields(rows[0])
		return len(f) >= 2 && f[0] == fullL && f[1] == fullR
	})
	sess.keys("Enter")
	sess.waitFor("the detail of the full one", func(s string) bool {
		return strings.Contains(s, "SOCKET "+fullL+" → "+fullR) && strings.Contains(s, "recv-q "+strconv.Itoa(recvQ))
	})
}

// connFD is the fd number of a connection in this process.
func connFD(t *testing.T, c net.Conn) int {
	t.Helper()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd int
	raw.Control(func(f uintptr) { fd = int(f) })
	return fd
}
