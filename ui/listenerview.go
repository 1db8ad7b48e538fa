package ui

import (
	"net/netip"
	"strconv"

	"charm.land/lipgloss/v2"

	"github.com/tcptop/tcptop/format"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/present"
	"github.com/tcptop/tcptop/themes"
)

// The listener drill-down: the listeners as a table (l, or Enter on a
// local port several listeners share) and one listener's view (Enter on
// one, a click on the listeners strip, Enter on a listening port): its
// queue and SYN_RECV over time, the overflows and drops while it was
// full, who connects, its owners and the somaxconn cap.

// drawnLevel is a level that draws itself instead of a table (the socket
// and listener views); only back (and the global keys) leave it.
type drawnLevel interface {
	render(width, height int) []string
}

// listenersLevel lists the listeners, all of them or those on one port.
type listenersLevel struct {
	port uint16 // 0: every listener
	ls   []model.Listener
}

func (*listenersLevel) name() string { return "Listeners" }

func (l *listenersLevel) data(snap *model.Snapshot, width int, g format.Glyphs) tableData {
	l.ls = l.ls[:0]
	for _, x := range snap.Listeners {
		if l.port == 0 || x.Addr.Port() == l.port {
			l.ls = append(l.ls, x)
		}
	}
	ls := l.ls
	queueStyle := func(st *themes.Styles, i int) *lipgloss.Style {
		switch {
		case ls[i].Full:
			return &st.Crit
		case ls[i].Backlog > 0 && ls[i].Fill >= thresholds(snap).AcceptFill:
			return &st.Warn
		}
		return nil
	}
	addrW := 8
	for i := range ls {
		addrW = max(addrW, format.Width(ls[i].Local))
	}
	cols := []column{
		{title: "LISTENER", width: min(addrW, 21), flex: true, maxWidth: min(addrW, 47), middle: true},
		{title: "QUEUE", width: 11, right: true, style: queueStyle},
		{title: "SYN", width: 5, right: true},
		{title: "FLAGS", width: 15, flex: true, maxWidth: 28},
		{title: "PROCESSES", width: 10, want: 24, flex: true},
	}
	cols, ids := splitIndexed(fitColumns(indexColumns(cols), width, nil, []int{3, 2}))
	return tableData{
		cols: cols, n: len(ls),
		key: func(i int) string { return ls[i].Local },
		cell: func(i, c int) string {
			x := &ls[i]
			switch ids[c] {
			case 0:
				return x.Local
			case 1:
				return format.Count(int(x.Queue)) + "/" + format.Count(int(x.Backlog))
			case 2:
				return format.Count(x.SynRecv)
			case 3:
				return listenerFlags(x)
			}
			return present.ProcRefs(x.Processes, snap.Attributed)
		},
		empty: "no listeners",
	}
}

// listenerFlags: "FULL", "=somaxconn", "in-ephemeral", as the strip marks them.
func listenerFlags(x *model.Listener) string {
	s := ""
	add := func(f string) {
		if s != "" {
			s += " "
		}
		s += f
	}
	if x.Full {
		add("FULL")
	}
	if x.CappedBySomaxconn {
		add("=somaxconn")
	}
	if x.InEphemeralRange {
		add("in-ephemeral")
	}
	return s
}

func (l *listenersLevel) drill(_ *model.Snapshot, i int, _ format.Glyphs) *level {
	if i >= len(l.ls) {
		return nil
	}
	return newListenerLevel(l.ls[i].Addr)
}

func (*listenersLevel) find(*model.Subject) int { return -1 }

func (*listenersLevel) note(*themes.Styles, *model.Snapshot, format.Glyphs) string { return "" }

// newListenerLevel is the level of one listener's view.
func newListenerLevel(addr netip.AddrPort) *level {
	return &level{kind: &listenerDetail{addr: addr}, label: addr.String()}
}

// portListeners is the level under a listening port's row: the
// listener's view, or the list when several listeners share the port
// (0.0.0.0:80 and [::]:80); nil when none listens there now.
func portListeners(snap *model.Snapshot, port uint16) *level {
	var found []netip.AddrPort
	for _, x := range snap.Listeners {
		if x.Addr.Port() == port {
			found = append(found, x.Addr)
		}
	}
	switch len(found) {
	case 0:
		return nil
	case 1:
		return newListenerLevel(found[0])
	}
	return &level{kind: &listenersLevel{port: port}, label: "listeners :" + strconv.Itoa(int(port))}
}

// listenerDetail is one listener's view, drawn from the snapshot (no
// lookups: the dump has every number it shows).
type listenerDetail struct {
	addr netip.AddrPort
	// c is the table view's, set when the level is drawn (levels are
	// made by drill, which has no Common).
	c    *Common
	snap *model.Snapshot
}

func (*listenerDetail) name() string { return "Listener" }

func (d *listenerDetail) data(snap *model.Snapshot, _ int, _ format.Glyphs) tableData {
	d.snap = snap
	return tableData{empty: ""}
}

