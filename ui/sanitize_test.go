package ui

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tcptop/tcptop/format"
	"github.com/tcptop/tcptop/source"
)

// hostileSamples are tuiSamples with php-fpm (pid 20, which holds the
// CLOSE_WAIT sockets the findings name) given a name, a command line and
// a user that would act on a terminal (issue 20, item 1), and a hostile
// host name.
func hostileSamples() []*source.Sample {
	ss := tuiSamples()
	for _, s := range ss {
		p := *s.Procs[20]
		p.Name, p.Cmdline, p.User = "\x1b]2;pwned\x07", "php\x1b[2J\nx\u202ey\xff", "www\u009b31m"
		s.Procs[20] = &p
		s.Host = "web1\x1b[5m"
	}
	return ss
}

// sgr is the only escape sequence the monitor itself writes: colours and
// emphasis.
var sgr = regexp.MustCompile("\x1b\\[[0-9;]*m")

// checkScreenSafe fails when a screen, with the monitor's own colour
// sequences taken out, holds anything that acts on a terminal: a C0
// control other than the newline, DEL, a C1 control, a bidi control,
// invalid UTF-8.
func checkScreenSafe(t *testing.T, what, raw string) {
	t.Helper()
	s := sgr.ReplaceAllString(raw, "")
	if !utf8.ValidString(s) {
		t.Errorf("%s: invalid UTF-8", what)
	}
	for i, r := range s {
		// format.Sanitize escapes exactly what acts on a terminal (and
		// the backslash, which its escapes start with).
		if c := string(r); r != '\n' && r != '\\' && format.Sanitize(c) != c {
			t.Errorf("%s: raw %U at byte %d: %q", what, r, i, s[max(0, i-20):min(len(s), i+20)])
			return
		}
	}
}

func TestHostileNamesMonitor(t *testing.T) {
	m := tuiWith(t, hostileSamples(), tuiThresholds(t), 120, 40)
	if m.snap == nil || m.snap.Total != 10 {
		t.Fatal("monitor did not take both polls")
	}
	for _, step := range []struct {
		keys []string
		want string // escaped text expected on screen
	}{
		{nil, `CLOSE_WAIT leak: \x1b]2;pwned\x07[20]`},             // the strip; the peers' PROCESSES
		{[]string{"f"}, `\x1b]2;pwned\x07[20] holds 2 CLOSE_WAIT`}, // the findings view's evidence
		{[]string{"esc", "tab", "c"}, `php\x1b[2J\nx\u202ey`},      // the processes view: NAME, USER, COMMAND
		{[]string{"enter"}, `\x1b]2;pwned\x07[20]`},                // a process's sockets: the breadcrumb
	} {
		m = press(t, m, step.keys...)
		v := m.View()
		checkScreenSafe(t, strings.Join(step.keys, " "), v.Content)
		checkScreenSafe(t, "window title", v.WindowTitle)
		if s := screen(m); !strings.Contains(s, step.want) {
			t.Errorf("after %v the screen lacks %s:\n%s", step.keys, step.want, s)
		}
		if n := strings.Count(v.Content, "\n") + 1; n != 40 {
			t.Errorf("after %v: %d lines, want 40", step.keys, n)
		}
	}
	if got := m.View().WindowTitle; got != `tcptop web1\x1b[5m` {
		t.Errorf("window title %q", got)
	}
}
