package ui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/tcptop/tcptop/format"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/present"
	"github.com/tcptop/tcptop/source"
)

// overviewView is the --all-netns home: one row per network namespace
// (its pod or container, runtime, live totals from the kernel's counters,
// the state histogram, ports, fullest listener and worst finding from its
// last full dump, and how old that dump is). Enter opens the namespace's
// full monitor; esc there comes back.
type overviewView struct {
	c             *Common
	width, height int
	ov            *model.Overview
	privileged    bool // tcptop runs as root (the snapshot says so)
	cursor        int
	offset        int
	key           string // the row under the cursor, kept across polls
}

func newOverviewView(c *Common) View { return &overviewView{c: c} }

// focusNetnsMsg asks the root to open the namespace's full monitor.
type focusNetnsMsg struct{ key string }

// Focuser is a Poller that polls several namespaces and can be told which
// one the full monitor shows (pipeline.AllPoller).
type Focuser interface {
	Focus(key string)
}

// Name implements View.
func (v *overviewView) Name() string { return "namespaces" }

// Keys implements View.
func (v *overviewView) Keys() []key.Binding {
	k := &v.c.Keys
	return []key.Binding{k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End, k.Enter,
		k.SortTimeWait, k.SortCloseWait, k.SortEstablished, k.SortTotal, k.Reverse, k.Filter}
}

// ShortHelp implements View.
func (v *overviewView) ShortHelp() []key.Binding {
	k := &v.c.Keys
	return []key.Binding{
		relabel(k.Help, "?", "help"), relabel(k.Enter, "enter", "open"), relabel(k.Filter, "/", "filter"),
		relabel(k.SortTimeWait, "t", "TIME_WAIT"), relabel(k.SortCloseWait, "c", "CLOSE_WAIT"),
		relabel(k.SortTotal, k.SortTotal.Help().Key, "total"), relabel(k.Pause, "p", "pause"), relabel(k.Quit, "q", "quit"),
	}
}

func (v *overviewView) followsSort() {}

// SetSize implements View.
func (v *overviewView) SetSize(width, height int) { v.width, v.height = width, height }

// SetSnapshot implements View.
func (v *overviewView) SetSnapshot(s *model.Snapshot) tea.Cmd {
	if s.Overview == nil {
		return nil
	}
	v.ov, v.privileged = s.Overview, s.Privileged
	for i := range v.ov.Rows {
		if v.ov.Rows[i].Key == v.key {
			v.cursor = i
			return nil
		}
	}
	v.cursor = min(v.cursor, max(0, len(v.ov.Rows)-1))
	return nil
}

// Update implements View.
func (v *overviewView) Update(msg tea.Msg) tea.Cmd {
	kp, ok := msg.(tea.KeyPressMsg)
	if !ok || v.ov == nil {
		return nil
	}
	k := &v.c.Keys
	sortBy := func(s model.SortKey) tea.Cmd {
		return request(sortMsg(func(model.SortKey) model.SortKey { return s }))
	}
	page := max(1, v.rowsHeight()-1)
	switch {
	case key.Matches(kp, k.Enter):
		if v.cursor < len(v.ov.Rows) {
			r := &v.ov.Rows[v.cursor]
			if r.NoEntry {
				return request(noticeMsg(format.Sanitize(r.Name) + " cannot be entered (needs root): vital signs only"))
			}
			return request(focusNetnsMsg{key: r.Key})
		}
	case key.Matches(kp, k.SortTimeWait):
		return sortBy(model.SortKey{State: source.TimeWait})
	case key.Matches(kp, k.SortCloseWait):
		return sortBy(model.SortKey{State: source.CloseWait})
	case key.Matches(kp, k.SortEstablished):
		return sortBy(model.SortKey{State: source.Established})
	case key.Matches(kp, k.SortTotal):
		return sortBy(model.SortKey{})
	case key.Matches(kp, k.Reverse):
		return request(sortMsg(func(s model.SortKey) model.SortKey { s.Reverse = !s.Reverse; return s }))
	case key.Matches(kp, k.Filter):
		return request(editFilterMsg{})
	case key.Matches(kp, k.Up):
		v.move(-1)
	case key.Matches(kp, k.Down):
		v.move(1)
	case key.Matches(kp, k.PageUp):
		v.move(-page)
	case key.Matches(kp, k.PageDown):
		v.move(page)
	case key.Matches(kp, k.Home):
		v.move(-len(v.ov.Rows))
	case key.Matches(kp, k.End):
		v.move(len(v.ov.Rows))
	}
	return nil
}

