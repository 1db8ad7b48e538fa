package ui

// Issue 17: the monitor under pressure. One test (or more) per numbered
// item, each failing on the monitor before the issue.

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

// crowd is a sample of n outgoing peers 198.51.100.i:443; peer i holds
// counts(i) sockets in each state.
func crowd(n int, counts func(i int) map[source.State]int) *source.Sample {
	s := sample()
	port := 20000
	for i := range n {
		remote := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)}), 443)
		for st, c := range counts(i) {
			for range c {
				port++
				s.Sockets = append(s.Sockets, source.Socket{State: st, Local: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(port)),
					Remote: remote, Inode: uint32(port), Owners: []int32{20}, Cookie: uint64(port)})
			}
		}
	}
	return s
}

// monitorOf is a monitor at w x h over a reader it returns, with opts;
// it has taken the reader's first sample.
func monitorOf(t *testing.T, r *fakeReader, opts model.Options, w, h int) Model {
	t.Helper()
	m := New(Config{Poller: pollOf(r, nil), Interval: time.Hour, Theme: "mono", Options: opts})
	m = send(t, m, tea.WindowSizeMsg{Width: w, Height: h})
	return run(t, m, m.Init())
}

// poll has the monitor take the reader's next sample.
func poll(t *testing.T, m Model) Model {
	t.Helper()
	return send(t, m, tickMsg{seq: m.tickSeq})
}

// lineOf is the index of the first screen line starting with prefix, -1.
func lineOf(m Model, prefix string) int {
	for i, l := range lines(m) {
		if strings.HasPrefix(strings.TrimSpace(l), prefix) {
			return i
		}
	}
	return -1
}

// Item 1: the parse error shows next to the input even at 200 columns, a
// half-typed key is not applied, the previous filter stays meanwhile.
func TestFilterErrorVisibleAndNothingHalfTyped(t *testing.T) {
	m := tuiWith(t, tuiSamples(), tuiThresholds(t), 200, 60)
	m = press(t, m, "/")
	m = typeText(t, m, "proc:php")
	m = press(t, m, "enter")
	if m.opts.Filter.String() != "proc:php" {
		t.Fatalf("filter %q", m.opts.Filter.String())
	}
	m = press(t, m, "/")
	for range len("proc:php") {
		m = press(t, m, "backspace")
	}
	m = typeText(t, m, "state")
	if got := m.opts.Filter.String(); got != "proc:php" && got != "" {
		t.Errorf("the half-typed key %q was applied as a word", got)
	}
	if got := m.opts.Filter.String(); got == "state" {
		t.Errorf("bare word state applied")
	}
	foot := lines(m)[59]
	if !strings.Contains(foot, "state:") {
		t.Errorf("no hint that state is a key being typed:\n%s", foot)
	}
	m = typeText(t, m, ":bogus")
	foot = lines(m)[59]
	if !strings.Contains(foot, `"bogus" is not a TCP state`) {
		t.Errorf("the parse error is not on the status line:\n%q", foot)
	}
	if strings.Contains(screen(m), "no processes match") || strings.Contains(screen(m), "no peers match") {
		t.Errorf("a bad filter emptied the table:\n%s", screen(m))
	}
	m = press(t, m, "backspace", "backspace", "backspace", "backspace", "backspace")
	m = typeText(t, m, "CLOSE_WAIT")
	if m.opts.Filter.String() != "state:CLOSE_WAIT" {
		t.Errorf("a filter that parses should apply: %q", m.opts.Filter.String())
	}
	// Enter applies a bare word on purpose.
	m = press(t, m, "esc", "/")
	m = typeText(t, m, "php")
	m = press(t, m, "enter")
	if m.opts.Filter.String() != "php" {
		t.Errorf("enter should apply a word: %q", m.opts.Filter.String())
	}
}

