package main

import (
	"errors"
	"io"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcptop/tcptop/internal/nstest"
)

// ssLines is `ss -tan` in the namespace as sorted "STATE LOCAL PEER" lines.
func ssLines(t *testing.T, ns string) []string {
	t.Helper()
	out, err := exec.Command("ss", "-N", ns, "-Htan").Output()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) >= 5 {
			lines = append(lines, f[0]+" "+f[3]+" "+f[4])
		}
	}
	slices.Sort(lines)
	return lines
}

// killPopulation builds, inside ns, a listener on port N with 3 CLOSE_WAIT
// and 2 ESTABLISHED server sockets and 2 client TIME_WAIT toward it, and
// a second listener with 2 CLOSE_WAIT. It returns N and the owners' ends
// of the CLOSE_WAIT sockets on N.
func killPopulation(t *testing.T, ns interface{ Do(func() error) error }) (int, []net.Conn) {
	t.Helper()
	var cw []net.Conn
	var port int
	var closers []io.Closer
	t.Cleanup(func() {
		for _, c := range closers {
			c.Close()
		}
	})
	pair := func(ln net.Listener) (net.Conn, net.Conn, error) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return nil, nil, err
		}
		s, err := ln.Accept()
		if err != nil {
			return nil, nil, err
		}
		closers = append(closers, c, s)
		return c, s, nil
	}
	err := ns.Do(func() error {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		closers = append(closers, ln)
		port = ln.Addr().(*net.TCPAddr).Port
		other, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		closers = append(closers, other)
		for range 3 {
			c, s, err := pair(ln)
			if err != nil {
				return err
			}
			c.Close()
			cw = append(cw, s)
		}
		for range 2 {
			if _, _, err := pair(ln); err != nil {
				return err
			}
			c, _, err := pair(other)
			if err != nil {
				return err
			}
			c.Close()
		}
		for range 2 { // client-side TIME_WAIT toward N
			c, s, err := pair(ln)
			if err != nil {
				return err
			}
			c.Close()
			time.Sleep(20 * time.Millisecond)
			s.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	return port, cw
}

func TestKill(t *testing.T) {
	name, ns := nstest.New(t, "tcptop-kill")
	port, cw := killPopulation(t, ns)
	in := []string{"ip", "netns", "exec", name}
	expr := "state:CLOSE_WAIT port:" + strconv.Itoa(port)
	before := ssLines(t, name)
	if n := countPrefix(before, "CLOSE-WAIT"); n != 5 {
		t.Fatalf("population: %d CLOSE_WAIT, want 5:\n%s", n, strings.Join(before, "\n"))
	}

	// Without --yes, and with --dry-run: a list, nothing changes.
	for _, args := range [][]string{{"--kill", expr}, {"--kill", expr, "--dry-run"}} {
		out, errOut, code := runTcptop(t, in, args...)
		if code != 0 || !strings.HasPrefix(out, "3 sockets match") || !strings.Contains(out, "nothing destroyed") {
			t.Errorf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
		if after := ssLines(t, name); !slices.Equal(after, before) {
			t.Errorf("%v changed the sockets", args)
		}
	}
	// As nobody: one clear line, exit 1, nothing changes.
	out, errOut, code := runTcptop(t, append(in, asNobody(t)...), "--kill", expr, "--yes")
	if code != 1 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, "permission denied") {
		t.Errorf("as nobody: exit %d, stderr %q", code, errOut)
	}
	if after := ssLines(t, name); !slices.Equal(after, before) {
		t.Error("an unprivileged --kill changed the sockets")
	}
	_ = out

	// Bad usage.
	for _, args := range [][]string{{"--kill", ""}, {"--kill", expr, "--yes", "--dry-run"}, {"--kill", "bogus:1"}, {"--yes"}, {"--kill", expr, "--read-only"}} {
		if _, _, code := runTcptop(t, in, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}

	out, errOut, code = runTcptop(t, in, "--kill", expr, "--yes")
	if code != 0 || strings.Count(out, "destroyed: ") != 3 || !strings.Contains(out, "3 destroyed") {
		t.Fatalf("--yes: exit %d\n%s%s", code, out, errOut)
	}
	after := ssLines(t, name)
	var want []string
	for _, l := range before {
		f := strings.Fields(l)
		p := ":" + strconv.Itoa(port)
		switch {
		case f[0] == "CLOSE-WAIT" && strings.HasSuffix(f[1], p):
			continue // destroyed
		case f[0] == "FIN-WAIT-2" && strings.HasSuffix(f[2], p):
			continue // their peers, reset by the kernel
		}
		want = append(want, l)
	}
	if !slices.Equal(after, want) {
		t.Errorf("after --kill:\n%s\nwant:\n%s", strings.Join(after, "\n"), strings.Join(want, "\n"))
	}
	for _, c := range cw {
		c.SetReadDeadline(time.Now().Add(time.Second))
		_, err := c.Read(make([]byte, 1))
		if err != io.EOF && !errors.Is(err, syscall.ECONNABORTED) {
			t.Errorf("owner's read after the kill: %v, want ECONNABORTED or EOF", err)
		}
	}
	// Nothing matches any more: exit 0, nothing to do.
	out, _, code = runTcptop(t, in, "--kill", expr, "--yes")
	if code != 0 || !strings.HasPrefix(out, "0 sockets match") {
		t.Errorf("second --kill: exit %d\n%s", code, out)
	}
}

func countPrefix(lines []string, p string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, p) {
			n++
		}
	}
	return n
}

// The same kill through the monitor in tmux at 80x24: F9 on the peer row
// the filter leaves, the dialog lists what it will destroy, y destroys,
// the result says what became of each; --read-only refuses.
func TestKillInMonitor(t *testing.T) {
	tcptop, _ := bins(t)
	name, ns := nstest.New(t, "tcptop-tuikill")
	port, _ := killPopulation(t, ns)
	expr := "state:CLOSE_WAIT port:" + strconv.Itoa(port)
	before := ssLines(t, name)

	ro := newTmux(t, 80, 24, "env TERM=xterm-256color LANG=C.UTF-8 "+tcptop+" --netns "+name+" --read-only --filter '"+expr+"'; sleep 60")
	ro.waitFor("the first snapshot", func(s string) bool { return strings.Contains(s, "PEERS") })
	ro.keys("F9")
	ro.waitFor("the read-only notice", func(s string) bool { return strings.Contains(s, "read-only") })

	sess := newTmux(t, 80, 24, "env TERM=xterm-256color LANG=C.UTF-8 "+tcptop+" --netns "+name+" --interval 500ms --filter '"+expr+"'; sleep 60")
	sess.waitFor("the first snapshot", func(s string) bool { return strings.Contains(s, "PEERS") && strings.Contains(s, "127.0.0.1") })
	sess.keys("F9")
	screen := sess.waitFor("the kill dialog", func(s string) bool { return strings.Contains(s, "Destroy 3 sockets") })
	for _, want := range []string{"3 CLOSE_WAIT", "y: yes", "frees the port"} {
		if !strings.Contains(screen, want) {
			t.Errorf("dialog lacks %q:\n%s", want, screen)
		}
	}
	if after := ssLines(t, name); !slices.Equal(after, before) {
		t.Fatal("the dialog alone changed the sockets")
	}
	sess.keys("y")
	sess.waitFor("the result", func(s string) bool { return strings.Contains(s, "Result: 3 destroyed") })
	if n := countPrefix(ssLines(t, name), "CLOSE-WAIT"); n != 2 {
		t.Errorf("%d CLOSE_WAIT left, want the other listener's 2", n)
	}
	sess.keys("Escape")
	sess.waitFor("the dialog closed", func(s string) bool { return !strings.Contains(s, "Result:") })
}