func (v *overviewView) move(d int) {
	v.cursor = max(0, min(len(v.ov.Rows)-1, v.cursor+d))
	if v.cursor < len(v.ov.Rows) {
		v.key = v.ov.Rows[v.cursor].Key
	}
}

func (v *overviewView) rowsHeight() int { return max(1, v.height-3) }

// View implements View.
func (v *overviewView) View() []string {
	st := &v.c.Styles
	fit := func(s string) string { return format.Pad(ansi.Truncate(s, v.width, ""), v.width, false) }
	if v.ov == nil {
		return []string{fit("discovering network namespaces…")}
	}
	ov := v.ov
	title := fmt.Sprintf("NETWORK NAMESPACES %d", len(ov.Rows))
	if ov.Hidden > 0 {
		title += fmt.Sprintf(" (%d hidden by the filter)", ov.Hidden)
	}
	if !ov.Filter.Empty() {
		title += "  filter: " + format.Sanitize(ov.Filter.String())
	}
	title += "  sort: " + ov.Sort.String()
	if ov.Unreadable > 0 {
		title += "  " + present.Unreadable(ov.Unreadable, nil, v.privileged)
	}
	h := v.rowsHeight()
	if v.cursor < v.offset {
		v.offset = v.cursor
	}
	if v.cursor >= v.offset+h {
		v.offset = v.cursor - h + 1
	}
	// The worst finding on screen keeps its room: narrower screens drop
	// less important columns first (overviewColumns).
	finding := 0
	for i := v.offset; i < len(ov.Rows) && i < v.offset+h; i++ {
		finding = max(finding, len(overviewFinding(&ov.Rows[i])))
	}
	on := overviewColumns(v.width, finding)
	lines := []string{st.Title.Render(fit(title)), st.Header.Render(fit(overviewHeader(on)))}
	for i := v.offset; i < len(ov.Rows) && i < v.offset+h; i++ {
		r := &ov.Rows[i]
		line := fit(overviewLine(overviewRowCells(r, ov.Focus, v.c.Glyphs), on))
		switch {
		case i == v.cursor:
			line = st.Selected.Render(line)
		case r.Worst >= model.Critical:
			line = st.Crit.Render(line)
		case r.Worst >= model.Warning:
			line = st.Warn.Render(line)
		}
		lines = append(lines, line)
	}
	if len(ov.Rows) == 0 {
		lines = append(lines, fit("  no namespace matches the filter"))
	}
	return lines
}

// OverviewHeader names OverviewRow's columns (every column: 120+ columns
// wide with a short finding; OverviewHeaderFit for a given width).
var OverviewHeader = overviewHeader(allOverviewColumns())

// overviewCol is one optional column of the overview: its header, its
// width (the separating space included) and its cell.
type overviewCol struct {
	head  string
	width int
	cell  func(c *overviewCells) string
}

