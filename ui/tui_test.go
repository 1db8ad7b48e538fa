package ui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/tcptop/tcptop/internal/fixture"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"
	"github.com/charmbracelet/x/ansi"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

// fakeReader hands out prepared samples; after the last it repeats it, or
// fails with err when set.
type fakeReader struct {
	samples []*source.Sample
	n       int
	err     error
}

func (f *fakeReader) Read(context.Context) (*source.Sample, error) {
	if f.n >= len(f.samples) {
		if f.err != nil {
			return nil, f.err
		}
		return f.samples[len(f.samples)-1], nil
	}
	s := f.samples[f.n]
	f.n++
	return s, nil
}

// tuiSamples are two polls a second apart (fixture.TwoPolls).
func tuiSamples() []*source.Sample { return fixture.TwoPolls() }

// tuiThresholds are thresholds low enough for the fixture to show four
// findings: the full accept queue (critical), php-fpm's CLOSE_WAIT (critical:
// its open files are near the limit), the ports to 192.0.2.10:443 and the
// SYN_SENT to 198.51.100.7:5432 (warnings).
func tuiThresholds(t *testing.T) *model.Thresholds {
	t.Helper()
	th := model.DefaultThresholds()
	if err := th.Set("close-wait=1,close-wait-age=1,syn-sent=1,ports-warn=0.0001"); err != nil {
		t.Fatal(err)
	}
	return &th
}

// run executes a command the way the program would and feeds the
// messages back, dropping commands that do not finish quickly (ticks and
// cursor blinks wait on timers).
func run(t *testing.T, m Model, cmd tea.Cmd) Model {
	t.Helper()
	for depth := 0; cmd != nil && depth < 20; depth++ {
		ch := make(chan tea.Msg, 1)
		go func() { ch <- cmd() }()
		var msg tea.Msg
		select {
		case msg = <-ch:
		case <-time.After(200 * time.Millisecond):
			return m
		}
		if batch, ok := msg.(tea.BatchMsg); ok {
			for _, c := range batch {
				m = run(t, m, c)
			}
			return m
		}
		if msg == nil {
			return m
		}
		var next tea.Model
		next, cmd = m.Update(msg)
		m = next.(Model)
	}
	return m
}

// send delivers one message and runs what it asks for.
func send(t *testing.T, m Model, msg tea.Msg) Model {
	t.Helper()
	next, cmd := m.Update(msg)
	return run(t, next.(Model), cmd)
}

func press(t *testing.T, m Model, keys ...string) Model {
	t.Helper()
	for _, k := range keys {
		m = send(t, m, keyMsg(k))
	}
	return m
}

// keyMsg builds the KeyPressMsg a terminal would send for k.
func keyMsg(k string) tea.KeyPressMsg {
	switch k {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "space":
		return tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	}
	r := []rune(k)[0]
	return tea.KeyPressMsg{Code: r, Text: k}
}

func typeText(t *testing.T, m Model, s string) Model {
	t.Helper()
	for _, r := range s {
		m = press(t, m, string(r))
	}
	return m
}

// newTUI is a monitor at w x h that has polled both samples.
func newTUI(t *testing.T, w, h int, theme string) Model {
	t.Helper()
	m := New(Config{Poller: pollOf(&fakeReader{samples: tuiSamples()}, tuiThresholds(t)), Interval: time.Hour, Theme: theme})
	m = send(t, m, tea.WindowSizeMsg{Width: w, Height: h})
	m = run(t, m, m.Init())
	m = send(t, m, tickMsg{seq: m.tickSeq})
	if m.snap == nil || m.snap.Total != 10 {
		t.Fatalf("monitor did not take both polls: %+v", m.snap)
	}
	return m
}

// screen is the plain text on screen.
func screen(m Model) string { return ansi.Strip(m.View().Content) }