// Item 2: the title says which rows are on screen, and a new poll that
// moves the selected first row down does not scroll the top rows away.
func TestPositionAndTopRowsStay(t *testing.T) {
	a := crowd(15, func(i int) map[source.State]int { return map[source.State]int{source.CloseWait: 30 - i} })
	b := crowd(15, func(i int) map[source.State]int {
		if i == 0 {
			return map[source.State]int{source.CloseWait: 1}
		}
		return map[source.State]int{source.CloseWait: 30 - i}
	})
	b.Time = a.Time.Add(time.Second)
	r := &fakeReader{samples: []*source.Sample{a, b}}
	m := monitorOf(t, r, model.Options{Sort: model.SortKey{State: source.CloseWait}}, 80, 24)
	s := screen(m)
	if !strings.Contains(s, "[1–") || !strings.Contains(s, "/18]") || !strings.Contains(s, "▼") {
		t.Errorf("the title lacks the position and the mark for rows below:\n%s", s)
	}
	m = poll(t, m)
	tbl := m.tableV().top().tbl
	if tbl.sel != 0 || tbl.offset != 0 {
		t.Errorf("the selection on row 1 followed its row down: sel %d offset %d", tbl.sel, tbl.offset)
	}
	if rows := rowsOf(m); len(rows) == 0 || !strings.Contains(rows[0], "198.51.100.2:443") {
		t.Errorf("the top row is not on screen:\n%s", screen(m))
	}
	m = press(t, m, "G")
	if s := screen(m); !strings.Contains(s, "/18] ▲") {
		t.Errorf("the title lacks the mark for rows above:\n%s", s)
	}
	// A resize keeps the top when the selection is on row 1.
	m = press(t, m, "g")
	for _, sz := range [][2]int{{80, 12}, {120, 40}, {80, 24}} {
		m = send(t, m, tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
		if tbl := m.tableV().top().tbl; tbl.offset != 0 {
			t.Errorf("%dx%d: offset %d", sz[0], sz[1], tbl.offset)
		}
	}
}

// Item 3: at 80 columns the state columns are those carrying most, the
// sort column always, and every row adds up to its TOTAL.
func TestStateColumnsCarryTheMost(t *testing.T) {
	s := crowd(4, func(i int) map[source.State]int {
		return map[source.State]int{source.FinWait2: 346 - i, source.SynSent: 1, source.FinWait1: 2, source.LastAck: 3}
	})
	m := monitorOf(t, &fakeReader{samples: []*source.Sample{s}}, model.Options{Sort: model.SortKey{State: source.CloseWait}}, 80, 24)
	head := lines(m)[lineOf(m, "DIR ")]
	for _, want := range []string{"FIN_W2", "CLOSE_W▼", "TOTAL"} {
		if !strings.Contains(head, want) {
			t.Errorf("header lacks %s: %q", want, head)
		}
	}
	for _, row := range rowsOf(m) {
		f := strings.Fields(row)
		if !strings.HasPrefix(f[1], "198.51.100.") {
			continue
		}
		sum, total := 0, 0
		nums := []int{}
		for _, c := range f[2:] {
			if n, err := strconv.Atoi(strings.ReplaceAll(c, ",", "")); err == nil {
				nums = append(nums, n)
			}
		}
		for _, n := range nums[:len(nums)-1] {
			sum += n
		}
		total = nums[len(nums)-1]
		if sum != total {
			t.Errorf("row does not add up (%d of %d): %q in\n%s", sum, total, row, head)
		}
	}
}

// Item 4: panels keep their place while transient states and findings
// come and go.
func TestPanelsKeepTheirPlace(t *testing.T) {
	for _, sz := range [][2]int{{80, 24}, {120, 40}} {
		a, b := tuiSamples()[1], tuiSamples()[1]
		b.Sockets = b.Sockets[:len(b.Sockets)-1] // the SYN_SENT socket is gone
		b.Time = a.Time.Add(time.Second)
		r := &fakeReader{samples: []*source.Sample{a, b}}
		m := New(Config{Poller: pollOf(r, tuiThresholds(t)), Interval: time.Hour, Theme: "mono"})
		m = send(t, m, tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
		m = run(t, m, m.Init())
		ports, title := lineOf(m, "PORTS"), lineOf(m, "PEERS")
		m = poll(t, m)
		if m.snap.States[source.SynSent] != 0 {
			t.Fatal("fixture: SYN_SENT should be gone")
		}
		if lineOf(m, "SYN_SENT") < 0 {
			t.Errorf("%v: the SYN_SENT row left the histogram", sz)
		}
		if p, ti := lineOf(m, "PORTS"), lineOf(m, "PEERS"); p != ports || ti != title {
			t.Errorf("%v: PORTS moved %d->%d, the title %d->%d:\n%s", sz, ports, p, title, ti, screen(m))
		}
	}
}

// Item 5: k moves up, K opens the kernel view, the htop function keys,
// search apart from the filter (also in the kernel view), and a word for
// an unknown key.
func TestKeysHabits(t *testing.T) {
	m := newTUI(t, 100, 30, "mono")
	m = press(t, m, "j", "j", "k")
	if m.focused() != "table" || m.tableV().top().tbl.sel != 1 {
		t.Fatalf("j j k: focus %s, row %d", m.focused(), m.tableV().top().tbl.sel)
	}
	m = press(t, m, "K")
	if m.focused() != "kernel" {
		t.Fatal("K should open the kernel view")
	}
	// Search in the kernel view: the line is found and marked.
	m = send(t, m, tea.KeyPressMsg{Code: tea.KeyF3})
	m = typeText(t, m, "ListenDrops")
	m = press(t, m, "enter")
	doc := kernelDoc(&m.common.Styles, m.common.Glyphs, m.snap, 100)
	if kv := m.kernelV(); kv.hit < 0 || !strings.Contains(doc[kv.hit], "ListenDrops") || !strings.Contains(screen(m), "ListenDrops") {
		t.Errorf("search in the kernel view did not bring ListenDrops to the top:\n%s", screen(m))
	}
	m = press(t, m, "esc")

	// F1 help, F10 quit.
	m = send(t, m, tea.KeyPressMsg{Code: tea.KeyF1})
	if !m.showHelp {
		t.Error("F1 should open the help")
	}
	m = press(t, m, "esc")
	if _, cmd := m.Update(tea.KeyPressMsg{Code: tea.KeyF10}); cmd == nil {
		t.Error("F10 should quit")
	} else if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Error("F10 should quit")
	}
	// F4 filters, F3 searches: the search keeps every row.
	all := len(rowsOf(m))
	m = send(t, m, tea.KeyPressMsg{Code: tea.KeyF3})
	m = typeText(t, m, "6379")
	m = press(t, m, "enter")
	if len(rowsOf(m)) != all || !m.opts.Filter.Empty() {
		t.Error("search should keep every row")
	}
	if sel := rowsOf(m)[m.tableV().top().tbl.sel]; !strings.Contains(sel, "6379") {
		t.Errorf("search selected %q", sel)
	}
	m = press(t, m, "s")
	m = typeText(t, m, "php-fpm")
	m = press(t, m, "enter")
	first := m.tableV().top().tbl.sel
	m = press(t, m, "n")
	second := m.tableV().top().tbl.sel
	m = press(t, m, "N")
	if first == second || m.tableV().top().tbl.sel != first {
		t.Errorf("n/N: %d, %d, back to %d", first, second, m.tableV().top().tbl.sel)
	}
	m = send(t, m, tea.KeyPressMsg{Code: tea.KeyF4})
	if !m.filtering {
		t.Error("F4 should open the filter")
	}
	m = press(t, m, "esc")
	// F6: the sort picker.
	m = send(t, m, tea.KeyPressMsg{Code: tea.KeyF6})
	if m.focused() != "sort" || !strings.Contains(screen(m), "FIN_WAIT2") {
		t.Fatalf("F6 should list the sort columns:\n%s", screen(m))
	}
	m = press(t, m, "g", "down", "enter")
	if m.focused() != "table" || m.opts.Sort.State != source.TimeWait {
		t.Errorf("picker: focus %s, sort %v", m.focused(), m.opts.Sort)
	}
	// F9 is htop's kill; this monitor has no live kernel to act on.
	m = send(t, m, tea.KeyPressMsg{Code: tea.KeyF9})
	if !strings.Contains(lines(m)[29], "actions are off") {
		t.Errorf("F9:\n%s", lines(m)[29])
	}
	// An unknown key says so.
	m = press(t, m, "z")
	if !strings.Contains(lines(m)[29], "key z does nothing here") {
		t.Errorf("unknown key:\n%s", lines(m)[29])
	}
	m = press(t, m, "down")
	if strings.Contains(lines(m)[29], "does nothing") {
		t.Error("the hint should go with the next key")
	}
}

// Item 5: findings' key hints come from the monitor's key map.
func TestFindingKeyHintsFollowTheKeyMap(t *testing.T) {
	m := newTUI(t, 120, 40, "mono")
	m.common.Keys.Faster.SetHelp("F", "shorter refresh interval")
	doc, _ := findingDoc(m.snap.Findings, 120, m.common.Glyphs, &m.common.Keys)
	var all []string
	for _, l := range doc {
		all = append(all, l.text)
	}
	if s := strings.Join(all, "\n"); !strings.Contains(s, "(F)") || strings.Contains(s, "(-)") {
		t.Errorf("the findings do not name the key map's key:\n%s", s)
	}
}

// Item 6: the mouse.
func TestMouse(t *testing.T) {
	// A loaded machine (or -race) may take longer than a hand between two
	// clicks.
	saved := doubleClick
	doubleClick = time.Minute
	t.Cleanup(func() { doubleClick = saved })
	m := newTUI(t, 100, 30, "mono")
	if m.View().MouseMode == tea.MouseModeNone {
		t.Fatal("mouse mode is off")
	}
	head := lineOf(m, "DIR ")
	click := func(m Model, x, y int) Model {
		m = send(t, m, tea.MouseClickMsg{X: x, Y: y, Button: tea.MouseLeft})
		return send(t, m, tea.MouseReleaseMsg{X: x, Y: y, Button: tea.MouseLeft})
	}
	m = click(m, 5, head+3)
	if m.tableV().top().tbl.sel != 2 {
		t.Errorf("click selected row %d, want 2", m.tableV().top().tbl.sel)
	}
	m = click(m, 5, head+3)
	if len(m.tableV().levels) != 2 {
		t.Errorf("double click should drill down:\n%s", screen(m))
	}
	m = press(t, m, "esc")
	m = send(t, m, tea.MouseWheelMsg{X: 5, Y: head + 2, Button: tea.MouseWheelUp})
	if m.tableV().top().tbl.sel != 0 {
		t.Errorf("wheel up: row %d", m.tableV().top().tbl.sel)
	}
	x := strings.Index(lines(m)[head], "CLOSE_W")
	m = click(m, x+1, head)
	if m.opts.Sort.State != source.CloseWait || m.opts.Sort.Reverse {
		t.Errorf("header click: sort %v", m.opts.Sort)
	}
	x = strings.Index(lines(m)[head], "CLOSE_W")
	m = click(m, x+1, head)
	if m.opts.Sort.State != source.CloseWait || !m.opts.Sort.Reverse {
		t.Errorf("second header click should reverse: sort %v", m.opts.Sort)
	}
	// The second line of the findings strip opens that finding.
	m = click(m, 10, 2)
	if m.focused() != "findings" || m.findingsV().sel != 1 {
		t.Errorf("strip click: focus %s, finding %d", m.focused(), m.findingsV().sel)
	}
	// Clicks on the header or the status line do nothing.
	m = click(m, 1, 0)
	m = click(m, 1, 29)
	if m.focused() != "findings" {
		t.Error("clicks outside the view")
	}
}

// Item 7: cut text keeps what matters.
func TestCutTextKeepsWhatMatters(t *testing.T) {
	s := sample()
	v6 := func(last string, port uint16) netip.AddrPort {
		return netip.AddrPortFrom(netip.MustParseAddr("2001:db8:aaaa:bbbb:cccc:dddd:eeee:"+last), port)
	}
	s.Sockets = append(s.Sockets,
		source.Socket{State: source.Established, Local: v6("1", 40000), Remote: v6("1001", 443), Inode: 90, Owners: []int32{30}},
		source.Socket{State: source.Established, Local: v6("1", 40001), Remote: v6("1002", 8443), Inode: 91, Owners: []int32{30}},
		source.Socket{State: source.Listen, Local: v6("ffff", 8443), Remote: netip.MustParseAddrPort("[::]:0"), Inode: 92, Owners: []int32{30}},
		source.Socket{State: source.Listen, Local: netip.MustParseAddrPort("0.0.0.0:32800"), Remote: netip.MustParseAddrPort("0.0.0.0:0"), Inode: 93, Owners: []int32{10}, SendQ: 128},
	)
	s.Procs[30] = &source.Process{PID: 30, Name: "python3", User: "app",
		Cmdline: "/root/.pyenv/versions/3.11.7/bin/python3 /srv/app/worker.py --queue high"}
	m := monitorOf(t, &fakeReader{samples: []*source.Sample{s}}, model.Options{}, 80, 24)
	sc := screen(m)
	for _, want := range []string{"1001]:443", "1002]:8443"} {
		if !strings.Contains(sc, want) {
			t.Errorf("the peers lack %s (cut from the right?):\n%s", want, sc)
		}
	}
	if !strings.HasPrefix(lines(m)[0], "tcptop ") {
		t.Errorf("the header lost its name: %q", lines(m)[0])
	}
	if foot := strings.TrimRight(lines(m)[23], " "); strings.HasSuffix(foot, "…") {
		t.Errorf("the footer ends in an ellipsis: %q", foot)
	}
	// The listeners: flags whole, the long one does not narrow the others.
	for _, l := range lines(m) {
		if !strings.HasPrefix(l, "  ") {
			continue // the listeners' rows
		}
		if strings.Contains(l, "0.0.0.0:80 ") && !strings.Contains(l, "nginx[10]") {
			t.Errorf("a long listener narrowed nginx's row: %q", l)
		}
		if strings.Contains(l, "0.0.0.0:32800") && !strings.Contains(l, "in-ephemeral") {
			t.Errorf("the flag is cut: %q", l)
		}
		if strings.Contains(l, "=som") && !strings.Contains(l, "=somaxconn") {
			t.Errorf("the flag is cut: %q", l)
		}
	}
	m = press(t, m, "tab")
	if sc := screen(m); !strings.Contains(sc, "python3 worker.py") || strings.Contains(sc, ".pyenv") {
		t.Errorf("COMMAND shows the interpreter's path:\n%s", sc)
	}
	// Thousands separators in table counts.
	big := crowd(1, func(int) map[source.State]int { return map[source.State]int{source.TimeWait: 1200} })
	m = monitorOf(t, &fakeReader{samples: []*source.Sample{big}}, model.Options{}, 100, 30)
	if sc := screen(m); !strings.Contains(sc, "1,200") || strings.Contains(sc, " 1200 ") {
		t.Errorf("counts lack thousands separators:\n%s", sc)
	}
}

// Item 8: connects and accepts per second, not their sum; the help
// draws no arrows under LANG=C.
func TestConnectsAcceptsAndASCIIHelp(t *testing.T) {
	m := newTUI(t, 120, 40, "mono")
	h := lines(m)[0]
	if !strings.Contains(h, "10 connects/s") || !strings.Contains(h, "5 accepts/s") || strings.Contains(h, "opens/s") {
		t.Errorf("header: %q", h)
	}
	a := New(Config{Poller: pollOf(&fakeReader{samples: tuiSamples()}, tuiThresholds(t)), Theme: "mono", ASCII: true, Interval: time.Hour})
	a = send(t, a, tea.WindowSizeMsg{Width: 100, Height: 30})
	a = run(t, a, a.Init())
	a = send(t, a, tickMsg{seq: a.tickSeq})
	for _, keys := range [][]string{{"?"}, {"esc", "tab", "s"}, {"esc", "/"}} {
		a = press(t, a, keys...)
		for _, r := range screen(a) {
			if r > 127 {
				t.Fatalf("after %v ASCII mode drew %q:\n%s", keys, r, screen(a))
			}
		}
	}
	_ = fmt.Sprint()
}
