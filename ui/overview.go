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
		relabel(k.SortTotal, "n", "total"), relabel(k.Pause, "p", "pause"), relabel(k.Quit, "q", "quit"),
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
	lines := []string{st.Title.Render(fit(title)), st.Header.Render(fit(OverviewHeader))}
	h := v.rowsHeight()
	if v.cursor < v.offset {
		v.offset = v.cursor
	}
	if v.cursor >= v.offset+h {
		v.offset = v.cursor - h + 1
	}
	for i := v.offset; i < len(ov.Rows) && i < v.offset+h; i++ {
		r := &ov.Rows[i]
		line := fit(OverviewRow(r, ov.Focus, v.c.Glyphs))
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

// OverviewHeader names OverviewRow's columns.
const OverviewHeader = "  NAMESPACE               RUNTIME    TOTAL  ESTAB  CLS_W TIME_W  PORTS FULLEST LISTENER   OVF/s OPEN/s   AGE  FINDING"

// OverviewRow is one namespace as the overview draws it ("*" marks the
// focused one, "!" one that cannot be entered). Names are sanitized.
func OverviewRow(r *model.NamespaceRow, focus string, g format.Glyphs) string {
	mark := " "
	switch {
	case r.NoEntry:
		mark = "!"
	case r.Key == focus:
		mark = "*"
	}
	name := format.Clip(format.Sanitize(r.Name), 22, g)
	rt := r.Labels.Runtime
	if r.Host {
		rt = "host"
	}
	if rt == "" {
		rt = "-"
	}
	est, cw, ports, fullest, age := "-", "-", "-", "-", "-"
	if r.HasDetail {
		est = format.Count(r.States.Get(source.Established))
		cw = format.Count(r.States.Get(source.CloseWait))
		ports = format.Count(r.PortsInUse)
		age = format.Short(r.DetailAge)
		if l := r.Fullest; l != nil {
			fullest = format.Clip(format.Sanitize(l.Local), 12, g) + " " + format.Percent(l.Fill)
		}
	}
	total, tw, ovf, opens := "?", "?", "?", "?"
	if r.VitalsOK || r.HasDetail {
		total, tw = format.Count(r.Total), format.Count(r.TimeWait)
	}
	if r.VitalsOK {
		ovf, opens = format.Rate(r.OverflowsPerSec), format.Rate(r.OpensPerSec)
	}
	finding := "-"
	if r.Worst > 0 {
		finding = strings.ToUpper(r.Worst.String()) + " " + r.WorstRule
	}
	switch {
	case r.NoEntry && !r.VitalsOK:
		finding = "cannot enter, no vital signs"
	case r.NoEntry:
		finding = "cannot enter: vital signs only"
	}
	return fmt.Sprintf("%s %-22s %-8s %7s %6s %6s %6s %6s %-18s %6s %6s %5s  %s",
		mark, name, rt, total, est, cw, tw, ports, fullest, ovf, opens, age, finding)
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