// pinned renders the screen through a fixed 16-colour profile, so the
// golden files do not depend on the terminal the tests run in.
func pinned(m Model) string {
	var b bytes.Buffer
	w := &colorprofile.Writer{Forward: &b, Profile: colorprofile.ANSI}
	w.WriteString(m.View().Content)
	return b.String()
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("..", "testdata", "golden", "tui", name)
	if *update {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./ui -update)", err)
	}
	if string(want) != got {
		t.Errorf("screen differs from %s (run go test ./ui -update and review the diff):\n%s", path, got)
	}
}

func TestScreenGolden(t *testing.T) {
	for _, tc := range []struct {
		w, h  int
		theme string
	}{{80, 24, "dark"}, {120, 40, "dark"}, {200, 60, "dark"}, {30, 8, "dark"}, {80, 24, "mono"}} {
		t.Run(fmt.Sprintf("%dx%d-%s", tc.w, tc.h, tc.theme), func(t *testing.T) {
			m := newTUI(t, tc.w, tc.h, tc.theme)
			m.snap.PollMS = model.PollCost{Total: 3.5}
			txt := screen(m)
			lines := strings.Split(txt, "\n")
			if len(lines) != tc.h {
				t.Errorf("%d lines, want %d", len(lines), tc.h)
			}
			for i, l := range lines {
				if w := ansi.StringWidth(l); w != tc.w {
					t.Errorf("line %d is %d wide, want %d: %q", i, w, tc.w, l)
				}
			}
			base := fmt.Sprintf("%dx%d-%s", tc.w, tc.h, tc.theme)
			golden(t, base+".txt", txt)
			golden(t, base+".ansi", pinned(m))
		})
	}
	// The findings and kernel views, as plain text.
	for _, tc := range []struct {
		name string
		keys []string
	}{{"findings", []string{"f", "down"}}, {"kernel", []string{"K"}}} {
		for _, sz := range [][2]int{{80, 24}, {120, 40}, {200, 60}} {
			t.Run(fmt.Sprintf("%dx%d-%s", sz[0], sz[1], tc.name), func(t *testing.T) {
				m := newTUI(t, sz[0], sz[1], "dark")
				m.snap.PollMS = model.PollCost{Total: 3.5}
				m = press(t, m, tc.keys...)
				golden(t, fmt.Sprintf("%dx%d-%s.txt", sz[0], sz[1], tc.name), screen(m))
			})
		}
	}
}

func TestScreenShowsEverything(t *testing.T) {
	m := newTUI(t, 120, 40, "dark")
	s := screen(m)
	for _, want := range []string{
		"web1", "netns default", "10 sockets", "every 1h", "10 connects/s", "5 accepts/s", // header
		"TIME_WAIT", "+2.0/s", "CLOSE_WAIT", "SYN_SENT", // histogram with rates
		"PORTS", "range 32768-60999", "192.0.2.10:443", "TIME_WAIT 5 drains in 24.0s", // gauge
		"LISTEN 1", "overflows 2/s", "0.0.0.0:80", "129/128", "FULL", "=somaxconn", "nginx[10]", // listeners
		"PEERS", "ESTAB", "TIME_W", "CLOSE_W", "SYN_S", "TOTAL▼", "php-fpm[20]", // table
		"sort total", "? help", // footer
	} {
		if !strings.Contains(s, want) {
			t.Errorf("screen lacks %q:\n%s", want, s)
		}
	}
}