func (*listenerDetail) drill(*model.Snapshot, int, format.Glyphs) *level { return nil }
func (*listenerDetail) find(*model.Subject) int                          { return -1 }
func (*listenerDetail) note(*themes.Styles, *model.Snapshot, format.Glyphs) string {
	return ""
}

// render draws the view in width x height.
func (d *listenerDetail) render(width, height int) []string {
	st, g := &d.c.Styles, d.c.Glyphs
	var out []string
	add := func(s string) { out = append(out, fitStyled(s, width)) }
	kv := func(k, v string) string { return st.Dim.Render(k+" ") + v }
	add(st.Title.Render("LISTENER "+d.addr.String()) + st.Dim.Render("  [esc] back"))
	if d.snap == nil {
		return out
	}
	v, ok := d.snap.ListenerView(d.addr)
	if !ok {
		add(st.Warn.Render("not listening now (closed, or filtered out of this poll)"))
		return out
	}
	l := &v.Listener
	style := &st.Normal
	switch {
	case l.Full:
		style = &st.Crit
	case l.Backlog > 0 && l.Fill >= thresholds(d.snap).AcceptFill:
		style = &st.Warn
	}
	queue := format.Count(int(l.Queue)) + "/" + format.Count(int(l.Backlog))
	if l.Full {
		queue += " FULL"
	}
	add(kv("accept queue", style.Render(queue)) + "  " + kv("syn_recv", format.Count(l.SynRecv)) + "  " + kv("owners", present.ProcRefs(l.Processes, d.snap.Attributed)))
	add(somaxconnText(st, l, v.Somaxconn))
	if l.InEphemeralRange {
		add(st.Warn.Render("the port lies in the ephemeral range: connect() may take it, and a restart can fail"))
	}
	sparkW := max(0, min(60, width-16))
	series := func(name string, s []int) {
		if sparkW < 4 || len(s) < 2 {
			return
		}
		top := 0
		for _, x := range s {
			top = max(top, x)
		}
		add(padCells(st.Dim.Render(name), 10) + format.Sparkline(s, sparkW, g) + st.Dim.Render(" max "+format.Count(top)))
	}
	series("queue", v.Queue)
	series("syn_recv", v.SynRecv)
	add(fullText(st, &v, len(d.snap.History)))
	add(st.Header.Render("who connects") + st.Dim.Render(" ("+format.Count(len(v.Peers))+" "+pluralWord(len(v.Peers), "peer")+")"))
	for i, p := range v.Peers {
		if len(out) >= height-1 && i < len(v.Peers) {
			add(st.Dim.Render("  ... and " + format.Count(len(v.Peers)-i) + " more (the Peers view lists them)"))
			break
		}
		add("  " + padCells(format.Sanitize(p.Remote), 24) + " " + padCells(peerStatesText(&p), 36) + " " + present.PeerProcesses(&p, d.snap.Attributed))
	}
	if len(out) > height {
		out = out[:height]
	}
	return out
}

// somaxconnText says whether the backlog is the one asked for or was cut
// down by net.core.somaxconn.
func somaxconnText(st *themes.Styles, l *model.Listener, somax int) string {
	switch {
	case somax <= 0:
		return st.Dim.Render("backlog " + format.Count(int(l.Backlog)) + " (net.core.somaxconn unknown)")
	case l.CappedBySomaxconn:
		return st.Warn.Render("backlog " + format.Count(int(l.Backlog)) + " = net.core.somaxconn " + format.Count(somax) +
			": capped; the application probably asked for more (raise somaxconn, then restart it)")
	}
	return st.Dim.Render("backlog " + format.Count(int(l.Backlog)) + " (net.core.somaxconn " + format.Count(somax) + " caps it)")
}

// fullText says how often the queue was full in the history and what the
// namespace's overflow counters did then.
func fullText(st *themes.Styles, v *model.ListenerView, polls int) string {
	if v.FullPolls == 0 {
		return st.Dim.Render("never full in the last " + format.Count(polls) + " " + pluralWord(polls, "poll"))
	}
	s := "full at " + format.Count(v.FullPolls) + " of the last " + format.Count(polls) + " polls"
	if v.CountersKnown {
		s += "; meanwhile ListenOverflows +" + format.Count64(v.OverflowsWhileFull) + ", ListenDrops +" + format.Count64(v.DropsWhileFull)
		if v.OthersFull > 0 {
			s += " (shared with other full listeners at " + format.Count(v.OthersFull) + ")"
		}
	} else {
		s += "; overflow counters unavailable"
	}
	return st.Crit.Render(s)
}

// peerStatesText is a peer's non-zero state counts: "ESTABLISHED 3 TIME_WAIT 9".
func peerStatesText(p *model.Peer) string {
	s := ""
	for _, c := range present.StateColumns {
		if n := p.States[c.State]; n > 0 {
			if s != "" {
				s += " "
			}
			s += c.Short + " " + format.Count(n)
		}
	}
	if s == "" {
		return "-"
	}
	return s
}
