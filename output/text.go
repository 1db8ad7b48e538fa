// Package output holds every batch output of tcptop, each a function of a
// Snapshot: the text form (as `top -b` prints it), JSON and NDJSON, and the
// --check verdict. Writers are pure apart from the one write to w, so each
// is golden-tested from a fixed snapshot.
package output

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

// TextOptions shapes the batch text output.
type TextOptions struct {
	// Top bounds the peer, process and destination lists (0: 10).
	Top int
	// Location is the time zone for the header (nil: UTC, so output does not
	// depend on the environment).
	Location *time.Location
	// Width, when > 0, cuts every line to that many columns, as ps does on
	// a terminal; piped output keeps whole lines.
	Width int
}

// keyCounters are shown first in the text output, in this order.
var keyCounters = []string{
	"ListenOverflows", "ListenDrops", "TCPTimeWaitOverflow", "TWRecycled", "TW",
	"TCPAbortOnData", "TCPAbortOnClose", "ActiveOpens", "PassiveOpens",
	"AttemptFails", "EstabResets", "CurrEstab", "RetransSegs",
}

// keySysctls are the tunables shown in the text output, in the kernel
// view's order.
var keySysctls = model.TunableNames()

// tableStates are the per-state columns of the peer and process tables.
var tableStates = []stateCol{
	{source.Established, "ESTAB"},
	{source.TimeWait, "TIME_WAIT"},
	{source.CloseWait, "CLOSE_WAIT"},
	{source.SynSent, "SYN_SENT"},
	{source.SynRecv, "SYN_RECV"},
	{source.FinWait1, "FIN_WAIT1"},
	{source.FinWait2, "FIN_WAIT2"},
	{source.LastAck, "LAST_ACK"},
}

// WriteText writes a snapshot the way `top -b` would: the findings (what
// is wrong, with evidence and advice), totals, the state histogram, the port gauge, listeners, the top peers and processes, and
// the kernel counters and tunables.
func WriteText(w io.Writer, snap *model.Snapshot, opt TextOptions) error {
	top := opt.Top
	if top <= 0 {
		top = 10
	}
	loc := opt.Location
	if loc == nil {
		loc = time.UTC
	}
	var b strings.Builder
	fmt.Fprintf(&b, "tcptop - %s  host %s  netns %s  sockets %d  poll %.1f ms\n",
		snap.Time.In(loc).Format("2006-01-02 15:04:05 MST"), snap.Host, snap.Netns, snap.Total, snap.PollMS.Total)

	writeFindings(&b, snap)
	writeStates(&b, snap)
	writeEphemeral(&b, snap, top)
	writeListeners(&b, snap)
	writePeers(&b, snap, top)
	writeProcesses(&b, snap, top)
	writeKernel(&b, snap)
	for _, w := range snap.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	b.WriteByte('\n')
	out := b.String()
	if opt.Width > 0 {
		out = cutLines(out, opt.Width)
	}
	_, err := io.WriteString(w, out)
	return err
}

// cutLines cuts each line of s to at most width runes.
func cutLines(s string, width int) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if utf8.RuneCountInString(l) > width {
			lines[i] = string([]rune(l)[:width])
		}
	}
	return strings.Join(lines, "\n")
}

type stateCol struct {
	s     source.State
	title string
}

// shownStates keeps the table columns whose state is non-zero in at least
// one listed row, so a table stays narrow on a quiet machine.
func shownStates(n int, row func(i int) *model.StateCounts) []stateCol {
	var cols []stateCol
	for _, c := range tableStates {
		for i := 0; i < n; i++ {
			if row(i)[c.s] > 0 {
				cols = append(cols, c)
				break
			}
		}
	}
	return cols
}

// WriteFindings writes the findings section of the text output alone
// (WriteCheck prints it).
func WriteFindings(w io.Writer, snap *model.Snapshot) error {
	var b strings.Builder
	writeFindings(&b, snap)
	_, err := io.WriteString(w, strings.TrimPrefix(b.String(), "\n"))
	return err
}

// writeFindings prints each finding: severity and title, then its
// evidence ("why") and advice ("do"), indented. A snapshot built without
// an Analyzer (no History) has no findings section: it was never asked.
func writeFindings(b *strings.Builder, snap *model.Snapshot) {
	if snap.History == nil && len(snap.Findings) == 0 {
		return
	}
	if len(snap.Findings) == 0 {
		b.WriteString("\nFINDINGS  no findings\n")
		return
	}
	fmt.Fprintf(b, "\nFINDINGS %d\n", len(snap.Findings))
	for _, f := range snap.Findings {
		fmt.Fprintf(b, "  %-8s  %s\n", strings.ToUpper(f.Severity.String()), f.Title)
		section := func(label string, lines []model.Text) {
			for i, l := range lines {
				if i > 0 {
					label = ""
				}
				fmt.Fprintf(b, "  %10s  %s\n", label, l)
			}
		}
		about := "host"
		if f.Subject.Kind != model.SubjectHost {
			about = f.Subject.Kind + " " + f.Subject.String()
		}
		section("about:", []model.Text{model.Plain(about + "  (rule " + f.Rule + ")")})
		section("why:", f.Evidence)
		section("do:", f.Advice)
	}
}