func TestTooSmall(t *testing.T) {
	m := newTUI(t, 30, 8, "mono")
	if s := screen(m); !strings.Contains(s, "terminal too small") || !strings.Contains(s, fmt.Sprintf("need %dx%d", MinWidth, MinHeight)) {
		t.Errorf("too-small screen:\n%s", s)
	}
	m = send(t, m, tea.WindowSizeMsg{Width: 20, Height: 5})
	if s := screen(m); !strings.Contains(s, "too small") || len(strings.Split(s, "\n")) != 5 {
		t.Errorf("20x5 screen:\n%s", s)
	}
	// Growing again brings the monitor back.
	m = send(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	if s := screen(m); !strings.Contains(s, "PEERS") {
		t.Errorf("after resize:\n%s", s)
	}
}

// rowsOf returns the table's data rows as text (lines after the column
// header), trimmed.
func rowsOf(m Model) []string {
	lines := strings.Split(screen(m), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "DIR ") || strings.HasPrefix(strings.TrimSpace(l), "PID ") ||
			strings.HasPrefix(l, "LOCAL ") || strings.HasPrefix(strings.TrimSpace(l), "PORT ") {
			var out []string
			for _, r := range lines[i+1 : len(lines)-1] {
				if r = strings.TrimSpace(r); r != "" {
					out = append(out, r)
				}
			}
			return out
		}
	}
	return nil
}

func TestSortKeys(t *testing.T) {
	m := newTUI(t, 100, 30, "mono")
	if rows := rowsOf(m); !strings.HasPrefix(rows[0], "out 192.0.2.10:443") {
		t.Fatalf("default sort (total) should put the TIME_WAIT peer first: %q", rows)
	}
	m = press(t, m, "c")
	if rows := rowsOf(m); !strings.HasPrefix(rows[0], "out 127.0.0.1:6379") || m.opts.Sort.State != source.CloseWait {
		t.Errorf("c should put the CLOSE_WAIT peer first: %q", rows)
	}
	if !strings.Contains(screen(m), "CLOSE_W▼") || !strings.Contains(screen(m), "sort CLOSE_WAIT") {
		t.Error("the sort column is not marked")
	}
	m = press(t, m, "r")
	if !m.opts.Sort.Reverse || !strings.Contains(screen(m), "CLOSE_W▲") {
		t.Error("r should reverse the sort")
	}
	if rows := rowsOf(m); strings.HasPrefix(rows[0], "out 127.0.0.1:6379") {
		t.Errorf("reversed sort still has the CLOSE_WAIT peer first: %q", rows)
	}
	m = press(t, m, "r", "t")
	if m.opts.Sort.State != source.TimeWait || m.opts.Sort.Reverse {
		t.Errorf("t: sort %v", m.opts.Sort)
	}
	m = press(t, m, ">")
	if m.opts.Sort.State != source.CloseWait {
		t.Errorf("> from TIME_WAIT should be CLOSE_WAIT, got %v", m.opts.Sort)
	}
	m = press(t, m, "<", "<")
	if m.opts.Sort.State != source.Established {
		t.Errorf("< < from CLOSE_WAIT should be ESTABLISHED, got %v", m.opts.Sort)
	}
	m = press(t, m, "<")
	if m.opts.Sort.State != source.Established {
		t.Errorf("< stops at the first column, got %v", m.opts.Sort)
	}
	m = press(t, m, "e", "a")
	if m.opts.Sort.State != 0 {
		t.Errorf("a should sort by total, got %v", m.opts.Sort)
	}
}

