package ui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/tcptop/tcptop/format"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/present"
	"github.com/tcptop/tcptop/source"
	"github.com/tcptop/tcptop/themes"
)

// Pure render helpers: model values in, styled lines out, each line exactly
// the width it is given so the screen never wraps.

// headerInfo is what the header shows beyond the snapshot.
type headerInfo struct {
	paused   bool
	interval time.Duration
	loc      *time.Location
}

func renderHeader(st *themes.Styles, snap *model.Snapshot, hi headerInfo, width int) string {
	type part struct {
		text string
		prio int // lower survives longer on a narrow screen
	}
	// The program's name stays: in a tmux pane among others it says what
	// the pane is. The namespace, then the poll cost, go first.
	parts := []part{{st.Header.Render("tcptop"), 0}}
	if hi.paused {
		parts = append(parts, part{st.Crit.Render("PAUSED"), 0})
	}
	joinParts := func() string {
		texts := make([]string, 0, len(parts))
		for _, p := range parts {
			texts = append(texts, p.text)
		}
		return strings.Join(texts, "  ")
	}
	if snap == nil {
		parts = append(parts, part{st.Dim.Render("reading sockets..."), 0})
	} else {
		parts = append(parts,
			part{st.Header.Render(format.Sanitize(snap.Host)), 4},
			part{"netns " + format.Sanitize(snap.Netns), 7},
			part{snap.Time.In(loc(hi.loc)).Format("15:04:05"), 3},
			part{"every " + format.Short(hi.interval), 5},
			part{st.Title.Render(format.Count(snap.Total)) + " sockets", 1},
		)
		if snap.Interval > 0 && snap.Rates != nil {
			// Not the sum: a loopback connection is one connect and one
			// accept on the same host.
			parts = append(parts, part{format.Rate(float64(snap.Rates["ActiveOpens"])) + " connects/s", 2},
				part{format.Rate(float64(snap.Rates["PassiveOpens"])) + " accepts/s", 2})
		}
		parts = append(parts, part{fmt.Sprintf("poll %.1fms", snap.PollMS.Total), 6})
		if c := snap.Carried; c != nil {
			// The dump schedule: the lists' ESTABLISHED sockets are
			// older than this poll (their count is exact).
			text, style := "ESTABLISHED detail "+format.Millis(uint32(min(c.AgeMS, 1<<31)))+" old", st.Warn
			if c.Unchanged {
				// The kernel's counters show the same sockets: only
				// their queues and timers are that old.
				text, style = text+", same sockets", st.Dim
			}
			parts = append(parts, part{style.Render(text), 1})
		}
		for _, e := range ebpfHeader(st, snap, width-ansi.StringWidth(joinParts())-2) {
			parts = append(parts, part{e.text, e.prio})
		}
		if !snap.Attributed {
			parts = append(parts, part{st.Dim.Render("no procs"), 8})
		}
	}
	join := joinParts
	// Drop the least important parts until the line fits.
	for prio := 8; prio > 0 && ansi.StringWidth(join()) > width; prio-- {
		kept := parts[:0:0]
		for _, p := range parts {
			if p.prio != prio {
				kept = append(kept, p)
			}
		}
		parts = kept
	}
	return fitStyled(join(), width)
}

// histStates picks the states the histogram shows: all of them when there
// is room, else the non-zero ones plus the three incidents hinge on. A
// state seen in the recent polls (the snapshot's history) keeps its row
// while it is zero, so transient states do not make the panels below jump.
func histStates(snap *model.Snapshot, all bool) []source.State {
	var seen source.StateMask
	for i := range snap.History {
		for _, s := range source.AllStates {
			if snap.History[i].States[s] > 0 {
				seen |= 1 << s
			}
		}
	}
	var out []source.State
	for _, s := range source.AllStates {
		if all || snap.States[s] > 0 || seen&(1<<s) != 0 || s == source.Established || s == source.TimeWait || s == source.CloseWait {
			out = append(out, s)
		}
	}
	return out
}

// renderStates draws one bar per state in cols columns; where a column is
// wide enough, TIME_WAIT and CLOSE_WAIT get a sparkline of their recent
// history after the rate.
func renderStates(st *themes.Styles, snap *model.Snapshot, states []source.State, cols, width int, g format.Glyphs) []string {
	maxc := 1
	for _, s := range states {
		maxc = max(maxc, snap.States[s])
	}
	colW := width
	if cols > 1 {
		colW = (width - 3*(cols-1)) / cols
	}
	sparkW := sparkWidth(colW)
	if len(snap.History) == 0 {
		sparkW = 0
	}
	rows := (len(states) + cols - 1) / cols
	lines := make([]string, rows)
	for r := range rows {
		var b strings.Builder
		for c := range cols {
			i := c*rows + r
			if i >= len(states) {
				break
			}
			if c > 0 {
				b.WriteString(st.Dim.Render(" " + g.ColumnSep + " "))
			}
			b.WriteString(stateRow(st, snap, states[i], maxc, colW, sparkW, g))
		}
		lines[r] = fitStyled(b.String(), width)
	}
	return lines
}

