package main

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcptop/tcptop/internal/nstest"
)

// tmuxSession drives tcptop in a detached tmux session on a private tmux
// server, the way a user at a terminal would.
type tmuxSession struct {
	t      *testing.T
	socket string
}

func newTmux(t *testing.T, w, h int, command string) *tmuxSession {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux not installed (.ci/run installs it)")
	}
	s := &tmuxSession{t: t, socket: fmt.Sprintf("tcptop-e2e-%d-%d", os.Getpid(), time.Now().UnixNano())}
	t.Cleanup(func() { exec.Command("tmux", "-L", s.socket, "kill-server").Run() })
	s.run("new-session", "-d", "-s", "e2e", "-x", strconv.Itoa(w), "-y", strconv.Itoa(h), command)
	return s
}

func (s *tmuxSession) run(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", s.socket}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %v: %v: %s", args, err, out)
	}
	return string(out)
}

func (s *tmuxSession) capture() string { return s.run("capture-pane", "-p", "-t", "e2e") }

// keys sends tmux key names (Enter, Escape, ...); text sends literal text.
func (s *tmuxSession) keys(k ...string) { s.run(append([]string{"send-keys", "-t", "e2e"}, k...)...) }
func (s *tmuxSession) text(t string)    { s.run("send-keys", "-t", "e2e", "-l", t) }

// waitFor polls the screen until ok accepts it, for at most 15 s.
func (s *tmuxSession) waitFor(what string, ok func(screen string) bool) string {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var screen string
	for time.Now().Before(deadline) {
		screen = s.capture()
		if ok(screen) {
			return screen
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("waiting for %s; the screen is:\n%s", what, screen)
	return ""
}

// tableRows returns the rows under the table's column header.
func tableRows(screen string) []string {
	lines := strings.Split(screen, "\n")
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) > 0 && (f[0] == "DIR" || f[0] == "PID" || f[0] == "LOCAL") {
			var rows []string
			for _, r := range lines[i+1:] {
				r = strings.TrimSpace(r)
				if r == "" || strings.HasPrefix(r, "sort ") || strings.HasPrefix(r, "filter ") {
					break
				}
				rows = append(rows, r)
			}
			return rows
		}
	}
	return nil
}

// histogramCount reads the count on a state's histogram line.
func histogramCount(screen, state string) (int, bool) {
	re := regexp.MustCompile(`(?m)^` + state + `\s+\S*\s+([\d,]+)`)
	m := re.FindStringSubmatch(screen)
	if m == nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.ReplaceAll(m[1], ",", ""))
	return n, err == nil
}