func TestFilterKeys(t *testing.T) {
	m := newTUI(t, 100, 30, "mono")
	all := len(rowsOf(m))
	m = press(t, m, "/")
	if !m.filtering || !strings.Contains(screen(m), "/ ") {
		t.Fatal("/ should open the filter input")
	}
	m = typeText(t, m, "port:6379")
	if m.opts.Filter.String() != "port:6379" {
		t.Errorf("filter applied as typed: %q", m.opts.Filter.String())
	}
	rows := rowsOf(m)
	if len(rows) != 1 || !strings.Contains(rows[0], "127.0.0.1:6379") {
		t.Errorf("port:6379 rows: %q", rows)
	}
	// A bad expression shows an error and keeps the last good filter.
	m = typeText(t, m, "x")
	if m.filterErr == nil || !strings.Contains(screen(m), "6379x") {
		t.Errorf("bad filter: err %v\n%s", m.filterErr, screen(m))
	}
	if m.opts.Filter.String() != "port:6379" || len(rowsOf(m)) != 1 {
		t.Errorf("bad filter replaced the good one: %q", m.opts.Filter.String())
	}
	m = press(t, m, "backspace")
	m = press(t, m, "enter")
	if m.filtering || m.opts.Filter.String() != "port:6379" || !strings.Contains(screen(m), "filter port:6379") {
		t.Errorf("enter should keep the filter: %q filtering=%v", m.opts.Filter.String(), m.filtering)
	}
	// Totals ignore the filter.
	if !strings.Contains(screen(m), "10 sockets") {
		t.Error("the header total should not be filtered")
	}
	m = press(t, m, "/", "esc")
	if m.filtering || !m.opts.Filter.Empty() || len(rowsOf(m)) != all {
		t.Errorf("esc should clear the filter: %q, %d rows, want %d", m.opts.Filter.String(), len(rowsOf(m)), all)
	}
	// Keys typed into the filter do not act as commands.
	m = press(t, m, "/")
	m = typeText(t, m, "qt")
	if m.opts.Sort.State != 0 || !m.filtering {
		t.Error("keys in the filter input leaked to the monitor")
	}
}

func TestDrillDown(t *testing.T) {
	m := newTUI(t, 100, 30, "mono")
	m = press(t, m, "c", "enter")
	s := screen(m)
	if !strings.Contains(s, "PEERS › 127.0.0.1:6379") {
		t.Fatalf("breadcrumb after enter on a peer:\n%s", s)
	}
	rows := rowsOf(m)
	if len(rows) != 1 || !strings.HasPrefix(rows[0], "20 php-fpm") || !strings.Contains(rows[0], "php-fpm: pool www") {
		t.Fatalf("the peer's processes: %q", rows)
	}
	m = press(t, m, "enter")
	if s := screen(m); !strings.Contains(s, "PEERS › 127.0.0.1:6379 › php-fpm[20]") {
		t.Fatalf("breadcrumb at sockets:\n%s", s)
	}
	rows = rowsOf(m)
	if len(rows) != 2 || !strings.Contains(rows[0], "CLOSE_WAIT") || !strings.Contains(rows[0], "127.0.0.1:35000") {
		t.Fatalf("the process's sockets: %q", rows)
	}
	// A new poll keeps the level and its rows.
	m = send(t, m, tickMsg{seq: m.tickSeq})
	if len(m.tableV().levels) != 3 || len(rowsOf(m)) != 2 {
		t.Errorf("a refresh lost the drill-down: %d levels", len(m.tableV().levels))
	}
	m = press(t, m, "esc")
	if len(m.tableV().levels) != 2 || !strings.HasPrefix(rowsOf(m)[0], "20 php-fpm") {
		t.Errorf("esc should go back to the processes: %q", rowsOf(m))
	}
	m = press(t, m, "backspace")
	if len(m.tableV().levels) != 1 || m.tableV().top().tbl.sel != 0 || !strings.HasPrefix(rowsOf(m)[0], "out 127.0.0.1:6379") {
		t.Errorf("backspace should go back to the peers with the selection kept")
	}
	// The selection is kept per level: move down, drill, come back.
	m = press(t, m, "down", "down")
	sel := m.tableV().top().tbl.selKey
	m = press(t, m, "enter", "esc")
	if m.tableV().top().tbl.selKey != sel {
		t.Errorf("selection after back: %q, want %q", m.tableV().top().tbl.selKey, sel)
	}
	m = press(t, m, "esc")
	if len(m.tableV().levels) != 1 {
		t.Error("esc at the top level should stay there")
	}
}