func writeStates(b *strings.Builder, snap *model.Snapshot) {
	b.WriteString("\nSTATE        COUNT\n")
	maxc := 0
	for _, s := range source.AllStates {
		maxc = max(maxc, snap.States[s])
	}
	for _, s := range source.AllStates {
		n := snap.States[s]
		fmt.Fprintf(b, "%-11s %6d", s, n)
		if cells := bar(n, maxc, 40, '#'); cells != "" {
			b.WriteString("  " + cells)
		}
		b.WriteByte('\n')
	}
}

func writeEphemeral(b *strings.Builder, snap *model.Snapshot, top int) {
	e := &snap.Ephemeral
	if e.High == 0 {
		b.WriteString("\nEPHEMERAL PORTS  unavailable (ip_local_port_range unreadable)\n")
		return
	}
	fmt.Fprintf(b, "\nEPHEMERAL PORTS  %d of %d in use (%s)  range %d-%d, %d reserved\n",
		e.InUse, e.Usable, pct(e.Fraction), e.Low, e.High, e.Reserved)
	if len(e.Destinations) == 0 {
		return
	}
	fmt.Fprintf(b, "  %-15s %-22s %6s %5s %9s  %s\n", "LOCAL IP", "DESTINATION", "PORTS", "USE", "TIME_WAIT", "TIME_WAIT DRAINS")
	for i, d := range e.Destinations {
		if i == top {
			break
		}
		drain := "-"
		if d.TimeWait > 0 {
			drain = fmt.Sprintf("first in %s, all in %s", millis(d.NextFreeMS), millis(d.DrainMS))
		}
		fmt.Fprintf(b, "  %-15s %-22s %6d %5s %9d  %s\n", d.LocalIP, d.Remote, d.InUse, pct(d.Fraction), d.TimeWait, drain)
	}
	if more := e.DestinationCount - min(top, len(e.Destinations)); more > 0 {
		fmt.Fprintf(b, "  ... %d more destinations\n", more)
	}
}

func writeListeners(b *strings.Builder, snap *model.Snapshot) {
	fmt.Fprintf(b, "\nLISTENERS %d", len(snap.Listeners))
	if _, ok := snap.Counters["ListenOverflows"]; !ok {
		b.WriteString("  ListenOverflows/ListenDrops unavailable (/proc/net/netstat unreadable)")
	} else if r, ok := snap.Rates["ListenOverflows"]; ok {
		fmt.Fprintf(b, "  ListenOverflows %.1f/s  ListenDrops %.1f/s", float64(r), float64(snap.Rates["ListenDrops"]))
	} else {
		fmt.Fprintf(b, "  ListenOverflows %d  ListenDrops %d (since boot)", snap.Counters["ListenOverflows"], snap.Counters["ListenDrops"])
	}
	b.WriteByte('\n')
	if len(snap.Listeners) == 0 {
		return
	}
	fmt.Fprintf(b, "  %-22s %13s %5s %8s  %-18s %s\n", "LOCAL", "QUEUE/BACKLOG", "FILL", "SYN_RECV", "PROCESS", "NOTES")
	for _, l := range snap.Listeners {
		var notes []string
		if l.Full {
			notes = append(notes, "FULL")
		}
		if l.CappedBySomaxconn {
			notes = append(notes, "backlog=somaxconn")
		}
		if l.InEphemeralRange {
			notes = append(notes, "in ephemeral range")
		}
		fmt.Fprintf(b, "  %-22s %13s %5s %8d  %-18s %s\n", l.Local,
			fmt.Sprintf("%d/%d", l.Queue, l.Backlog), pct(l.Fill), l.SynRecv,
			clip(procRefList(l.Processes, snap.Attributed), 18), strings.Join(notes, ", "))
	}
}

func procRefList(ps []model.ProcRef, attributed bool) string {
	if !attributed {
		return "-"
	}
	if len(ps) == 0 {
		return model.UnknownName
	}
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = fmt.Sprintf("%s[%d]", p.Name, p.PID)
	}
	return strings.Join(parts, ",")
}

func writePeers(b *strings.Builder, snap *model.Snapshot, top int) {
	fmt.Fprintf(b, "\nPEERS %d  sort %s", len(snap.Peers), snap.Sort)
	if snap.Filter != "" {
		fmt.Fprintf(b, "  filter %q", snap.Filter)
	}
	b.WriteByte('\n')
	if len(snap.Peers) == 0 {
		return
	}
	n := min(top, len(snap.Peers))
	cols := shownStates(n, func(i int) *model.StateCounts { return &snap.Peers[i].States })
	fmt.Fprintf(b, "  %-3s %-22s %-22s %6s", "DIR", "REMOTE", "LOCAL", "TOTAL")
	for _, c := range cols {
		fmt.Fprintf(b, " %*s", colWidth(c.title), c.title)
	}
	b.WriteString("  PROCESSES\n")
	for _, p := range snap.Peers[:n] {
		fmt.Fprintf(b, "  %-3s %-22s %-22s %6d", p.Direction, p.Remote, clip(p.Local, 22), p.Total)
		for _, c := range cols {
			fmt.Fprintf(b, " %*d", colWidth(c.title), p.States[c.s])
		}
		fmt.Fprintf(b, "  %s\n", peerProcs(p, snap.Attributed))
	}
	if len(snap.Peers) > n {
		fmt.Fprintf(b, "  ... %d more peers\n", len(snap.Peers)-n)
	}
}