// The columns in screen order. Every one but the name and FINDING may be
// dropped to give the finding room; dropOrder says which go first.
var overviewCols = []overviewCol{
	{"RUNTIME", 9, func(c *overviewCells) string { return fmt.Sprintf(" %-8s", c.rt) }},
	{"TOTAL", 8, func(c *overviewCells) string { return fmt.Sprintf(" %7s", c.total) }},
	{"ESTAB", 7, func(c *overviewCells) string { return fmt.Sprintf(" %6s", c.est) }},
	{"CLS_W", 7, func(c *overviewCells) string { return fmt.Sprintf(" %6s", c.cw) }},
	{"TIME_W", 7, func(c *overviewCells) string { return fmt.Sprintf(" %6s", c.tw) }},
	{"PORTS", 7, func(c *overviewCells) string { return fmt.Sprintf(" %6s", c.ports) }},
	{"FULLEST LISTENER", 19, func(c *overviewCells) string { return fmt.Sprintf(" %-18s", c.fullest) }},
	{"OVF/s", 7, func(c *overviewCells) string { return fmt.Sprintf(" %6s", c.ovf) }},
	{"OPEN/s", 7, func(c *overviewCells) string { return fmt.Sprintf(" %6s", c.opens) }},
	{"AGE", 6, func(c *overviewCells) string { return fmt.Sprintf(" %5s", c.age) }},
}

// dropOrder lists overviewCols' indexes, the first dropped first when the
// screen is too narrow for the worst finding: the listener and the
// per-second rates before the counts, TOTAL, CLOSE_WAIT and AGE last.
var dropOrder = []int{6, 0, 8, 5, 2, 7, 4, 3, 1, 9}

// overviewNameWidth is the NAMESPACE column's (after the mark and a space).
const overviewNameWidth = 22

// findingRoom is the most the FINDING column claims before any other
// column: the longest severity and rule ("CRITICAL
// listener_in_ephemeral_range").
const findingRoom = 36

func allOverviewColumns() []bool {
	on := make([]bool, len(overviewCols))
	for i := range on {
		on[i] = true
	}
	return on
}

// overviewColumns picks the columns shown at width: all of them when the
// longest finding shown fits beside them, else columns are dropped in
// dropOrder until the finding has findingRoom (or its own length) left.
func overviewColumns(width, finding int) []bool {
	on := allOverviewColumns()
	used := 2 + overviewNameWidth + 2 // mark, space, name, two spaces before FINDING
	for _, c := range overviewCols {
		used += c.width
	}
	need := min(max(finding, len("FINDING")), findingRoom)
	for _, i := range dropOrder {
		if width-used >= need {
			break
		}
		on[i] = false
		used -= overviewCols[i].width
	}
	return on
}

func overviewHeader(on []bool) string {
	var b strings.Builder
	b.WriteString("  ")
	b.WriteString(fmt.Sprintf("%-*s", overviewNameWidth, "NAMESPACE"))
	for i, c := range overviewCols {
		if !on[i] {
			continue
		}
		h := c.head
		switch c.head {
		case "RUNTIME", "FULLEST LISTENER":
			h = fmt.Sprintf(" %-*s", c.width-1, h)
		default:
			h = fmt.Sprintf(" %*s", c.width-1, h)
		}
		b.WriteString(h)
	}
	b.WriteString("  FINDING")
	return b.String()
}

// OverviewHeaderFit is the header of the columns shown at width when the
// longest finding is finding wide (see OverviewRowFit).
func OverviewHeaderFit(width, finding int) string {
	return overviewHeader(overviewColumns(width, finding))
}

// overviewCells are one row's cells as text.
type overviewCells struct {
	mark, name, rt, total, est, cw, tw, ports, fullest, ovf, opens, age, finding string
}

// OverviewRow is one namespace as the overview draws it with every
// column ("*" marks the focused one, "!" one that cannot be entered).
// Names are sanitized.
func OverviewRow(r *model.NamespaceRow, focus string, g format.Glyphs) string {
	return overviewLine(overviewRowCells(r, focus, g), allOverviewColumns())
}

// OverviewRowFit is OverviewRow with the columns that fit at width
// beside the worst finding (finding: the longest FINDING cell shown).
func OverviewRowFit(r *model.NamespaceRow, focus string, g format.Glyphs, width, finding int) string {
	return overviewLine(overviewRowCells(r, focus, g), overviewColumns(width, finding))
}

