package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/tcptop/tcptop/internal/fixture"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/tcptop/tcptop/format"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

// quietSamples are the polls without a full queue (fixture.QuietPolls).
func quietSamples() []*source.Sample { return fixture.QuietPolls() }

// tuiWith is a monitor at w x h that has polled both samples.
func tuiWith(t *testing.T, samples []*source.Sample, th *model.Thresholds, w, h int) Model {
	t.Helper()
	m := New(Config{Poller: pollOf(&fakeReader{samples: samples}, th), Interval: time.Hour, Theme: "mono"})
	m = send(t, m, tea.WindowSizeMsg{Width: w, Height: h})
	m = run(t, m, m.Init())
	return send(t, m, tickMsg{seq: m.tickSeq})
}

func lines(m Model) []string { return strings.Split(screen(m), "\n") }

func TestPollsGoThroughTheAnalyzer(t *testing.T) {
	m := newTUI(t, 100, 30, "mono")
	if len(m.snap.History) != 2 || len(m.snap.Findings) != 4 {
		t.Fatalf("history %d, findings %d: want 2 and 4", len(m.snap.History), len(m.snap.Findings))
	}
	// A new sort rebuilds without polling and keeps the findings.
	before := m.snap
	m = press(t, m, "c")
	if m.snap == before || m.snap.Sample != before.Sample || len(m.snap.Findings) != 4 || len(m.snap.History) != 2 {
		t.Errorf("a rebuild lost the findings or history: %d findings", len(m.snap.Findings))
	}
}

func TestFindingsStrip(t *testing.T) {
	m := newTUI(t, 80, 24, "mono")
	l := lines(m)
	if !strings.HasPrefix(l[1], " CRIT  Accept queue full on 0.0.0.0:80") ||
		!strings.HasPrefix(l[2], " CRIT  CLOSE_WAIT leak: php-fpm[20]") ||
		!strings.HasPrefix(l[3], " WARN  Ephemeral ports to 192.0.2.10:443") {
		t.Errorf("strip, most severe first:\n%s", strings.Join(l[:5], "\n"))
	}
	if !strings.HasSuffix(strings.TrimSpace(l[3]), "+1 more (f)") || !strings.HasPrefix(l[4], "ESTABLISHED") {
		t.Errorf("three lines at 80x24, the last saying what is left:\n%s", strings.Join(l[:5], "\n"))
	}
	// Short screens give the strip fewer lines; tall ones more.
	m = send(t, m, tea.WindowSizeMsg{Width: 80, Height: 12})
	if l := lines(m); !strings.Contains(l[1], "+3 more (f)") || strings.HasPrefix(l[2], " ") {
		t.Errorf("one line at 80x12:\n%s", screen(m))
	}
	m = send(t, m, tea.WindowSizeMsg{Width: 120, Height: 40})
	if l := lines(m); !strings.HasPrefix(l[4], " WARN  Connects to 198.51.100.7:5432") || strings.Contains(screen(m), "more (f)") {
		t.Errorf("all four at 120x40:\n%s", screen(m))
	}
	// The table stays usable at 80x24: all four peers are listed.
	m = send(t, m, tea.WindowSizeMsg{Width: 80, Height: 24})
	if rows := rowsOf(m); len(rows) != 4 {
		t.Errorf("table rows under the strip: %q", rows)
	}
	// No findings: no strip, no empty line.
	m = tuiWith(t, quietSamples(), nil, 80, 24)
	if len(m.snap.Findings) != 0 {
		t.Fatalf("quiet samples have findings: %+v", m.snap.Findings)
	}
	if l := lines(m); !strings.HasPrefix(l[1], "ESTABLISHED") {
		t.Errorf("no findings should leave no line:\n%s", screen(m))
	}
}

