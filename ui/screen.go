package ui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/tcptop/tcptop/format"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

// screenLayout is how many lines each panel gets.
type screenLayout struct {
	findings  int // lines of the findings strip
	states    []source.State
	stateCols int
	stateRows int
	ports     int
	listeners int
	tableRows int // rows of data, without the title and column lines
}

// computeLayout shares the height between the panels: the findings strip
// takes its few lines first, the table keeps at least two fifths of the
// rest, the panels above it shrink first (zero states collapse, the
// histogram goes to two columns, fewer listeners).
func computeLayout(snap *model.Snapshot, width, height int) screenLayout {
	return computeLayoutKeep(snap, width, height, layoutKeep{})
}

// layoutKeep is what a view keeps from its recent snapshots so that its
// panels keep their place while the data moves: the findings strip and
// the listeners keep as many lines as they had lately.
type layoutKeep struct {
	findings, listeners int
}

// computeLayoutKeep is computeLayout with the panels at least as tall as
// keep says (within the same limits).
func computeLayoutKeep(snap *model.Snapshot, width, height int, keep layoutKeep) screenLayout {
	var l screenLayout
	avail := height - 2 // header and footer
	if snap != nil {
		l.findings = stripLines(max(len(snap.Findings), keep.findings), height)
		avail -= l.findings
	}
	tableMin := 2 + 3
	if height >= 30 {
		tableMin = 2 + 8
	}
	budget := avail - max(tableMin, avail*2/5)
	if snap == nil {
		l.tableRows = max(1, avail-2)
		return l
	}
	l.ports = 2
	if budget < 8 {
		l.ports = 1
	}
	lisWant := 1 + min(max(len(snap.Listeners), keep.listeners), 8)
	l.states = histStates(snap, false)
	if all := histStates(snap, true); len(all)+l.ports+lisWant <= budget {
		l.states = all
	}
	l.stateCols, l.stateRows = 1, len(l.states)
	lisMin := min(lisWant, 3)
	if l.stateRows+l.ports+lisMin > budget && width >= 2*40+3 {
		l.stateCols = 2
		l.stateRows = (len(l.states) + 1) / 2
	}
	if over := l.stateRows + l.ports + 1 - budget; over > 0 {
		// Still too tall: keep the most populated states.
		l.stateRows = max(1, l.stateRows-over)
		keep := l.stateRows * l.stateCols
		if keep < len(l.states) {
			l.states = topStates(snap, l.states, keep)
		}
	}
	l.listeners = max(1, min(lisWant, budget-l.stateRows-l.ports))
	l.tableRows = max(1, avail-l.stateRows-l.ports-l.listeners-2)
	return l
}

// topStates keeps the n most populated of states, in their usual order.
func topStates(snap *model.Snapshot, states []source.State, n int) []source.State {
	keep := map[source.State]bool{}
	for range n {
		best := source.State(0)
		for _, s := range states {
			if !keep[s] && (best == 0 || snap.States[s] > snap.States[best]) {
				best = s
			}
		}
		keep[best] = true
	}
	var out []source.State
	for _, s := range states {
		if keep[s] {
			out = append(out, s)
		}
	}
	return out
}

// View draws the screen.
func (m Model) View() tea.View {
	if f := m.frame; f != nil && f.same && f.ok {
		return f.v
	}
	v := m.view()
	if m.frame != nil {
		m.frame.v, m.frame.ok = v, true
	}
	return v
}

func (m Model) view() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	// Clicks and the wheel; a terminal (or tmux with mouse off) that sends
	// no mouse events loses nothing: every action has a key.
	v.MouseMode = tea.MouseModeCellMotion
	if in, ok := m.footerInput(); ok && m.common.Width >= MinWidth && m.common.Height >= MinHeight {
		if c := in.Cursor(); c != nil {
			c.Position.Y += m.common.Height - 1 // the input is the footer line
			v.Cursor = c
		}
	}
	v.WindowTitle = "tcptop"
	if m.snap != nil {
		v.WindowTitle = "tcptop " + format.Sanitize(m.snap.Host)
	}
	return v
}

