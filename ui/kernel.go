package ui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/tcptop/tcptop/format"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/themes"
)

// kernelView is the k screen: the tunables with their values and what
// each does, then the TcpExt/Tcp counters with value and rate, the ones
// moving now first. The order and the meanings come from model/kernel.go.
type kernelView struct {
	c             *Common
	width, height int
	snap          *model.Snapshot
	offset        int // first document line on screen
	// hit is the document line the last search found, -1 for none.
	hit int
}

func newKernelView(c *Common) View { return &kernelView{c: c, hit: -1} }

// Name implements View.
func (v *kernelView) Name() string { return "kernel" }

// Keys implements View.
func (v *kernelView) Keys() []key.Binding {
	k := &v.c.Keys
	return []key.Binding{k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End, k.Back}
}

// ShortHelp implements View.
func (v *kernelView) ShortHelp() []key.Binding {
	k, a := &v.c.Keys, &v.c.Glyphs
	return []key.Binding{
		relabel(k.Up, a.KeyUp+"/"+a.KeyDown, "scroll"), relabel(k.PageDown, "pgdn", "page"),
		relabel(k.Search, k.Search.Help().Key, "search"),
		relabel(k.Back, "esc", "back"), relabel(k.Findings, k.Findings.Help().Key, "findings"), relabel(k.Quit, "q", "quit"),
	}
}

// SetSize implements View.
func (v *kernelView) SetSize(width, height int) { v.width, v.height = width, height }

// SetSnapshot implements View.
func (v *kernelView) SetSnapshot(s *model.Snapshot) tea.Cmd {
	v.snap = s
	return nil
}

// Update implements View: the keys scroll.
func (v *kernelView) Update(msg tea.Msg) tea.Cmd {
	kp, ok := msg.(tea.KeyPressMsg)
	if !ok || v.snap == nil {
		return nil
	}
	k := &v.c.Keys
	rows := max(1, v.height-1)
	total := len(kernelDoc(&v.c.Styles, v.c.Glyphs, v.snap, max(v.width, MinWidth)))
	switch {
	case key.Matches(kp, k.Up):
		v.scroll(-1, total, rows)
	case key.Matches(kp, k.Down):
		v.scroll(1, total, rows)
	case key.Matches(kp, k.PageUp):
		v.scroll(-max(1, rows-1), total, rows)
	case key.Matches(kp, k.PageDown):
		v.scroll(max(1, rows-1), total, rows)
	case key.Matches(kp, k.Home):
		v.offset = 0
	case key.Matches(kp, k.End):
		v.scroll(total, total, rows)
	}
	return nil
}

// search implements searcher: the lines of the tunables and counters (a
// name, a value or words of a meaning); the line found is marked and
// scrolled to the top.
func (v *kernelView) search(q string, dir int, again bool) bool {
	if v.snap == nil {
		return false
	}
	doc := kernelDoc(&v.c.Styles, v.c.Glyphs, v.snap, max(v.width, MinWidth))
	lines := make([]string, len(doc))
	for i, l := range doc {
		lines[i] = stripped(l)
	}
	from := v.hit
	if from < 0 {
		from = v.offset
	}
	if again {
		from += dir
	}
	t := table{data: tableData{n: len(lines), cols: []column{{}}, cell: func(i, _ int) string { return lines[i] }}}
	i := t.search(q, from, dir)
	if i < 0 {
		return false
	}
	v.hit = i
	rows := max(1, v.height-1)
	v.offset = max(0, min(i, len(doc)-rows))
	return true
}

// mouse implements mouser: the wheel scrolls.
func (v *kernelView) mouse(msg tea.MouseMsg, _, _ int) tea.Cmd {
	w, ok := msg.(tea.MouseWheelMsg)
	if !ok || v.snap == nil {
		return nil
	}
	rows := max(1, v.height-1)
	total := len(kernelDoc(&v.c.Styles, v.c.Glyphs, v.snap, max(v.width, MinWidth)))
	switch w.Button {
	case tea.MouseWheelUp:
		v.scroll(-3, total, rows)
	case tea.MouseWheelDown:
		v.scroll(3, total, rows)
	}
	return nil
}

// View implements View.
func (v *kernelView) View() []string {
	return v.render(&v.c.Styles, v.c.Glyphs, v.snap, v.width, v.height)
}