func TestFindingsView(t *testing.T) {
	m := newTUI(t, 80, 24, "mono")
	m = press(t, m, "f")
	s := screen(m)
	for _, want := range []string{
		"FINDINGS 4  2 critical, 2 warning", "lines 1-21 of",
		" CRIT  Accept queue full on 0.0.0.0:80 (129/128)",
		"· 129 connections wait for accept() on a backlog of 128", // evidence
		"→ Raise net.core.somaxconn (now 128) AND restart",        // advice
		"enter go to the subject", "esc back",                     // footer
	} {
		if !strings.Contains(s, want) {
			t.Errorf("findings view lacks %q:\n%s", want, s)
		}
	}
	if m.focused() != "findings" || m.findingsV().sel != 0 {
		t.Fatalf("mode %v sel %d", m.focused(), m.findingsV().sel)
	}
	// The selected title is reverse video.
	if !strings.Contains(m.View().Content, "\x1b[7mAccept queue full") {
		t.Errorf("the selected finding is not highlighted:\n%q", m.View().Content)
	}
	// Down selects the next finding and scrolls its block into view.
	m = press(t, m, "down")
	if m.findingsV().sel != 1 || !strings.Contains(screen(m), "open files 900 of its limit 1,024") {
		t.Errorf("down: sel %d\n%s", m.findingsV().sel, screen(m))
	}
	// Page down moves on; the selection follows onto the screen.
	m = press(t, m, "pgdown")
	if title := " " + sevLabel(m.snap.Findings[m.findingsV().sel].Severity) + " " + m.snap.Findings[m.findingsV().sel].Title.String(); !strings.Contains(screen(m), strings.TrimSpace(title)) {
		t.Errorf("after pgdown the selected finding (%d) is off screen:\n%s", m.findingsV().sel, screen(m))
	}
	m = press(t, m, "G")
	if m.findingsV().sel != 3 || !strings.Contains(screen(m), "Connects to 198.51.100.7:5432") {
		t.Errorf("G: sel %d", m.findingsV().sel)
	}
	// f and esc go back to the table, where the strip is.
	m = press(t, m, "f")
	if m.focused() != "table" || !strings.Contains(screen(m), "PEERS") {
		t.Error("f in the findings view should close it")
	}
	m = press(t, m, "f", "esc")
	if m.focused() != "table" || !strings.Contains(screen(m), "PEERS") {
		t.Error("esc should close the findings view")
	}
	// f reopens at the top.
	m = press(t, m, "f")
	if m.findingsV().sel != 0 || m.findingsV().offset != 0 {
		t.Errorf("reopened at sel %d offset %d", m.findingsV().sel, m.findingsV().offset)
	}
	// A new poll keeps the selection on the same finding, wherever it is
	// listed (the overflows stopped rising this poll; the full queue stays
	// critical while they rose within the last polls).
	m = press(t, m, "down")
	m = send(t, m, tickMsg{seq: m.tickSeq})
	if f := m.snap.Findings[m.findingsV().sel]; f.Rule != model.RuleCloseWaitLeak || m.focused() != "findings" {
		t.Errorf("a refresh moved the selection to %d (%s)", m.findingsV().sel, f.Rule)
	}
}

func TestFindingsJump(t *testing.T) {
	m := newTUI(t, 100, 30, "mono")
	for _, tc := range []struct {
		keys    []string
		view    string
		key     string
		crumb   string
		rowText string
	}{
		{[]string{"f", "enter"}, "Local ports", "80", "LOCAL PORTS", "80 yes"},                   // listener
		{[]string{"f", "down", "enter"}, "Processes", "20", "PROCESSES", "20 php-fpm"},           // process
		{[]string{"f", "down", "down", "enter"}, "Peers", "out 192.0.2.10:443", "PEERS", ""},     // destination
		{[]string{"f", "G", "enter"}, "Peers", "out 198.51.100.7:5432", "PEERS", "198.51.100.7"}, // peer
	} {
		m = press(t, m, "tab") // start elsewhere
		m = press(t, m, tc.keys...)
		lv := m.tableV().top()
		if m.focused() != "table" || len(m.tableV().levels) != 1 || lv.kind.name() != tc.view || !strings.HasPrefix(lv.tbl.selKey, tc.key) {
			t.Errorf("%v: mode %v view %v selected %q, want view %v row %q", tc.keys, m.focused(), lv.kind.name(), lv.tbl.selKey, tc.view, tc.key)
			continue
		}
		if topLevels[m.tableV().view]().name() != tc.view || !strings.Contains(screen(m), tc.crumb) {
			t.Errorf("%v: the tab view is %v:\n%s", tc.keys, topLevels[m.tableV().view]().name(), screen(m))
		}
		// The selected row is the one highlighted.
		for _, l := range strings.Split(m.View().Content, "\n") {
			if strings.HasPrefix(l, "\x1b[7m") && !strings.Contains(l, tc.rowText) {
				t.Errorf("%v: highlighted row %q", tc.keys, ansi.Strip(l))
			}
		}
	}
	// A subject the filter hides: the filter is cleared, the row selected.
	m = press(t, m, "/")
	m = typeText(t, m, "port:6379")
	m = press(t, m, "enter", "f", "G", "enter")
	if !m.opts.Filter.Empty() || !strings.HasPrefix(m.tableV().top().tbl.selKey, "out 198.51.100.7:5432") {
		t.Errorf("jump through a filter: filter %q, selected %q", m.opts.Filter.String(), m.tableV().top().tbl.selKey)
	}
	if s := screen(m); !strings.Contains(s, "filter port:6379 cleared to show 198.51.100.7:5432") {
		t.Errorf("the footer should say the filter was cleared:\n%s", s)
	}
	// The notice goes with the next key.
	m = press(t, m, "down")
	if strings.Contains(screen(m), "cleared") {
		t.Error("the notice outlived the next key")
	}
}