func overviewLine(c *overviewCells, on []bool) string {
	var b strings.Builder
	b.WriteString(c.mark)
	b.WriteString(" ")
	b.WriteString(fmt.Sprintf("%-*s", overviewNameWidth, c.name))
	for i, col := range overviewCols {
		if on[i] {
			b.WriteString(col.cell(c))
		}
	}
	b.WriteString("  ")
	b.WriteString(c.finding)
	return b.String()
}

func overviewRowCells(r *model.NamespaceRow, focus string, g format.Glyphs) *overviewCells {
	c := &overviewCells{mark: " "}
	switch {
	case r.NoEntry:
		c.mark = "!"
	case r.Key == focus:
		c.mark = "*"
	}
	c.name = format.Clip(format.Sanitize(r.Name), overviewNameWidth, g)
	c.rt = r.Labels.Runtime
	if r.Host {
		c.rt = "host"
	}
	if c.rt == "" {
		c.rt = "-"
	}
	c.rt = format.Clip(format.Sanitize(c.rt), 8, g)
	c.est, c.cw, c.ports, c.fullest, c.age = "-", "-", "-", "-", "-"
	if r.HasDetail {
		c.est = format.Count(r.States.Get(source.Established))
		c.cw = format.Count(r.States.Get(source.CloseWait))
		c.ports = format.Count(r.PortsInUse)
		c.age = format.Millis(uint32(min(r.DetailAge.Milliseconds(), 1<<31)))
		if l := r.Fullest; l != nil {
			c.fullest = format.Clip(format.Sanitize(l.Local), 12, g) + " " + format.Percent(l.Fill)
		}
	}
	c.total, c.tw, c.ovf, c.opens = "?", "?", "?", "?"
	if r.VitalsOK || r.HasDetail {
		c.total, c.tw = format.Count(r.Total), format.Count(r.TimeWait)
	}
	if r.VitalsOK {
		c.ovf, c.opens = format.Rate(r.OverflowsPerSec), format.Rate(r.OpensPerSec)
	}
	c.finding = overviewFinding(r)
	return c
}

// overviewFinding is the FINDING cell: the worst finding's severity and
// rule, or why the namespace has none.
func overviewFinding(r *model.NamespaceRow) string {
	switch {
	case r.NoEntry && !r.VitalsOK:
		return "cannot enter, no vital signs"
	case r.NoEntry:
		return "cannot enter: vital signs only"
	case r.Worst > 0:
		return strings.ToUpper(r.Worst.String()) + " " + r.WorstRule
	}
	return "-"
}

// overviewIndex is the overview's place in the views registry.
func overviewIndex() int {
	for i, r := range views {
		if _, ok := r.build(&Common{}).(*overviewView); ok {
			return i
		}
	}
	return 0
}

// tableAtTop reports whether the table view shows a top level (esc has
// no level to go back up to).
func tableAtTop(v View) bool {
	t, ok := v.(*tableView)
	return !ok || len(t.levels) <= 1
}

// focusNetns opens the namespace's full monitor: the Poller focuses it
// (dumped every poll from now on), its last snapshot shows at once, a
// poll starts, and the table opens from its top.
func (m *Model) focusNetns(key string) tea.Cmd {
	f, ok := m.cfg.Poller.(Focuser)
	if !ok {
		return nil
	}
	f.Focus(key)
	v := views[0].build(m.common)
	v.SetSize(m.common.Width, max(0, m.common.Height-2))
	m.views[0], m.focus = v, 0
	var cmds []tea.Cmd
	if m.snap != nil && m.snap.Overview != nil {
		if r := m.snap.Overview.Row(key); r != nil && r.Detail != nil {
			s := *r.Detail
			s.Overview = m.snap.Overview
			cmds = append(cmds, m.setSnapshot(&s))
		}
	}
	if !m.polling && !m.paused {
		m.tickSeq++
		cmds = append(cmds, m.pollCmd())
	}
	return tea.Batch(cmds...)
}