// render is the whole screen as one string of exactly height lines.
func (m Model) render() string {
	w, h := m.common.Width, m.common.Height
	if w == 0 || h == 0 {
		return ""
	}
	if w < MinWidth || h < MinHeight {
		return tooSmall(w, h)
	}
	st := &m.common.Styles
	lines := make([]string, 0, h)
	lines = append(lines, renderHeader(st, m.snap, headerInfo{paused: m.paused, interval: m.interval, loc: m.cfg.Location}, w))
	lines = append(lines, m.timelineLine(w)...)
	if m.showHelp {
		lines = append(lines, m.help.View()...)
	} else if m.snap != nil {
		lines = append(lines, m.views[m.focus].View()...)
	} else if m.err != nil {
		lines = append(lines, fitStyled(st.Crit.Render("cannot read sockets: "+oneLine(m.err)), w))
	}
	for len(lines) < h-1 {
		lines = append(lines, strings.Repeat(" ", w))
	}
	lines = append(lines[:h-1], m.renderFooter(w))
	return strings.Join(lines, "\n")
}

// tooSmall fills a screen below the minimum with a message that says so.
func tooSmall(w, h int) string {
	msg := []string{
		"terminal too small",
		fmt.Sprintf("need %dx%d", MinWidth, MinHeight),
		fmt.Sprintf("have %dx%d", w, h),
	}
	if w < len(msg[0]) || h < 3 {
		msg = []string{fmt.Sprintf("too small (need %dx%d)", MinWidth, MinHeight)}
	}
	lines := make([]string, h)
	for i := range lines {
		lines[i] = strings.Repeat(" ", w)
	}
	top := max(0, (h-len(msg))/2)
	for i, s := range msg {
		if top+i < h {
			lines[top+i] = fit(strings.Repeat(" ", max(0, (w-len(s))/2))+s, w)
		}
	}
	return strings.Join(lines, "\n")
}

// inputNote is what the status line says after the filter or search
// input: the filter's parse error, why it waits, or that a search matches
// nothing.
func (m Model) inputNote() string {
	st := &m.common.Styles
	switch {
	case m.search.active && m.search.missing:
		return "  " + st.Crit.Render("no match")
	case !m.filtering:
		return ""
	case m.filterErr != nil:
		return "  " + st.Crit.Render(oneLine(m.filterErr)+"; the filter in force stays")
	case m.filterWait != "":
		return "  " + st.Warn.Render(m.filterWait)
	}
	return ""
}

// footerInput is the input the status line shows (the filter's or the
// search's), as wide as the line leaves it next to its note, so the note
// is never cut off; ok is false when neither is open.
func (m Model) footerInput() (textinput.Model, bool) {
	in := m.input
	switch {
	case m.search.active:
		in = m.search.input
	case !m.filtering:
		return in, false
	}
	promptW := ansi.StringWidth(in.Prompt)
	noteW := ansi.StringWidth(m.inputNote())
	// The value keeps at least a third of the line; a longer note is cut.
	in.SetWidth(max(10, m.common.Width/3, m.common.Width-promptW-noteW-1))
	if n := ansi.StringWidth(in.Value()) + 1; noteW > 0 && n < in.Width() {
		in.SetWidth(max(n, 1))
	}
	return in, true
}

// renderFooter is the status line: the filter input while editing, an
// error when the last poll failed, else the filter, sort and keys.
func (m Model) renderFooter(w int) string {
	st := &m.common.Styles
	if in, ok := m.footerInput(); ok {
		return fitStyled(in.View()+m.inputNote(), w)
	}
	var left []string
	if m.notice != "" {
		left = append(left, st.Warn.Render(m.notice))
	}
	if m.err != nil {
		msg := "error: " + oneLine(m.err)
		if m.snap != nil {
			msg += " (showing " + m.snap.Time.In(loc(m.cfg.Location)).Format("15:04:05") + ")"
		}
		return fitStyled(st.Crit.Render(msg), w)
	}
	if f := m.opts.Filter; !f.Empty() {
		left = append(left, st.Warn.Render("filter "+f.String()))
	}
	var open View = m.views[m.focus]
	if m.showHelp {
		open = m.help
	}
	keys := open.ShortHelp()
	if _, ok := open.(sortFollower); ok {
		left = append(left, "sort "+m.opts.Sort.String())
	}
	status := strings.Join(left, "  ") + "  "
	if len(left) == 0 {
		status = ""
	}
	m.status.SetWidth(max(0, w-ansi.StringWidth(stripped(status))))
	return fitStyled(status+m.status.ShortHelpView(keys), w)
}