func TestFindingsJumpHost(t *testing.T) {
	// Overflows rising with no listener full: a finding about the host.
	ss := quietSamples()
	ss[0].Counters["ListenOverflows"], ss[0].Counters["ListenDrops"] = 40, 40
	m := tuiWith(t, ss, nil, 100, 30)
	if len(m.snap.Findings) != 1 || m.snap.Findings[0].Subject.Kind != model.SubjectHost {
		t.Fatalf("want one host finding: %+v", m.snap.Findings)
	}
	m = press(t, m, "f")
	if !strings.Contains(screen(m), "→ the whole host") {
		t.Errorf("the title should say what the finding is about:\n%s", screen(m))
	}
	m = press(t, m, "enter")
	if m.focused() != "findings" || !strings.Contains(screen(m), "about the whole host") {
		t.Errorf("enter on a host finding: mode %v\n%s", m.focused(), screen(m))
	}
	// No findings: the view says so.
	m = tuiWith(t, quietSamples(), nil, 100, 30)
	m = press(t, m, "f")
	if !strings.Contains(screen(m), "no findings") {
		t.Errorf("empty findings view:\n%s", screen(m))
	}
	m = press(t, m, "enter", "down", "G")
	if m.focused() != "findings" {
		t.Error("keys on an empty findings view")
	}
}

func TestKernelView(t *testing.T) {
	m := newTUI(t, 80, 24, "mono")
	m = press(t, m, "K")
	s := screen(m)
	for _, want := range []string{"KERNEL", "TUNABLES", "net.core.somaxconn", "128", "caps every listen() backlog", "(unreadable)", "scroll"} {
		if !strings.Contains(s, want) {
			t.Errorf("kernel view lacks %q:\n%s", want, s)
		}
	}
	if m.focused() != "kernel" {
		t.Fatal("K should open the kernel view")
	}
	m = press(t, m, "G")
	s = screen(m)
	ov, ao := strings.Index(s, "ListenOverflows"), strings.Index(s, "ActiveOpens")
	if m.kernelV().offset == 0 || ov < 0 || ao < ov || !strings.Contains(s, "+2.0/s") || !strings.Contains(s, "connections dropped: a listener's") {
		t.Errorf("the counters at the end, moving and named first (offset %d):\n%s", m.kernelV().offset, s)
	}
	m = press(t, m, "g")
	if m.kernelV().offset != 0 {
		t.Error("g should go back to the top")
	}
	m = press(t, m, "down", "down")
	if m.kernelV().offset != 2 {
		t.Errorf("down down: offset %d", m.kernelV().offset)
	}
	m = press(t, m, "up", "up", "up")
	if m.kernelV().offset != 0 {
		t.Errorf("up stops at the top: offset %d", m.kernelV().offset)
	}
	// K again, or esc, goes back; f goes to the findings.
	m = press(t, m, "K")
	if m.focused() != "table" {
		t.Error("K should close the kernel view")
	}
	m = press(t, m, "K", "f")
	if m.focused() != "findings" {
		t.Error("f from the kernel view should open the findings")
	}
	m = press(t, m, "K", "esc")
	if m.focused() != "table" {
		t.Error("esc should close the kernel view")
	}
	// Help works over the views and returns to them.
	m = press(t, m, "K", "?")
	if !strings.Contains(screen(m), "kernel: tunables, counters") || !strings.Contains(screen(m), "findings: evidence, advice") {
		t.Errorf("help lacks f and k:\n%s", screen(m))
	}
	m = press(t, m, "esc")
	if m.showHelp || m.focused() != "kernel" {
		t.Error("esc should close the help and stay in the kernel view")
	}
	// Pause works in the views too.
	m = press(t, m, "p")
	if !m.paused || !strings.Contains(screen(m), "PAUSED") {
		t.Error("p in the kernel view")
	}
}