func TestTUIInTmux(t *testing.T) {
	tcptop, _ := bins(t)
	ns, _ := nstest.New(t, "tcptop-tui")
	pop := startPop(t, ns, "-estab", "15", "-closewait", "6", "-timewait", "40", "-full-backlog", "8", "-full-clients", "20")
	cw := strconv.Itoa(pop.CloseWaitPort)

	sess := newTmux(t, 110, 32, fmt.Sprintf("env TERM=xterm-256color LANG=C.UTF-8 %s --netns %s --interval 500ms; echo TCPTOP-EXIT=$?; sleep 60", tcptop, ns))

	// The histogram shows what ss shows (two equal ss counts bracket the
	// screen, so nothing moved in between).
	var screen string
	var want map[string]int
	for attempt := 0; ; attempt++ {
		before := nstest.SSCounts(t, ns)
		screen = sess.waitFor("the first snapshot", func(s string) bool { return strings.Contains(s, "PEERS") })
		time.Sleep(1200 * time.Millisecond) // a refresh after ss ran
		screen = sess.capture()
		after := nstest.SSCounts(t, ns)
		if fmt.Sprint(before) == fmt.Sprint(after) {
			want = after
			break
		}
		if attempt == 5 {
			t.Fatalf("ss counts kept changing: %v then %v", before, after)
		}
	}
	for _, st := range []string{"ESTABLISHED", "TIME_WAIT", "CLOSE_WAIT", "LISTEN"} {
		got, ok := histogramCount(screen, st)
		if !ok || got != want[st] {
			t.Errorf("histogram %s = %d (shown %v), ss says %d\n%s", st, got, ok, want[st], screen)
		}
	}
	if want["CLOSE_WAIT"] != 6 || want["TIME_WAIT"] != 40 {
		t.Fatalf("population is not what sockpop promised: %v", want)
	}

	// The full listener: queue 9 over backlog 8, marked FULL, owned by sockpop.
	full := regexp.MustCompile(fmt.Sprintf(`127\.0\.0\.1:%d\s+\S+\s+9/8\s+syn \d+\s+FULL\b[^\n]*sockpop\[%d\]`, pop.FullPort, pop.PID))
	if !full.MatchString(screen) {
		t.Errorf("no full listener bar for port %d:\n%s", pop.FullPort, screen)
	}

	// c: the CLOSE_WAIT peer goes to the top.
	sess.keys("c")
	screen = sess.waitFor("sort by CLOSE_WAIT", func(s string) bool {
		rows := tableRows(s)
		return strings.Contains(s, "sort CLOSE_WAIT") && len(rows) > 0 && strings.Contains(rows[0], "→ :"+cw)
	})
	if f := strings.Fields(tableRows(screen)[0]); !strings.Contains(strings.Join(f, " "), " 6 ") {
		t.Errorf("the CLOSE_WAIT peer row does not show 6: %q", tableRows(screen)[0])
	}

	// /port:N filters the table as it is typed; Enter keeps it.
	sess.keys("/")
	// Typed only once the prompt is up: on a loaded machine a key sent
	// with the "/" was lost ("ort:..." filtered).
	sess.waitFor("the filter prompt", func(s string) bool {
		lines := strings.Split(strings.TrimRight(s, "\n "), "\n")
		return strings.HasPrefix(strings.TrimSpace(lines[len(lines)-1]), "/")
	})
	sess.text("port:" + cw)
	sess.keys("Enter")
	screen = sess.waitFor("the port filter", func(s string) bool {
		return strings.Contains(s, "filter port:"+cw) && len(tableRows(s)) > 0
	})
	for _, r := range tableRows(screen) {
		if !strings.Contains(r, cw) {
			t.Errorf("row %q does not involve port %s", r, cw)
		}
	}
	if strings.Contains(strings.Join(tableRows(screen), "\n"), strconv.Itoa(pop.FullPort)) {
		t.Errorf("filtered table still shows the full listener's peers:\n%s", screen)
	}

	// Enter: the peer's owning process; Enter again: its sockets.
	sess.keys("Enter")
	screen = sess.waitFor("the peer's processes", func(s string) bool {
		rows := tableRows(s)
		return strings.Contains(s, "PEERS › 127.0.0.1 → 127.0.0.1:"+cw) && len(rows) == 1 &&
			strings.HasPrefix(rows[0], strconv.Itoa(pop.PID)+" sockpop")
	})
	sess.keys("Enter")
	screen = sess.waitFor("the process's sockets", func(s string) bool {
		return strings.Contains(s, fmt.Sprintf("› sockpop[%d]", pop.PID)) && len(tableRows(s)) == 6
	})
	for _, r := range tableRows(screen) {
		if !strings.Contains(r, "CLOSE_WAIT") || !strings.HasPrefix(r, "127.0.0.1:"+cw) {
			t.Errorf("socket row %q is not a CLOSE_WAIT on port %s", r, cw)
		}
	}

	// Esc goes back up, one level at a time.
	sess.keys("Escape")
	sess.waitFor("back at the processes", func(s string) bool {
		return strings.Contains(s, "PEERS › 127.0.0.1 → 127.0.0.1:"+cw+" ") && !strings.Contains(s, "› sockpop[")
	})
	sess.keys("Escape")
	sess.waitFor("back at the peers", func(s string) bool {
		return strings.Contains(s, "PEERS ") && !strings.Contains(s, "PEERS ›") && strings.Contains(s, "filter port:"+cw)
	})

	// q exits 0 and gives the terminal back: off the alternate screen,
	// cursor visible.
	sess.keys("q")
	screen = sess.waitFor("tcptop to exit", func(s string) bool { return strings.Contains(s, "TCPTOP-EXIT=") })
	if !strings.Contains(screen, "TCPTOP-EXIT=0") {
		t.Errorf("tcptop exited badly:\n%s", screen)
	}
	if alt := strings.TrimSpace(sess.run("display-message", "-p", "-t", "e2e", "#{alternate_on} #{cursor_flag}")); alt != "0 1" {
		t.Errorf("terminal not restored: alternate_on cursor_flag = %q", alt)
	}
	if strings.Contains(screen, "ESTABLISHED") {
		t.Errorf("the monitor's screen is still showing after exit:\n%s", screen)
	}
}