// sparkWidth is how many cells a histogram column of width cells gives
// its sparklines: none below 64, then a third of what the bar would get,
// at most 30.
func sparkWidth(width int) int {
	if width < 64 {
		return 0
	}
	return min(30, (width-11-1-8-8)/3)
}

// sparkStates are the states whose histogram rows carry a sparkline.
func sparkState(s source.State) bool { return s == source.TimeWait || s == source.CloseWait }

func stateRow(st *themes.Styles, snap *model.Snapshot, s source.State, maxc, width, sparkW int, g format.Glyphs) string {
	n := snap.States[s]
	name := format.Pad(s.String(), 11, false)
	count := format.Pad(format.Count(n), 8, true)
	rate := format.Pad(format.PerSecColumn(float64(snap.StateRates[s])), 8, true)
	spark := ""
	if sparkW > 0 {
		spark = strings.Repeat(" ", sparkW+1)
		if sparkState(s) {
			spark = " " + format.Sparkline(snap.Series(s), sparkW, g)
		}
	}
	barW := min(60, width-11-1-8-8-1-ansi.StringWidth(spark))
	style := st.Normal
	switch {
	case s == source.TimeWait && n > 0:
		style = st.TimeWait
	case s == source.CloseWait && n > 0:
		style = st.CloseWait
	case n == 0:
		style = st.Dim
	}
	bar := ""
	if barW > 0 {
		// No track behind a histogram bar: only the bars should catch the eye.
		fill, empty := format.Gauge(float64(n)/float64(maxc), barW, n > 0, g)
		bar = style.Render(fill) + st.Dim.Render(strings.Repeat(" ", empty))
	}
	line := style.Render(name) + " " + bar + style.Render(count) + st.Dim.Render(rate)
	if strings.TrimSpace(spark) != "" {
		line += style.Render(spark)
	} else {
		line += spark
	}
	return line
}

// gauge draws a bar of width cells filled to frac (clamped to [0,1]) in
// fill's style on a dim track; atLeastOne keeps a small non-zero value
// visible.
func gauge(st *themes.Styles, g format.Glyphs, frac float64, width int, fill lipgloss.Style, atLeastOne bool) string {
	if width <= 0 {
		return ""
	}
	bar, empty := format.Gauge(frac, width, atLeastOne, g)
	return fill.Render(bar) + st.Dim.Render(strings.Repeat(g.BarEmpty, empty))
}

// levelStyle picks warning or critical for a fraction: past warn the
// warning style, past crit the critical one.
func levelStyle(st *themes.Styles, f, warn, crit float64) lipgloss.Style {
	switch {
	case f >= crit:
		return st.Crit
	case f >= warn:
		return st.Warn
	}
	return st.Normal
}

// thresholds are those the snapshot's findings were judged by, so a gauge
// turns yellow or red exactly when a finding says WARN or CRIT (the
// defaults for a snapshot without them).
func thresholds(snap *model.Snapshot) model.Thresholds {
	if th := snap.Thresholds; th.PortsCrit > 0 {
		return th
	}
	return model.DefaultThresholds()
}

// renderPorts draws the ephemeral-port gauge and, with two lines, the
// destination closest to exhaustion.
func renderPorts(st *themes.Styles, snap *model.Snapshot, lines, width int, g format.Glyphs) []string {
	e := &snap.Ephemeral
	label := st.Title.Render("PORTS    ")
	if e.High == 0 {
		return []string{fitStyled(label+st.Dim.Render("ephemeral range unavailable (ip_local_port_range unreadable)"), width)}
	}
	th := thresholds(snap)
	text := fmt.Sprintf(" %s/%s %s  range %d-%d", format.Count(e.InUse), format.Count(e.Usable), format.Pad(format.PercentFine(e.Fraction), 5, true), e.Low, e.High)
	if e.Reserved > 0 {
		text += fmt.Sprintf(" (%d reserved)", e.Reserved)
	}
	barW := min(40, width-9-ansi.StringWidth(text))
	if barW < 8 {
		text = fmt.Sprintf(" %s/%s %s", format.Count(e.InUse), format.Count(e.Usable), format.PercentFine(e.Fraction))
		barW = width - 9 - ansi.StringWidth(text)
	}
	style := levelStyle(st, e.Fraction, th.PortsWarn, th.PortsCrit)
	out := []string{fitStyled(label+gauge(st, g, e.Fraction, barW, style, e.InUse > 0)+style.Render(text), width)}
	if lines < 2 {
		return out
	}
	if len(e.Destinations) == 0 {
		return append(out, fitStyled(st.Dim.Render("  worst  no destination holds ephemeral ports"), width))
	}
	d := e.Destinations[0]
	// Longest first; the first that leaves room for a bar wins.
	tw := ""
	if d.TimeWait > 0 {
		tw = "  TIME_WAIT " + format.Count(d.TimeWait) + " drains in " + format.Millis(d.DrainMS)
	}
	inUse, pct := format.Count(d.InUse), format.PercentFine(d.Fraction)
	variants := []string{
		" " + inUse + "/" + format.Count(e.Usable) + " " + format.Pad(pct, 5, true) + "  " + d.LocalIP + " " + g.Arrow + " " + d.Remote + tw,
		" " + inUse + " " + format.Pad(pct, 5, true) + "  " + d.Remote + tw,
		" " + inUse + " " + pct + " " + d.Remote,
	}
	dtext := variants[len(variants)-1]
	for _, v := range variants {
		if width-9-ansi.StringWidth(v) >= 8 {
			dtext = v
			break
		}
	}
	dstyle := levelStyle(st, d.Fraction, th.PortsWarn, th.PortsCrit)
	dbarW := min(barW, width-9-ansi.StringWidth(dtext))
	if dbarW < 4 {
		dbarW = 0
	}
	line := st.Dim.Render("  worst  ") + gauge(st, g, d.Fraction, dbarW, dstyle, d.InUse > 0) + dstyle.Render(dtext)
	return append(out, fitStyled(line, width))
}

