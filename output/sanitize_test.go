package output

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tcptop/tcptop/format"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

// Hostile strings a process, a host or /proc can hand tcptop (issue 20,
// item 1): an OSC that retitles the terminal and swallows what follows,
// a clear-screen, a line break, a bidi override, a C1 CSI, invalid UTF-8.
const (
	hostileName    = "\x1b]2;pwned\x07"
	hostileCmdline = "php\x1b[2J\nx\u202ey\xff"
	hostileUser    = "www\u009b31m"
)

// hostilePolls are twoPolls with php-fpm (pid 20, which holds the
// CLOSE_WAIT sockets the findings name) renamed to hostile strings, a
// hostile host name and a warning echoing one.
func hostilePolls() []*source.Sample {
	ss := twoPolls()
	for _, s := range ss {
		p := *s.Procs[20]
		p.Name, p.Cmdline, p.User = hostileName, hostileCmdline, hostileUser
		s.Procs[20] = &p
		s.Host = "web1\x1b[5m"
		s.Warnings = []source.Warning{{Kind: source.WarnSysctl, Name: "net.\x1b[2J", Err: errors.New("gone\r")}}
	}
	return ss
}

// checkTerminalSafe fails when out holds a byte or a character that acts
// on a terminal: a C0 control other than the newline, DEL, a C1 control,
// a bidi control, or invalid UTF-8.
func checkTerminalSafe(t *testing.T, what, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("%s: invalid UTF-8", what)
	}
	for i, r := range out {
		// format.Sanitize escapes exactly what acts on a terminal (and
		// the backslash, which its escapes start with).
		if c := string(r); r != '\n' && r != '\\' && format.Sanitize(c) != c {
			t.Errorf("%s: raw %U at byte %d: %q", what, r, i, out[max(0, i-20):min(len(out), i+20)])
			return
		}
	}
}

func TestHostileNamesText(t *testing.T) {
	a := lowAnalyzer(t)
	ss := hostilePolls()
	a.Next(ss[0], model.Options{})
	snap := a.Next(ss[1], model.Options{})
	var b bytes.Buffer
	if err := WriteText(&b, snap, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	checkTerminalSafe(t, "text", out)
	for _, want := range []string{
		`\x1b]2;pwned\x07[20]`, // in the peers' and findings' text
		`php\x1b[2J\nx\u202ey\xff`,
		`www\u00…`, // the USER column is 8 cells
		`host web1\x1b[5m`,
		`warning: sysctl net.\x1b[2J: gone\r`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %s:\n%s", want, out)
		}
	}
	b.Reset()
	if _, err := WriteCheck(&b, snap); err != nil {
		t.Fatal(err)
	}
	checkTerminalSafe(t, "check", b.String())
	if !strings.Contains(b.String(), `CLOSE_WAIT leak: \x1b]2;pwned\x07[20]`) || !strings.Contains(b.String(), `CHECK FAILED web1\x1b[5m`) {
		t.Errorf("--check output:\n%s", b.String())
	}
	// JSON stays exact: the names as they are, JSON-escaped.
	b.Reset()
	if err := WriteJSON(&b, snap, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"name":"\u001b]2;pwned\u0007"`) {
		t.Errorf("JSON does not keep the name exactly")
	}
}