// TestTUISignalsRestoreTerminal: Ctrl-Z and fg under a job-control shell,
// then SIGTERM, SIGHUP and SIGINT: each time the terminal comes back usable.
func TestTUISignalsRestoreTerminal(t *testing.T) {
	tcptop, _ := bins(t)
	ns, _ := nstest.New(t, "tcptop-sig")
	sess := newTmux(t, 100, 30, "env PS1='$ ' HISTFILE=/dev/null bash --norc --noprofile -i")
	state := func() string {
		return strings.TrimSpace(sess.run("display-message", "-p", "-t", "e2e", "#{alternate_on} #{cursor_flag}"))
	}
	start := func(run int) int {
		t.Helper()
		sess.run("send-keys", "-t", "e2e", "clear", "Enter")
		sess.text(fmt.Sprintf("env TERM=xterm-256color LANG=C.UTF-8 %s --netns %s; echo TCPTOP-EXIT\"\"-%d=$?", tcptop, ns, run))
		sess.keys("Enter")
		sess.waitFor("the monitor", func(s string) bool { return strings.Contains(s, "PEERS") })
		out, err := exec.Command("pgrep", "-f", "--", "tcptop --netns "+ns).Output()
		if err != nil {
			t.Fatalf("pgrep: %v", err)
		}
		pid, err := strconv.Atoi(strings.Fields(string(out))[0])
		if err != nil {
			t.Fatal(err)
		}
		return pid
	}

	pid := start(1)
	if st := state(); st != "1 0" {
		t.Errorf("monitor running: alternate_on cursor_flag = %q, want \"1 0\"", st)
	}
	sess.keys("C-z")
	sess.waitFor("the shell after Ctrl-Z", func(s string) bool { return strings.Contains(s, "Stopped") })
	if st := state(); st != "0 1" {
		t.Errorf("after Ctrl-Z: alternate_on cursor_flag = %q, want \"0 1\"", st)
	}
	sess.text("fg")
	sess.keys("Enter")
	sess.waitFor("the monitor after fg", func(s string) bool { return strings.Contains(s, "PEERS") })
	sess.keys("c")
	sess.waitFor("keys working after fg", func(s string) bool { return strings.Contains(s, "sort CLOSE_WAIT") })
	sess.keys("q")
	sess.waitFor("the shell after q", func(s string) bool { return !strings.Contains(s, "PEERS") && strings.Contains(s, "$ ") })
	waitGone(t, pid)
	if st := state(); st != "0 1" {
		t.Errorf("after fg and q: alternate_on cursor_flag = %q, want \"0 1\"", st)
	}

	for i, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT} {
		run := i + 2
		pid = start(run)
		if err := syscall.Kill(pid, sig); err != nil {
			t.Fatal(err)
		}
		marker := fmt.Sprintf("TCPTOP-EXIT-%d=", run)
		s := sess.waitFor("exit on "+sig.String(), func(s string) bool { return strings.Contains(s, marker) })
		if !strings.Contains(s, marker+"0") {
			t.Errorf("%v: tcptop did not exit 0:\n%s", sig, s)
		}
		if st := state(); st != "0 1" {
			t.Errorf("after %v: alternate_on cursor_flag = %q, want \"0 1\"", sig, st)
		}
	}
}

// waitGone waits up to 10 s for a process to exit.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for range 100 {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("pid %d still running", pid)
}

// TestDumbTerminal: TERM=dumb cannot draw the monitor, so a terminal gets
// the text stream and a note saying why.
func TestDumbTerminal(t *testing.T) {
	tcptop, _ := bins(t)
	ns, _ := nstest.New(t, "tcptop-dumb")
	sess := newTmux(t, 100, 30, fmt.Sprintf("env TERM=dumb %s --netns %s --interval 300ms; echo TCPTOP-EXIT=$?; sleep 60", tcptop, ns))
	deadline := time.Now().Add(15 * time.Second)
	for {
		all := sess.run("capture-pane", "-p", "-S", "-", "-t", "e2e") // with the scrollback
		if strings.Contains(all, "TERM=dumb: printing text snapshots") && strings.Count(all, "STATE        COUNT") >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no note and text stream under TERM=dumb:\n%s", all)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st := strings.TrimSpace(sess.run("display-message", "-p", "-t", "e2e", "#{alternate_on}")); st != "0" {
		t.Errorf("TERM=dumb switched to the alternate screen")
	}
	sess.keys("C-c")
	sess.waitFor("exit 0 on Ctrl-C", func(s string) bool { return strings.Contains(s, "TCPTOP-EXIT=0") })
}

