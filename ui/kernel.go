package ui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

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
}

func newKernelView(c *Common) View { return &kernelView{c: c} }

// Name implements View.
func (v *kernelView) Name() string { return "kernel" }

// Keys implements View.
func (v *kernelView) Keys() []key.Binding {
	k := &v.c.Keys
	return []key.Binding{k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End, k.Back}
}

// ShortHelp implements View.
func (v *kernelView) ShortHelp() []key.Binding {
	k, a := &v.c.Keys, v.c.ASCII
	return []key.Binding{
		relabel(k.Up, "↑/↓", "scroll", a), relabel(k.PageDown, "pgdn", "page", a),
		relabel(k.Back, "esc", "back", a), relabel(k.Findings, "f", "findings", a), relabel(k.Quit, "q", "quit", a),
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
	total := len(kernelDoc(&v.c.Styles, v.snap, max(v.width, MinWidth)))
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

// View implements View.
func (v *kernelView) View() []string { return v.render(&v.c.Styles, v.snap, v.width, v.height) }

// kernelDoc is the scrolling part of the kernel view, styled, each line
// exactly width cells.
func kernelDoc(st *themes.Styles, snap *model.Snapshot, width int) []string {
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

	tun := model.KernelTunables(snap.Sysctl)
	short := width < 110 // drop "net.ipv4." when the screen is narrow
	name := func(n string) string {
		if short {
			return strings.TrimPrefix(n, "net.ipv4.")
		}
		return n
	}
	nameW, valW := 8, 5
	for _, t := range tun {
		nameW = max(nameW, len(name(t.Name)))
		valW = max(valW, min(16, ansi.StringWidth(t.Value)))
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
		valW = max(valW, len(num(int(c.Value))))
		if c.HasRate {
			rateW = max(rateW, len(fmtRate(float64(c.Rate))))
		}
	}
	if width < 100 {
		cnW = min(cnW, 20)
	}
	add(dim("  " + pad("NAME", cnW, false) + " " + pad("VALUE", valW, true) + " " + pad("RATE", rateW, true) + "  MEANING"))
	for _, c := range cs {
		rate := ""
		if c.HasRate {
			rate = fmtRate(float64(c.Rate))
		}
		rowName, val, r := pad(c.Name, cnW, false), pad(num(int(c.Value)), valW, true), pad(rate, rateW, true)
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
func (v *kernelView) render(st *themes.Styles, snap *model.Snapshot, width, height int) []string {
	doc := kernelDoc(st, snap, width)
	rows := max(0, height-1)
	start := min(v.offset, len(doc))
	end := min(len(doc), start+rows)
	title := st.Title.Render("KERNEL") + st.Dim.Render(fmt.Sprintf("  %d tunables  %d counters", len(model.KernelTunables(snap.Sysctl)), len(snap.Counters))+scrollText(start, end, len(doc)))
	return append([]string{fitStyled(title, width)}, doc[start:end]...)
}

// scroll moves the view by d lines within a document of total lines.
func (v *kernelView) scroll(d, total, height int) {
	v.offset = max(0, min(v.offset+d, total-max(1, height)))
}
