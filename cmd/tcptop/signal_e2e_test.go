package main

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcptop/tcptop/internal/nstest"
)

// TestSignalInMonitor drives the signal dialog in tmux. tcptop runs in a
// private pid namespace whose init (bash, pid 1) holds a connection that
// tcptop inherits, so both are in the Processes view and both are
// refused; a "sleep" that ignores SIGTERM holds another: S sends it
// SIGTERM (it lives on), S again offers SIGKILL, which ends it.
func TestSignalInMonitor(t *testing.T) {
	tcptop, _ := bins(t)
	for _, tool := range []string{"unshare", "bash", "pgrep"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool + " not installed")
		}
	}
	name, ns := nstest.New(t, "tcptop-signal")
	var ln net.Listener
	err := ns.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	marker := strconv.Itoa(6000 + time.Now().Nanosecond()%3000) // the victim's sleep argument
	script := fmt.Sprintf(`exec 3<>/dev/tcp/127.0.0.1/%[1]s; ( trap "" TERM; exec 3>&- 4<>/dev/tcp/127.0.0.1/%[1]s; exec sleep %[2]s ) & `+
		`env TERM=xterm-256color LANG=C.UTF-8 %[3]s --interval 500ms; sleep 60`, port, marker, tcptop)
	sess := newTmux(t, 100, 30, "ip netns exec "+name+" unshare -pf --mount-proc bash -c '"+script+"'")
	t.Cleanup(func() { exec.Command("pkill", "-KILL", "-x", "-f", "sleep "+marker).Run() })
	victimAlive := func() bool { return exec.Command("pgrep", "-x", "-f", "sleep "+marker).Run() == nil }

	sess.waitFor("the monitor", func(s string) bool { return strings.Contains(s, "PEERS") })
	sess.keys("Tab")
	screen := sess.waitFor("the three processes", func(s string) bool {
		rows := strings.Join(tableRows(s), "\n")
		return strings.Contains(s, "PROCESSES") && strings.Contains(rows, " bash ") && strings.Contains(rows, " sleep ") && strings.Contains(rows, " tcptop ")
	})
	// select moves the selection to the row of the process named n.
	sel := 0
	selectRow := func(n string) string {
		t.Helper()
		rows := tableRows(sess.capture())
		for i, r := range rows {
			f := strings.Fields(r)
			if len(f) > 1 && f[1] == n {
				for ; sel < i; sel++ {
					sess.keys("j")
				}
				for ; sel > i; sel-- {
					sess.keys("k")
				}
				return f[0]
			}
		}
		t.Fatalf("no row of %s:\n%s", n, screen)
		return ""
	}
	// ask opens the dialog, checks it, confirms and checks the result.
	ask := func(proc, pid, sig, result string) string {
		t.Helper()
		sess.keys("S")
		sess.waitFor("the dialog for "+proc, func(s string) bool { return strings.Contains(s, "Send "+sig+" to "+proc+"["+pid+"]?") })
		sess.keys("y")
		s := sess.waitFor(result, func(s string) bool { return strings.Contains(s, result) })
		sess.keys("Escape")
		sess.waitFor("the dialog closed", func(s string) bool { return !strings.Contains(s, result) })
		return s
	}

	if pid := selectRow("bash"); pid != "1" {
		t.Fatalf("bash is pid %s, want 1 (init of the pid namespace)", pid)
	}
	if s := ask("bash", "1", "SIGTERM", "Not sent: SIGTERM to bash[1]"); !strings.Contains(s, "refused") {
		t.Errorf("pid 1 not refused:\n%s", s)
	}
	self := selectRow("tcptop")
	if s := ask("tcptop", self, "SIGTERM", "Not sent: SIGTERM to tcptop["+self+"]"); !strings.Contains(s, "tcptop itself") {
		t.Errorf("tcptop itself not refused:\n%s", s)
	}
	victim := selectRow("sleep")
	sess.keys("S")
	s := sess.waitFor("the SIGTERM dialog", func(s string) bool { return strings.Contains(s, "Send SIGTERM to sleep["+victim+"]?") })
	if !strings.Contains(s, "SIGKILL only when asked again") {
		t.Errorf("the dialog does not say KILL comes only when asked again:\n%s", s)
	}
	sess.keys("n")
	sess.waitFor("the dialog cancelled", func(s string) bool { return !strings.Contains(s, "Send SIGTERM") })
	if !victimAlive() {
		t.Fatal("n killed the process")
	}
	ask("sleep", victim, "SIGTERM", "Sent SIGTERM to sleep["+victim+"]")
	time.Sleep(300 * time.Millisecond)
	if !victimAlive() {
		t.Fatal("the victim ignores SIGTERM but is gone")
	}
	ask("sleep", victim, "SIGKILL", "Sent SIGKILL to sleep["+victim+"]")
	for i := 0; victimAlive(); i++ {
		if i == 50 {
			t.Fatal("SIGKILL sent but the victim lives")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