// TestTUIMonoASCII: NO_COLOR and a non-UTF-8 locale still give a readable
// monitor: no colour at all, only ASCII, the selection in reverse video.
func TestTUIMonoASCII(t *testing.T) {
	tcptop, _ := bins(t)
	ns, _ := nstest.New(t, "tcptop-mono")
	startPop(t, ns, "-estab", "5", "-closewait", "3", "-full-backlog", "4", "-full-clients", "8")
	sess := newTmux(t, 100, 30, fmt.Sprintf("env NO_COLOR=1 LANG=C LC_ALL= TERM=xterm-256color %s --netns %s; sleep 60", tcptop, ns))
	plain := sess.waitFor("the monitor", func(s string) bool { return len(tableRows(s)) > 0 && strings.Contains(s, "FULL") })
	for i, r := range plain {
		if r > 127 {
			t.Fatalf("non-ASCII %q at byte %d under LANG=C:\n%s", r, i, plain)
		}
	}
	if !strings.Contains(plain, "#") {
		t.Errorf("no ASCII bars:\n%s", plain)
	}
	styled := sess.run("capture-pane", "-e", "-p", "-t", "e2e")
	sgr := regexp.MustCompile(`\x1b\[([0-9;:]*)m`)
	reverse := false
	for _, m := range sgr.FindAllStringSubmatch(styled, -1) {
		for _, p := range strings.FieldsFunc(m[1], func(r rune) bool { return r == ';' || r == ':' }) {
			n, _ := strconv.Atoi(p)
			switch {
			case n == 7:
				reverse = true
			case n == 39 || n == 49:
				// default colours: tmux resets with these
			case n >= 30 && n <= 48, n >= 90 && n <= 107:
				t.Fatalf("colour SGR %q under NO_COLOR", m[0])
			}
		}
	}
	if !reverse {
		t.Errorf("no reverse video: the selection is invisible without colour")
	}
}

// TestTUIResizeStorm: the window changes size fifty times in a burst, down
// to 20x5 and up to 300x100; the monitor keeps answering keys and exits 0.
func TestTUIResizeStorm(t *testing.T) {
	tcptop, _ := bins(t)
	ns, _ := nstest.New(t, "tcptop-resize")
	startPop(t, ns, "-estab", "5", "-closewait", "3")
	sess := newTmux(t, 80, 24, fmt.Sprintf("env TERM=xterm-256color LANG=C.UTF-8 %s --netns %s --interval 200ms; echo TCPTOP-EXIT=$?; sleep 60", tcptop, ns))
	sess.waitFor("the monitor", func(s string) bool { return strings.Contains(s, "PEERS") })
	sizes := [][2]int{{20, 5}, {300, 100}, {56, 10}, {55, 9}, {1, 1}, {120, 40}}
	for i := range 50 {
		sz := sizes[i%len(sizes)]
		if i%3 == 0 {
			sz = [2]int{10 + (i*37)%290, 3 + (i*23)%97}
		}
		sess.run("resize-window", "-t", "e2e", "-x", strconv.Itoa(sz[0]), "-y", strconv.Itoa(sz[1]))
		if i%10 == 0 {
			sess.keys("j")
		}
	}
	sess.run("resize-window", "-t", "e2e", "-x", "20", "-y", "5")
	sess.waitFor("the too-small note at 20x5", func(s string) bool { return strings.Contains(s, "too small") })
	sess.run("resize-window", "-t", "e2e", "-x", "100", "-y", "30")
	sess.keys("c")
	screen := sess.waitFor("the monitor after the storm", func(s string) bool {
		return strings.Contains(s, "sort CLOSE_WAIT") && len(tableRows(s)) > 0
	})
	for _, l := range strings.Split(strings.TrimRight(screen, "\n"), "\n") {
		if w := len([]rune(l)); w > 100 {
			t.Errorf("line wider than the window (%d): %q", w, l)
		}
	}
	sess.keys("q")
	screen = sess.waitFor("exit", func(s string) bool { return strings.Contains(s, "TCPTOP-EXIT=") })
	if !strings.Contains(screen, "TCPTOP-EXIT=0") || strings.Contains(screen, "panic") {
		t.Errorf("after the storm:\n%s", screen)
	}
}