// renderListeners draws a title with the overflow rates and up to lines-1
// listeners, fullest first.
func renderListeners(st *themes.Styles, snap *model.Snapshot, lines, width int, g format.Glyphs) []string {
	title := st.Title.Render("LISTEN " + format.Count(len(snap.Listeners)))
	var counters string
	if _, ok := snap.Counters["ListenOverflows"]; !ok {
		counters = st.Dim.Render("  overflow counters unavailable (/proc/net/netstat unreadable)")
	} else if snap.Rates != nil {
		ov, dr := float64(snap.Rates["ListenOverflows"]), float64(snap.Rates["ListenDrops"])
		counters = "  overflows " + format.Rate(ov) + "/s  drops " + format.Rate(dr) + "/s"
		if ov > 0 || dr > 0 {
			counters = st.Crit.Render(counters)
		}
	} else {
		counters = st.Dim.Render("  overflows " + format.Count64(snap.Counters["ListenOverflows"]) +
			"  drops " + format.Count64(snap.Counters["ListenDrops"]) + " since boot")
	}
	rows := min(len(snap.Listeners), lines-1)
	if more := len(snap.Listeners) - rows; more > 0 {
		counters += st.Dim.Render("  (+" + format.Count(more) + " more)")
	}
	out := []string{fitStyled(title+counters, width)}
	// As wide as the widest address up to an IPv4 one with its port: a
	// longer (IPv6) one is cut in its middle, so one long listener does
	// not narrow every other row's processes.
	localW, long := 9, false
	for _, l := range snap.Listeners[:rows] {
		if w := format.Width(l.Local); w <= 21 {
			localW = max(localW, w)
		} else {
			long = true
		}
	}
	if long {
		localW = max(localW, 14) // "[2001:…f]:8443"
	}
	barW := max(6, min(24, width/7))
	acceptFill := thresholds(snap).AcceptFill
	for _, l := range snap.Listeners[:rows] {
		style := st.Normal
		switch {
		case l.Full:
			style = st.Crit
		case l.Fill >= acceptFill:
			style = st.Warn
		}
		var marks []string
		if l.CappedBySomaxconn {
			marks = append(marks, "=somaxconn")
		}
		if l.InEphemeralRange {
			marks = append(marks, "in-ephemeral")
		}
		q := " " + format.Pad(format.Count(int(l.Queue))+"/"+format.Count(int(l.Backlog)), 11, true)
		syn := "  syn " + format.Pad(format.Count(l.SynRecv), 3, false)
		line := "  " + format.Fit(format.ClipMiddle(l.Local, localW, g), localW, false, g) + " " + gauge(st, g, l.Fill, barW, style, l.Queue > 0) +
			style.Render(q) + st.Dim.Render(syn)
		if l.Full {
			line += " " + style.Render("FULL")
		}
		if r := l.DropsPerSec; r != nil && *r > 0 {
			// Its own drops (sk_drops): which listener the overflow
			// counters above rose for.
			line += " " + st.Crit.Render("drops "+format.Rate(float64(*r))+"/s")
		}
		// The flags before the processes: they are short and fixed, the
		// process list is what gets cut.
		if len(marks) > 0 {
			line += " " + st.Dim.Render(strings.Join(marks, " "))
		}
		line += " " + present.ProcRefs(l.Processes, snap.Attributed)
		out = append(out, fitStyled(line, width))
	}
	return out
}

// fitStyled pads or cuts a styled line to exactly width cells.
func fitStyled(s string, width int) string {
	w := ansi.StringWidth(s)
	if w > width {
		return ansi.Truncate(s, width, "")
	}
	return s + strings.Repeat(" ", width-w)
}

// oneLine keeps an error to a single line.
func oneLine(err error) string {
	return format.Sanitize(strings.Join(strings.Fields(err.Error()), " "))
}

func loc(l *time.Location) *time.Location {
	if l == nil {
		return time.UTC
	}
	return l
}

func stripped(s string) string { return ansi.Strip(s) }