func TestViewsAndNavigation(t *testing.T) {
	m := newTUI(t, 100, 30, "mono")
	m = press(t, m, "tab")
	if s := screen(m); !strings.Contains(s, "PROCESSES") || !strings.Contains(s, "php-fpm: pool www") {
		t.Errorf("tab should show processes:\n%s", s)
	}
	// Enter on a process lists all its sockets.
	m = press(t, m, "c", "enter")
	if rows := rowsOf(m); len(rows) != 3 { // two CLOSE_WAIT and the SYN_SENT
		t.Errorf("php-fpm's sockets: %q", rows)
	}
	m = press(t, m, "esc", "tab")
	if s := screen(m); !strings.Contains(s, "LOCAL PORTS") || !strings.Contains(s, "PORT") {
		t.Errorf("second tab should show local ports:\n%s", s)
	}
	m = press(t, m, "tab")
	if s := screen(m); !strings.Contains(s, "PEERS") {
		t.Error("third tab should come back to peers")
	}
	n := len(m.snap.Peers)
	m = press(t, m, "G")
	if m.tableV().top().tbl.sel != n-1 {
		t.Errorf("G: sel %d, want %d", m.tableV().top().tbl.sel, n-1)
	}
	m = press(t, m, "g", "j", "j", "up")
	if m.tableV().top().tbl.sel != 1 {
		t.Errorf("g j j up: sel %d", m.tableV().top().tbl.sel)
	}
	m = press(t, m, "up", "up", "up")
	if m.tableV().top().tbl.sel != 0 {
		t.Error("up stops at the first row")
	}
}

func TestPauseAndInterval(t *testing.T) {
	m := newTUI(t, 100, 30, "mono")
	r := m.cfg.Poller.(*testPoller).r.(*fakeReader)
	reads := r.n
	m = press(t, m, "p")
	if !m.paused || !strings.Contains(screen(m), "PAUSED") {
		t.Fatal("p should pause and say so")
	}
	// A tick while paused polls nothing; a late result is dropped.
	before := m.snap
	m = send(t, m, tickMsg{seq: m.tickSeq})
	m = send(t, m, snapshotMsg{snap: model.Build(r.samples[0], nil, model.Options{})})
	if r.n != reads || m.snap != before {
		t.Error("paused monitor polled or changed its data")
	}
	// The frozen data can still be sorted.
	m = press(t, m, "c")
	if m.snap.Sample != before.Sample || m.opts.Sort.State != source.CloseWait || !strings.HasPrefix(rowsOf(m)[0], "out 127.0.0.1:6379") {
		t.Error("sorting while paused")
	}
	m = press(t, m, "space")
	if m.paused || strings.Contains(screen(m), "PAUSED") {
		t.Error("space should resume")
	}
	m = press(t, m, "+")
	if m.interval != time.Hour {
		t.Errorf("+ past the last step: %v", m.interval)
	}
	m.interval = time.Second
	m = press(t, m, "+")
	if m.interval != 2*time.Second || !strings.Contains(screen(m), "every 2s") {
		t.Errorf("+: %v", m.interval)
	}
	m = press(t, m, "-", "-")
	if m.interval != 500*time.Millisecond {
		t.Errorf("- -: %v", m.interval)
	}
}

func TestPollsNeverOverlap(t *testing.T) {
	m := newTUI(t, 100, 30, "mono")
	m.polling = true
	if _, cmd := m.Update(tickMsg{seq: m.tickSeq}); cmd != nil {
		t.Error("a tick during a poll started another poll")
	}
	// A stale tick (from before an interval change) does nothing.
	m.polling = false
	if _, cmd := m.Update(tickMsg{seq: m.tickSeq - 1}); cmd != nil {
		t.Error("a stale tick started a poll")
	}
}