func colWidth(title string) int { return max(len(title), 5) }

func peerProcs(p model.Peer, attributed bool) string {
	if !attributed {
		return "-"
	}
	parts := make([]string, 0, len(p.Processes))
	for _, pp := range p.Processes {
		s := pp.Name
		if pp.PID != 0 {
			s = fmt.Sprintf("%s[%d]", pp.Name, pp.PID)
		}
		if pp.Inferred {
			s += "~"
		}
		if len(p.Processes) > 1 {
			s += fmt.Sprintf(":%d", pp.Sockets)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func writeProcesses(b *strings.Builder, snap *model.Snapshot, top int) {
	if !snap.Attributed {
		b.WriteString("\nPROCESSES  not attributed (--no-procs, or /proc could not be scanned: see the warnings)\n")
		return
	}
	fmt.Fprintf(b, "\nPROCESSES %d", len(snap.Processes))
	if snap.UnreadableProcesses > 0 {
		fmt.Fprintf(b, "  (%d processes unreadable without root: their sockets count as unknown)", snap.UnreadableProcesses)
	}
	b.WriteByte('\n')
	if len(snap.Processes) == 0 {
		return
	}
	n := min(top, len(snap.Processes))
	cols := shownStates(n, func(i int) *model.StateCounts { return &snap.Processes[i].States })
	fmt.Fprintf(b, "  %7s %-15s %-8s %6s %6s", "PID", "NAME", "USER", "TOTAL", "LISTEN")
	for _, c := range cols {
		fmt.Fprintf(b, " %*s", colWidth(c.title), c.title)
	}
	b.WriteString("  COMMAND\n")
	for _, p := range snap.Processes[:n] {
		pid := "-"
		if p.PID != 0 {
			pid = fmt.Sprint(p.PID)
		}
		fmt.Fprintf(b, "  %7s %-15s %-8s %6d %6d", pid, clip(p.Name, 15), clip(p.User, 8), p.Total, p.States[source.Listen])
		for _, c := range cols {
			fmt.Fprintf(b, " %*d", colWidth(c.title), p.States[c.s])
		}
		fmt.Fprintf(b, "  %s\n", clip(p.Cmdline, 60))
	}
	if len(snap.Processes) > n {
		fmt.Fprintf(b, "  ... %d more processes\n", len(snap.Processes)-n)
	}
}

func writeKernel(b *strings.Builder, snap *model.Snapshot) {
	b.WriteString("\nCOUNTERS")
	if snap.Rates == nil {
		b.WriteString(" (since boot; rates from the second sample on)")
	}
	b.WriteByte('\n')
	for _, k := range keyCounters {
		v, ok := snap.Counters[k]
		if !ok {
			continue
		}
		if r, ok := snap.Rates[k]; ok {
			fmt.Fprintf(b, "  %-20s %12d %10.1f/s\n", k, v, float64(r))
		} else {
			fmt.Fprintf(b, "  %-20s %12d\n", k, v)
		}
	}
	b.WriteString("\nTUNABLES\n")
	for _, k := range keySysctls {
		v, ok := snap.Sysctl[k]
		if !ok {
			v = "(unreadable)"
		} else if v == "" {
			v = "(empty)"
		}
		fmt.Fprintf(b, "  %-34s %s\n", k, v)
	}
}

// bar draws n/maxv as up to width cells of fill; a non-zero n gets at
// least one cell so small counts stay visible.
func bar(n, maxv, width int, fill rune) string {
	if n <= 0 || maxv <= 0 || width <= 0 {
		return ""
	}
	cells := n * width / maxv
	cells = max(1, min(cells, width))
	return strings.Repeat(string(fill), cells)
}

// pct formats a fraction as a percentage.
func pct(f float64) string {
	switch {
	case f == 0:
		return "0%"
	case f < 0.001:
		return "<0.1%"
	case f < 0.1:
		return fmt.Sprintf("%.1f%%", f*100)
	}
	return fmt.Sprintf("%.0f%%", f*100)
}

// millis formats a millisecond timer as "59.1s" or "850ms".
func millis(ms uint32) string {
	if ms < 1000 {
		return fmt.Sprintf("%dms", ms)
	}
	return fmt.Sprintf("%.1fs", float64(ms)/1000)
}

// clip shortens s to at most n runes, marking the cut with '~'.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 1 {
		return string(r[:n])
	}
	return string(r[:n-1]) + "~"
}
