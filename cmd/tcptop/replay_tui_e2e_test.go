package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tcptop/tcptop/internal/nstest"
)

// TestReplayTUIInTmux opens the monitor over the golden recording (a
// CLOSE_WAIT leak that becomes a warning at poll 40 of 90) and drives the
// timeline: pause, end, start, next change in findings, step back and
// forward, a minute forward, drill down, play at 16x to the end, quit.
func TestReplayTUIInTmux(t *testing.T) {
	tcptop, _ := bins(t)
	golden, err := filepath.Abs("../../testdata/recordings/v1.tcptop")
	if err != nil {
		t.Fatal(err)
	}
	sess := newTmux(t, 110, 32, fmt.Sprintf("env TERM=xterm-256color LANG=C.UTF-8 TZ=UTC %s --replay %s; echo TCPTOP-EXIT=$?; sleep 60", tcptop, golden))
	pollRe := regexp.MustCompile(`poll (\d+)/90`)
	at := func(n int) func(string) bool {
		return func(s string) bool {
			m := pollRe.FindStringSubmatch(s)
			return m != nil && m[1] == fmt.Sprint(n)
		}
	}
	sess.waitFor("the replay timeline", func(s string) bool {
		return strings.Contains(s, "REPLAY playing 1x") && strings.Contains(s, "2026-05-28 20:26:") && strings.Contains(s, "PEERS")
	})
	sess.keys("p")
	sess.waitFor("paused", func(s string) bool { return strings.Contains(s, "REPLAY paused") })

	sess.keys("$")
	sess.waitFor("the end", at(90))
	sess.keys("^")
	screen := sess.waitFor("the start", at(1))
	if strings.Contains(screen, "CLOSE_WAIT leak") {
		t.Errorf("a finding at the start:\n%s", screen)
	}
	// }: the first change in findings, the leak.
	sess.keys("}")
	screen = sess.waitFor("the next change in findings", func(s string) bool {
		return at(35)(s) && strings.Contains(s, "CLOSE_WAIT leak") && strings.Contains(s, "20:27:15")
	})
	sess.keys("Left")
	screen = sess.waitFor("one poll back", at(34))
	if strings.Contains(screen, "CLOSE_WAIT leak") {
		t.Errorf("the leak shows a poll before it was found:\n%s", screen)
	}
	sess.keys("Right")
	sess.waitFor("one poll forward", func(s string) bool { return at(35)(s) && strings.Contains(s, "CLOSE_WAIT leak") })
	sess.keys("{")
	sess.waitFor("no earlier change", func(s string) bool { return strings.Contains(s, "no change in findings") })
	sess.keys("[")
	sess.waitFor("a minute back, clamped to the start", at(1))
	sess.keys("]")
	sess.waitFor("a minute forward", at(61))

	// Drill down works as live: the findings view, Enter to the leaking
	// process, then its sockets.
	sess.keys("f")
	sess.waitFor("the findings view", func(s string) bool { return strings.Contains(s, "go to the subject") })
	sess.keys("Enter")
	sess.waitFor("the leaking process", func(s string) bool {
		return strings.Contains(s, "php-fpm") && len(tableRows(s)) > 0
	})
	sess.keys("Enter")
	screen = sess.waitFor("its sockets", func(s string) bool {
		return strings.Contains(s, "› php-fpm[120]") && strings.Contains(strings.Join(tableRows(s), "\n"), "CLOSE_WAIT")
	})
	if !at(61)(screen) {
		t.Errorf("drilling down moved the replay:\n%s", screen)
	}

	// Play resumes; q quits cleanly.
	sess.keys("^")
	sess.waitFor("the start", at(1))
	for range 4 {
		sess.keys("+")
	}
	sess.keys("p")
	sess.waitFor("playing at 16x", func(s string) bool { return strings.Contains(s, "REPLAY playing 16x") })
	sess.waitFor("the end, paused", func(s string) bool {
		return at(90)(s) && strings.Contains(s, "REPLAY paused") && strings.Contains(s, "end of the recording")
	})
	sess.keys("q")
	screen = sess.waitFor("tcptop to exit", func(s string) bool { return strings.Contains(s, "TCPTOP-EXIT=") })
	if !strings.Contains(screen, "TCPTOP-EXIT=0") {
		t.Errorf("tcptop exited badly:\n%s", screen)
	}
}

// TestFlightKeyInTmux: w in the live monitor writes the flight recorder
// and the status line says where; the file replays.
func TestFlightKeyInTmux(t *testing.T) {
	tcptop, _ := bins(t)
	ns, _ := nstest.New(t, "tcptop-flightkey")
	startPop(t, ns, "-estab", "4")
	dir := t.TempDir()
	sess := newTmux(t, 150, 30, fmt.Sprintf("env TERM=xterm-256color LANG=C.UTF-8 %s --netns %s --interval 200ms --flight-dir %s; sleep 60", tcptop, ns, dir))
	sess.waitFor("a few polls", func(s string) bool { return strings.Contains(s, "PEERS") })
	time.Sleep(2 * time.Second)
	sess.keys("w")
	screen := sess.waitFor("the flight recorder's notice", func(s string) bool {
		return strings.Contains(s, "flight recorder written to "+dir+"/tcptop-flight-")
	})
	files, _ := filepath.Glob(filepath.Join(dir, "tcptop-flight-*.tcptop"))
	if len(files) != 1 {
		t.Fatalf("files %v\n%s", files, screen)
	}
	out, errs, code := runTcptop(t, nil, "--replay", files[0], "--json")
	if n := len(strings.Split(strings.TrimSpace(out), "\n")); code != 0 || n < 5 {
		t.Errorf("replay of the flight recorder: exit %d, %d polls: %s", code, n, errs)
	}
	sess.keys("q")
}
