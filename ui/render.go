package ui

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
	"github.com/tcptop/tcptop/themes"
)

// Pure render helpers: model values in, styled lines out, each line exactly
// the width it is given so the screen never wraps.

// Gauge thresholds: a port range or queue past these turns warning or
// critical.
const (
	WarnFraction = 0.60
	CritFraction = 0.85
)

// headerInfo is what the header shows beyond the snapshot.
type headerInfo struct {
	paused   bool
	interval time.Duration
	loc      *time.Location
	ascii    bool
}

func renderHeader(st *themes.Styles, snap *model.Snapshot, hi headerInfo, width int) string {
	type part struct {
		text string
		prio int // lower survives longer on a narrow screen
	}
	// The name goes first on a narrow screen: the numbers matter more.
	parts := []part{{st.Header.Render("tcptop"), 7}}
	if hi.paused {
		parts = append(parts, part{st.Crit.Render("PAUSED"), 0})
	}
	if snap == nil {
		parts = append(parts, part{st.Dim.Render("reading sockets..."), 0})
	} else {
		parts = append(parts,
			part{st.Header.Render(snap.Host), 6},
			part{"netns " + snap.Netns, 5},
			part{snap.Time.In(loc(hi.loc)).Format("15:04:05"), 3},
			part{"every " + shortDuration(hi.interval), 4},
			part{st.Title.Render(num(snap.Total)) + " sockets", 1},
		)
		if snap.Interval > 0 {
			parts = append(parts, part{rateNum(float64(snap.Churn)) + " opens/s", 2})
		}
		parts = append(parts, part{fmt.Sprintf("poll %.1fms", snap.PollMS.Total), 2})
		if !snap.Attributed {
			parts = append(parts, part{st.Dim.Render("no procs"), 8})
		}
	}
	join := func() string {
		texts := make([]string, 0, len(parts))
		for _, p := range parts {
			texts = append(texts, p.text)
		}
		return strings.Join(texts, "  ")
	}
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
// is room, else the non-zero ones plus the three incidents hinge on.
func histStates(snap *model.Snapshot, all bool) []source.State {
	var out []source.State
	for _, s := range source.AllStates {
		if all || snap.States[s] > 0 || s == source.Established || s == source.TimeWait || s == source.CloseWait {
			out = append(out, s)
		}
	}
	return out
}

// renderStates draws one bar per state in cols columns; where a column is
// wide enough, TIME_WAIT and CLOSE_WAIT get a sparkline of their recent
// history after the rate.
func renderStates(st *themes.Styles, snap *model.Snapshot, states []source.State, cols, width int, ascii bool) []string {
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
				b.WriteString(st.Dim.Render(" │ "))
			}
			b.WriteString(stateRow(st, snap, states[i], maxc, colW, sparkW, ascii))
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

func stateRow(st *themes.Styles, snap *model.Snapshot, s source.State, maxc, width, sparkW int, ascii bool) string {
	n := snap.States[s]
	name := fmt.Sprintf("%-11s", s.String())
	count := fmt.Sprintf("%8s", num(n))
	rate := fmt.Sprintf("%8s", fmtRate(float64(snap.StateRates[s])))
	spark := ""
	if sparkW > 0 {
		spark = strings.Repeat(" ", sparkW+1)
		if sparkState(s) {
			spark = " " + sparkline(snap.Series(s), sparkW, ascii)
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
		noTrack := *st
		noTrack.BarEmpty = " "
		bar = gauge(&noTrack, float64(n)/float64(maxc), barW, style, n > 0)
	}
	line := style.Render(name) + " " + bar + style.Render(count) + st.Dim.Render(rate)
	if strings.TrimSpace(spark) != "" {
		line += style.Render(spark)
	} else {
		line += spark
	}
	return line
}

// sparkline draws the last width values of series (oldest first) as
// eighth-blocks scaled from 0 to their maximum, right-aligned; ascii uses
// characters of increasing weight. Zero is blank.
func sparkline(series []int, width int, ascii bool) string {
	if width <= 0 {
		return ""
	}
	levels := []rune(" ▁▂▃▄▅▆▇█")
	if ascii {
		levels = []rune(" _.-:=+*#")
	}
	if len(series) > width {
		series = series[len(series)-width:]
	}
	top := 0
	for _, v := range series {
		top = max(top, v)
	}
	var b strings.Builder
	b.WriteString(strings.Repeat(" ", width-len(series)))
	for _, v := range series {
		i := 0
		if v > 0 && top > 0 {
			i = max(1, int(math.Round(float64(v)/float64(top)*float64(len(levels)-1))))
		}
		b.WriteRune(levels[i])
	}
	return b.String()
}

// gauge draws a bar of width cells filled to frac (clamped to [0,1]); with
// block characters it uses eighths for a finer resolution. atLeastOne keeps
// small non-zero values visible.
func gauge(st *themes.Styles, frac float64, width int, fill lipgloss.Style, atLeastOne bool) string {
	if width <= 0 {
		return ""
	}
	frac = math.Max(0, math.Min(1, frac))
	if st.BarFill != "█" {
		cells := int(math.Round(frac * float64(width)))
		if cells == 0 && atLeastOne {
			cells = 1
		}
		return fill.Render(strings.Repeat(st.BarFill, cells)) + st.Dim.Render(strings.Repeat(st.BarEmpty, width-cells))
	}
	eighths := int(math.Round(frac * float64(width*8)))
	if eighths == 0 && atLeastOne {
		eighths = 1
	}
	full, part := eighths/8, eighths%8
	s := strings.Repeat("█", full)
	empty := width - full
	if part > 0 {
		s += string([]rune("▏▎▍▌▋▊▉")[part-1])
		empty--
	}
	return fill.Render(s) + st.Dim.Render(strings.Repeat(st.BarEmpty, empty))
}

// levelStyle picks warning or critical for a fraction.
func levelStyle(st *themes.Styles, f float64) lipgloss.Style {
	switch {
	case f >= CritFraction:
		return st.Crit
	case f >= WarnFraction:
		return st.Warn
	}
	return st.Normal
}

// renderPorts draws the ephemeral-port gauge and, with two lines, the
// destination closest to exhaustion.
func renderPorts(st *themes.Styles, snap *model.Snapshot, lines, width int, ascii bool) []string {
	e := &snap.Ephemeral
	label := st.Title.Render("PORTS    ")
	if e.High == 0 {
		return []string{fitStyled(label+st.Dim.Render("ephemeral range unavailable (ip_local_port_range unreadable)"), width)}
	}
	text := fmt.Sprintf(" %s/%s %5s  range %d-%d", num(e.InUse), num(e.Usable), Pct(e.Fraction), e.Low, e.High)
	if e.Reserved > 0 {
		text += fmt.Sprintf(" (%d reserved)", e.Reserved)
	}
	barW := min(40, width-9-ansi.StringWidth(text))
	if barW < 8 {
		text = fmt.Sprintf(" %s/%s %s", num(e.InUse), num(e.Usable), Pct(e.Fraction))
		barW = width - 9 - ansi.StringWidth(text)
	}
	style := levelStyle(st, e.Fraction)
	out := []string{fitStyled(label+gauge(st, e.Fraction, barW, style, e.InUse > 0)+style.Render(text), width)}
	if lines < 2 {
		return out
	}
	if len(e.Destinations) == 0 {
		return append(out, fitStyled(st.Dim.Render("  worst  no destination holds ephemeral ports"), width))
	}
	d := e.Destinations[0]
	arrow := " → "
	if ascii {
		arrow = " -> "
	}
	// Longest first; the first that leaves room for a bar wins.
	tw := ""
	if d.TimeWait > 0 {
		tw = fmt.Sprintf("  TIME_WAIT %s drains in %s", num(d.TimeWait), Millis(d.DrainMS))
	}
	variants := []string{
		fmt.Sprintf(" %s/%s %5s  %s%s%s%s", num(d.InUse), num(e.Usable), Pct(d.Fraction), d.LocalIP, arrow, d.Remote, tw),
		fmt.Sprintf(" %s %5s  %s%s", num(d.InUse), Pct(d.Fraction), d.Remote, tw),
		fmt.Sprintf(" %s %s %s", num(d.InUse), Pct(d.Fraction), d.Remote),
	}
	dtext := variants[len(variants)-1]
	for _, v := range variants {
		if width-9-ansi.StringWidth(v) >= 8 {
			dtext = v
			break
		}
	}
	dstyle := levelStyle(st, d.Fraction)
	dbarW := min(barW, width-9-ansi.StringWidth(dtext))
	if dbarW < 4 {
		dbarW = 0
	}
	line := st.Dim.Render("  worst  ") + gauge(st, d.Fraction, dbarW, dstyle, d.InUse > 0) + dstyle.Render(dtext)
	return append(out, fitStyled(line, width))
}

// renderListeners draws a title with the overflow rates and up to lines-1
// listeners, fullest first.
func renderListeners(st *themes.Styles, snap *model.Snapshot, lines, width int) []string {
	title := st.Title.Render(fmt.Sprintf("LISTEN %d", len(snap.Listeners)))
	var counters string
	if _, ok := snap.Counters["ListenOverflows"]; !ok {
		counters = st.Dim.Render("  overflow counters unavailable (/proc/net/netstat unreadable)")
	} else if snap.Rates != nil {
		ov, dr := float64(snap.Rates["ListenOverflows"]), float64(snap.Rates["ListenDrops"])
		counters = fmt.Sprintf("  overflows %s/s  drops %s/s", rateNum(ov), rateNum(dr))
		if ov > 0 || dr > 0 {
			counters = st.Crit.Render(counters)
		}
	} else {
		counters = st.Dim.Render(fmt.Sprintf("  overflows %s  drops %s since boot",
			num(int(snap.Counters["ListenOverflows"])), num(int(snap.Counters["ListenDrops"]))))
	}
	rows := min(len(snap.Listeners), lines-1)
	if more := len(snap.Listeners) - rows; more > 0 {
		counters += st.Dim.Render(fmt.Sprintf("  (+%d more)", more))
	}
	out := []string{fitStyled(title+counters, width)}
	localW := 9
	for _, l := range snap.Listeners[:rows] {
		localW = max(localW, min(len(l.Local), 30))
	}
	barW := max(6, min(24, width/7))
	for _, l := range snap.Listeners[:rows] {
		style := st.Normal
		switch {
		case l.Full:
			style = st.Crit
		case l.Fill >= 0.8:
			style = st.Warn
		}
		var marks []string
		if l.CappedBySomaxconn {
			marks = append(marks, "=somaxconn")
		}
		if l.InEphemeralRange {
			marks = append(marks, "in-ephemeral")
		}
		q := fmt.Sprintf(" %11s", fmt.Sprintf("%d/%d", l.Queue, l.Backlog))
		syn := fmt.Sprintf("  syn %-3d", l.SynRecv)
		line := "  " + pad(l.Local, localW, false) + " " + gauge(st, l.Fill, barW, style, l.Queue > 0) +
			style.Render(q) + st.Dim.Render(syn)
		if l.Full {
			line += " " + style.Render("FULL")
		}
		line += " " + procRefList(l.Processes, snap.Attributed)
		if len(marks) > 0 {
			line += " " + st.Dim.Render(strings.Join(marks, " "))
		}
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

// num formats an integer with thousands separators.
func num(n int) string {
	s := strconv.Itoa(n)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	if len(s) > 3 {
		var b strings.Builder
		pre := len(s) % 3
		if pre > 0 {
			b.WriteString(s[:pre])
		}
		for i := pre; i < len(s); i += 3 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(s[i : i+3])
		}
		s = b.String()
	}
	if neg {
		return "-" + s
	}
	return s
}

// fmtRate shows a per-second change: blank when nothing moved.
func fmtRate(r float64) string {
	if math.Abs(r) < 0.05 {
		return ""
	}
	if math.Abs(r) < 10 {
		return fmt.Sprintf("%+.1f/s", r)
	}
	return fmt.Sprintf("%+.0f/s", r)
}

// rateNum shows a non-negative rate compactly.
func rateNum(r float64) string {
	if r < 10 && r != math.Trunc(r) {
		return fmt.Sprintf("%.1f", r)
	}
	return num(int(math.Round(r)))
}

// shortDuration prints 1s, 500ms, 2.5s.
func shortDuration(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}

// oneLine keeps an error to a single line.
func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }

func loc(l *time.Location) *time.Location {
	if l == nil {
		return time.UTC
	}
	return l
}

func stripped(s string) string { return ansi.Strip(s) }