// kernelDoc is the scrolling part of the kernel view, styled, each line
// exactly width cells.
func kernelDoc(st *themes.Styles, g format.Glyphs, snap *model.Snapshot, width int) []string {
	var out []string
	add := func(s string) { out = append(out, fitStyled(s, width)) }
	// wrapped writes a row whose last column (the meaning) wraps under
	// itself.
	wrapped := func(head, meaning string, style func(string) string) {
		mw := width - ansi.StringWidth(head)
		if meaning == "" || mw < 12 {
			add(head)
			return
		}
		for i, l := range strings.Split(ansi.Wrap(meaning, mw, ""), "\n") {
			if i == 0 {
				add(head + style(l))
				continue
			}
			add(strings.Repeat(" ", ansi.StringWidth(head)) + style(l))
		}
	}
	dim := func(s string) string { return st.Dim.Render(s) }
	plain := func(s string) string { return s }
	pad := func(s string, w int, right bool) string { return format.Fit(s, w, right, g) }

	tun := model.KernelTunables(snap.Sysctl)
	short := width < 110 // drop "net.ipv4." when the screen is narrow
	name := func(n string) string {
		if short {
			return strings.TrimPrefix(n, "net.ipv4.")
		}
		return n
	}
	nameW, valW := 8, 5
	for i := range tun {
		// Read from /proc/sys: made safe for the terminal.
		tun[i].Name, tun[i].Value = format.Sanitize(tun[i].Name), format.Sanitize(tun[i].Value)
		nameW = max(nameW, len(name(tun[i].Name)))
		valW = max(valW, min(16, format.Width(tun[i].Value)))
	}
	valW = max(valW, len("(unreadable)"))
	add(st.Title.Render("TUNABLES") + dim("  /proc/sys/net; ip_local_* and tcp_* are per namespace"))
	for _, t := range tun {
		v := pad(t.Value, valW, false)
		if !t.Readable {
			v = dim(pad("(unreadable)", valW, false))
		} else if t.Value == "" {
			v = dim(pad("(empty)", valW, false))
		}
		wrapped("  "+pad(name(t.Name), nameW, false)+" "+v+"  ", t.Meaning, dim)
	}

	add("")
	cs := model.KernelCounters(snap.Counters, snap.Rates)
	title := st.Title.Render("COUNTERS") + dim("  TcpExt and Tcp, moving ones first")
	if snap.Rates == nil {
		title += dim("; rates from the second poll on")
	}
	add(title)
	if len(cs) == 0 {
		add(dim("  unavailable (/proc/net/netstat and /proc/net/snmp unreadable)"))
		return out
	}
	// Columns as wide as their widest cell; on a narrow screen long
	// names (none the incidents name) are clipped.
	cnW, valW, rateW := 8, 5, 7
	for _, c := range cs {
		cnW = max(cnW, len(c.Name))
		valW = max(valW, len(format.Count64(c.Value)))
		if c.HasRate {
			rateW = max(rateW, len(format.PerSecColumn(float64(c.Rate))))
		}
	}
	if width < 100 {
		cnW = min(cnW, 20)
	}
	add(dim("  " + pad("NAME", cnW, false) + " " + pad("VALUE", valW, true) + " " + pad("RATE", rateW, true) + "  MEANING"))
	for _, c := range cs {
		rate := ""
		if c.HasRate {
			rate = format.PerSecColumn(float64(c.Rate))
		}
		rowName, val, r := pad(c.Name, cnW, false), pad(format.Count64(c.Value), valW, true), pad(rate, rateW, true)
		meaning := plain
		switch {
		case c.Value == 0 && rate == "":
			rowName, val, r, meaning = dim(rowName), dim(val), dim(r), dim
		case rate != "" && c.Alarming && c.Rate > 0:
			rowName, r = st.Crit.Render(rowName), st.Crit.Render(r)
		case rate == "":
			meaning = dim
		}
		wrapped("  "+rowName+" "+val+" "+r+"  ", c.Meaning, meaning)
	}
	return out
}

// render draws the view: a title line and height-1 lines of the document.
func (v *kernelView) render(st *themes.Styles, g format.Glyphs, snap *model.Snapshot, width, height int) []string {
	doc := kernelDoc(st, g, snap, width)
	rows := max(0, height-1)
	start := min(v.offset, len(doc))
	end := min(len(doc), start+rows)
	title := st.Title.Render("KERNEL") + st.Dim.Render("  "+format.Count(len(model.KernelTunables(snap.Sysctl)))+" tunables  "+format.Count(len(snap.Counters))+" counters"+scrollText(start, end, len(doc)))
	out := append([]string{fitStyled(title, width)}, doc[start:end]...)
	if v.hit >= start && v.hit < end {
		out[1+v.hit-start] = st.Selected.Render(fit(stripped(doc[v.hit]), width))
	}
	return out
}

// scroll moves the view by d lines within a document of total lines.
func (v *kernelView) scroll(d, total, height int) {
	v.offset = max(0, min(v.offset+d, total-max(1, height)))
}