func TestViewsASCII(t *testing.T) {
	m := New(Config{Poller: pollOf(&fakeReader{samples: tuiSamples()}, tuiThresholds(t)), Theme: "mono", ASCII: true, Interval: time.Hour})
	m = send(t, m, tea.WindowSizeMsg{Width: 100, Height: 30})
	m = run(t, m, m.Init())
	m = send(t, m, tickMsg{seq: m.tickSeq})
	for _, keys := range [][]string{nil, {"f"}, {"f", "G"}, {"K"}, {"K", "G"}, {"esc", "tab", "enter"}} {
		m = press(t, m, keys...)
		for _, r := range screen(m) {
			if r > 127 {
				t.Fatalf("after %v ASCII mode drew %q:\n%s", keys, r, screen(m))
			}
		}
	}
}

func TestSocketAgesAndFDs(t *testing.T) {
	m := newTUI(t, 100, 30, "mono")
	m = press(t, m, "tab")
	if s := screen(m); !strings.Contains(s, "FDS") || !strings.Contains(s, "900/1,024") || !strings.Contains(s, "12/1,024") {
		t.Errorf("processes lack open files:\n%s", s)
	}
	m = press(t, m, "c", "enter")
	s := screen(m)
	if !strings.Contains(s, "php-fpm[20]") || !strings.Contains(s, "open files 900/1,024") || !strings.Contains(s, "AGE") {
		t.Fatalf("process drill-down:\n%s", s)
	}
	ages := map[string]string{}
	for _, r := range rowsOf(m) {
		f := strings.Fields(r)
		ages[f[0]] = f[3]
	}
	// 35000 was there at the first poll (so at least as old as tcptop's
	// watch), 35001 appeared since.
	if ages["127.0.0.1:35000"] != "1.0s+" || ages["127.0.0.1:35001"] != "new" {
		t.Errorf("ages: %v", ages)
	}
	// TIME_WAIT ages come from the timer: 60 s minus what is left.
	m = press(t, m, "esc", "G", "enter")
	for _, r := range rowsOf(m) {
		if f := strings.Fields(r); strings.Contains(r, "TIME_WAIT") && f[0] == "10.0.0.1:33000" && f[3] != "40s" {
			t.Errorf("TIME_WAIT age: %q", r)
		}
	}
}

func TestSparkline(t *testing.T) {
	m := newTUI(t, 80, 24, "mono")
	for _, l := range lines(m) {
		if strings.HasPrefix(l, "TIME_WAIT") && !strings.HasSuffix(l, "▅█ ") {
			t.Errorf("TIME_WAIT row lacks its sparkline: %q", l)
		}
		if strings.HasPrefix(l, "ESTABLISHED") && strings.ContainsAny(l, "▁▂▃▄▅▆▇") {
			t.Errorf("only TIME_WAIT and CLOSE_WAIT get sparklines: %q", l)
		}
	}
}

func TestFDHelpers(t *testing.T) {
	utf, asc := format.GlyphsFor(false), format.GlyphsFor(true)
	for _, tc := range []struct {
		fds   int
		limit int64
		want  string
	}{{12, 1024, "12/1,024"}, {12, -1, "12/∞"}, {12, 0, "12"}, {-1, 1024, ""}, {0, 0, ""}} {
		if got := fdText(tc.fds, tc.limit, utf); got != tc.want {
			t.Errorf("fdText(%d, %d) = %q, want %q", tc.fds, tc.limit, got, tc.want)
		}
	}
	if fdText(3, -1, asc) != "3/inf" {
		t.Error("fdText ascii")
	}
	st := newTUI(t, 80, 24, "dark").common.Styles
	if fdStyle(&st, 900, 1024) != &st.Crit || fdStyle(&st, 700, 1024) != &st.Warn || fdStyle(&st, 12, 1024) != nil || fdStyle(&st, 12, 0) != nil || fdStyle(&st, 12, -1) != nil {
		t.Error("fdStyle")
	}
}

// TestViewsResize: the findings and kernel views fill any size exactly.
func TestViewsResize(t *testing.T) {
	m := newTUI(t, 80, 24, "dark")
	for _, view := range []string{"f", "K"} {
		m = press(t, m, "esc", view)
		for i, sz := range [][2]int{{56, 10}, {300, 100}, {57, 11}, {80, 24}, {120, 40}, {61, 12}, {200, 15}} {
			m = send(t, m, tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
			if i%2 == 0 {
				m = press(t, m, "G")
			} else {
				m = press(t, m, "pgup", "down")
			}
			l := lines(m)
			if len(l) != sz[1] {
				t.Fatalf("%s %dx%d: %d lines", view, sz[0], sz[1], len(l))
			}
			for j, s := range l {
				if w := ansi.StringWidth(s); w != sz[0] {
					t.Fatalf("%s %dx%d: line %d is %d wide: %q", view, sz[0], sz[1], j, w, s)
				}
			}
		}
	}
}