func TestErrorKeepsLastSnapshot(t *testing.T) {
	r := &fakeReader{samples: tuiSamples()[:1], err: errors.New("netlink: permission denied")}
	m := New(Config{Poller: pollOf(r, nil), Interval: time.Hour, Theme: "mono"})
	m = send(t, m, tea.WindowSizeMsg{Width: 100, Height: 30})
	m = run(t, m, m.Init())
	m = send(t, m, tickMsg{seq: m.tickSeq})
	s := screen(m)
	if !strings.Contains(s, "error: netlink: permission denied") || !strings.Contains(s, "PEERS") {
		t.Errorf("error with the last good snapshot:\n%s", s)
	}
	// No snapshot at all: the error is on screen and Err reports it.
	m = New(Config{Poller: pollOf(&fakeReader{err: errors.New("inet_diag missing")}, nil), Theme: "mono"})
	m = send(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	m = run(t, m, m.Init())
	if !strings.Contains(screen(m), "inet_diag missing") || m.Err() == nil {
		t.Errorf("first poll failing:\n%s", screen(m))
	}
}

func TestHelpAndQuit(t *testing.T) {
	m := newTUI(t, 100, 30, "mono")
	m = press(t, m, "?")
	s := screen(m)
	for _, want := range []string{"Keys", "sort by CLOSE_WAIT", "filter", "drill down", "pause", "quit", "reverse"} {
		if !strings.Contains(s, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	m = press(t, m, "esc")
	if m.showHelp {
		t.Error("esc should close help")
	}
	for _, k := range []string{"q", "ctrl+c"} {
		_, cmd := m.Update(keyMsg(k))
		if cmd == nil {
			t.Fatalf("%s returned no command", k)
		}
		if _, ok := cmd().(tea.QuitMsg); !ok {
			t.Errorf("%s should quit", k)
		}
	}
}

func TestThemes(t *testing.T) {
	m := New(Config{Poller: pollOf(&fakeReader{samples: tuiSamples()}, nil), NoColor: true, Theme: "dark"})
	if m.common.Styles.Mode.String() != "mono" {
		t.Error("NO_COLOR should force mono")
	}
	m = New(Config{Poller: pollOf(&fakeReader{samples: tuiSamples()}, nil), Theme: "auto"})
	next, _ := m.Update(tea.BackgroundColorMsg{Color: whiteColor{}})
	if next.(Model).common.Styles.Mode.String() != "light" {
		t.Error("a light background should pick the light theme")
	}
	m = New(Config{Poller: pollOf(&fakeReader{samples: tuiSamples()}, nil), Theme: "dark"})
	next, _ = m.Update(tea.BackgroundColorMsg{Color: whiteColor{}})
	if next.(Model).common.Styles.Mode.String() != "dark" {
		t.Error("--theme dark should win over the background")
	}
	// ASCII bars and arrows.
	m = New(Config{Poller: pollOf(&fakeReader{samples: tuiSamples()}, nil), Theme: "mono", ASCII: true, Interval: time.Hour})
	m = send(t, m, tea.WindowSizeMsg{Width: 100, Height: 30})
	m = run(t, m, m.Init())
	s := screen(m)
	for _, r := range s {
		if r > 127 {
			t.Fatalf("ASCII mode drew %q:\n%s", r, s)
		}
	}
}

type whiteColor struct{}

func (whiteColor) RGBA() (r, g, b, a uint32) { return 0xffff, 0xffff, 0xffff, 0xffff }

func BenchmarkRender(b *testing.B) {
	m := New(Config{Poller: pollOf(&fakeReader{samples: tuiSamples()}, nil), Theme: "dark"})
	next, _ := m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	m = next.(Model)
	next, _ = m.Update(snapshotMsg{snap: model.Build(tuiSamples()[1], nil, model.Options{})})
	m = next.(Model)
	b.ReportAllocs()
	for b.Loop() {
		_ = m.View()
	}
}

// TestResizeStorm: any size, in any order, mid-poll or not, gives a frame
// of exactly that size; no panic, nothing wraps.
func TestResizeStorm(t *testing.T) {
	m := newTUI(t, 80, 24, "dark")
	sizes := [][2]int{{300, 100}, {1, 1}, {20, 5}, {56, 10}, {55, 10}, {56, 9}, {80, 24}, {2, 200}, {400, 3}, {120, 40}, {61, 12}}
	for i := range 200 {
		sizes = append(sizes, [2]int{1 + (i*37)%310, 1 + (i*53)%110})
	}
	for i, sz := range sizes {
		m = send(t, m, tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
		if i%7 == 0 {
			m = press(t, m, "j")
		}
		if i%11 == 0 {
			m = press(t, m, "enter")
		}
		if i%13 == 0 {
			m = press(t, m, "esc")
		}
		// The monitor draws in at most MaxWidth x MaxHeight cells.
		wantW, wantH := min(sz[0], MaxWidth), min(sz[1], MaxHeight)
		lines := strings.Split(screen(m), "\n")
		if len(lines) != wantH {
			t.Fatalf("%dx%d: %d lines", sz[0], sz[1], len(lines))
		}
		for j, l := range lines {
			if w := ansi.StringWidth(l); w != wantW {
				t.Fatalf("%dx%d: line %d is %d wide: %q", sz[0], sz[1], j, w, l)
			}
		}
	}
}

func TestMissingCounters(t *testing.T) {
	samples := tuiSamples()
	for _, s := range samples {
		s.Counters = nil
		s.Sysctl = source.Sysctls{}
	}
	m := New(Config{Poller: pollOf(&fakeReader{samples: samples}, nil), Interval: time.Hour, Theme: "mono"})
	m = send(t, m, tea.WindowSizeMsg{Width: 100, Height: 30})
	m = run(t, m, m.Init())
	s := screen(m)
	for _, want := range []string{"overflow counters unavailable", "ephemeral range unavailable"} {
		if !strings.Contains(s, want) {
			t.Errorf("screen lacks %q:\n%s", want, s)
		}
	}
}

// BoundScreen caps the size bubbletea's renderer sees (issue 20 item 12)
// and lets every other message through unchanged.
func TestBoundScreen(t *testing.T) {
	for _, c := range [][4]int{{2000, 500, MaxWidth, MaxHeight}, {120, 40, 120, 40}, {2000, 40, MaxWidth, 40}, {80, 900, 80, MaxHeight}} {
		got := BoundScreen(nil, tea.WindowSizeMsg{Width: c[0], Height: c[1]})
		if want := (tea.WindowSizeMsg{Width: c[2], Height: c[3]}); got != want {
			t.Errorf("BoundScreen(%dx%d) = %v, want %v", c[0], c[1], got, want)
		}
	}
	if got := BoundScreen(nil, tickMsg{seq: 3}); got != (tickMsg{seq: 3}) {
		t.Errorf("BoundScreen(tickMsg) = %v", got)
	}
}

// TestTickKeepsFrame: the poll timer's tick, which only starts a poll,
// draws nothing new: View hands back the last frame instead of drawing
// the same screen again; the frame it keeps is the one drawing would
// give; any other message draws anew.
func TestTickKeepsFrame(t *testing.T) {
	m := newTUI(t, 120, 40, "")
	v1 := m.View()
	next, cmd := m.Update(tickMsg{seq: m.tickSeq})
	if cmd == nil {
		t.Fatal("the tick started no poll")
	}
	m = next.(Model)
	v2 := m.View()
	if unsafe.StringData(v2.Content) != unsafe.StringData(v1.Content) {
		t.Error("the tick's View drew the screen again")
	}
	if got, want := v2.Content, m.view().Content; got != want {
		t.Errorf("the kept frame is not the one drawing gives after the tick:\n%s\nwant\n%s", ansi.Strip(got), ansi.Strip(want))
	}
	m = run(t, m, cmd) // the poll's snapshot
	m = press(t, m, "?")
	if v3 := m.View(); unsafe.StringData(v3.Content) == unsafe.StringData(v1.Content) || v3.Content == v1.Content {
		t.Error("the help key's View kept the old frame")
	}
}
