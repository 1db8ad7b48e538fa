// Package output holds every batch output of tcptop, each a function of a
// Snapshot: the text form (as `top -b` prints it), JSON and NDJSON, and the
// --check verdict. Writers are pure apart from the one write to w, so each
// is golden-tested from a fixed snapshot.
package output

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/tcptop/tcptop/format"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/present"
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
	// ASCII draws arrows and cut marks without Unicode ("->", "~"); the
	// default is UTF-8 ("→", "…").
	ASCII bool
}

// textBar is the histogram's bar glyph: '#' in every locale, as top -b
// draws (the batch text is read in mail and logs as often as on a
// terminal).
var textBar = format.GlyphsFor(true).BarFill

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
var tableStates = func() []stateCol {
	cols := make([]stateCol, len(present.StateColumns))
	for i, c := range present.StateColumns {
		cols[i] = stateCol{c.State, c.Long}
	}
	return cols
}()

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
	g := format.GlyphsFor(opt.ASCII)
	var b strings.Builder
	fmt.Fprintf(&b, "tcptop - %s  host %s  netns %s  sockets %d  poll %.1f ms\n",
		snap.Time.In(loc).Format("2006-01-02 15:04:05 MST"), format.Sanitize(snap.Host), format.Sanitize(snap.Netns), snap.Total, snap.PollMS.Total)

	writeFindings(&b, snap, g)
	writeStates(&b, snap)
	writeEphemeral(&b, snap, top)
	writeListeners(&b, snap, top, g)
	writePeers(&b, snap, top, g)
	writeProcesses(&b, snap, top, g)
	writeEBPF(&b, snap, top, loc, g)
	writeKernel(&b, snap)
	for _, w := range snap.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", format.Sanitize(w))
	}
	b.WriteByte('\n')
	out := b.String()
	if opt.Width > 0 {
		out = cutLines(out, opt.Width)
	}
	_, err := io.WriteString(w, out)
	return err
}

// cutLines cuts each line of s to at most width terminal cells.
func cutLines(s string, width int) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = format.Cut(l, width)
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
	writeFindings(&b, snap, format.GlyphsFor(false))
	_, err := io.WriteString(w, strings.TrimPrefix(b.String(), "\n"))
	return err
}

// writeFindings prints each finding: severity and title, then its
// evidence ("why") and advice ("do"), indented. A snapshot built without
// an Analyzer (no History) has no findings section: it was never asked.
func writeFindings(b *strings.Builder, snap *model.Snapshot, g format.Glyphs) {
	if snap.History == nil && len(snap.Findings) == 0 {
		return
	}
	if len(snap.Findings) == 0 {
		b.WriteString("\nFINDINGS  no findings\n")
		return
	}
	fmt.Fprintf(b, "\nFINDINGS %d\n", len(snap.Findings))
	for _, f := range snap.Findings {
		fmt.Fprintf(b, "  %-8s  %s\n", strings.ToUpper(f.Severity.String()), present.FindingText(f.Title, g, nil))
		section := func(label string, lines []model.Text) {
			for i, l := range lines {
				if i > 0 {
					label = ""
				}
				fmt.Fprintf(b, "  %10s  %s\n", label, present.FindingText(l, g, nil))
			}
		}
		about := "host"
		if f.Subject.Kind != model.SubjectHost {
			about = f.Subject.Kind + " " + present.SubjectText(f.Subject, g)
		}
		fmt.Fprintf(b, "  %10s  %s\n", "about:", about+"  (rule "+f.Rule+")")
		section("why:", f.Evidence)
		section("do:", f.Advice)
	}
	// A rule shows at most a few findings: say what it left out.
	rules := make([]string, 0, len(snap.FindingsOmitted))
	for r := range snap.FindingsOmitted {
		rules = append(rules, r)
	}
	sort.Strings(rules)
	for _, r := range rules {
		fmt.Fprintf(b, "  +%d more %s findings (each rule shows its worst few)\n", snap.FindingsOmitted[r], r)
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
		if cells := format.Bar(n, maxc, 40, textBar); cells != "" {
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
		e.InUse, e.Usable, format.PercentFine(e.Fraction), e.Low, e.High, e.Reserved)
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
			drain = fmt.Sprintf("first in %s, all in %s", format.Millis(d.NextFreeMS), format.Millis(d.DrainMS))
		}
		fmt.Fprintf(b, "  %-15s %-22s %6d %5s %9d  %s\n", d.LocalIP, d.Remote, d.InUse, format.PercentFine(d.Fraction), d.TimeWait, drain)
	}
	if more := e.DestinationCount - min(top, len(e.Destinations)); more > 0 {
		fmt.Fprintf(b, "  ... %d more destinations\n", more)
	}
}

func writeListeners(b *strings.Builder, snap *model.Snapshot, top int, g format.Glyphs) {
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
	for i, l := range snap.Listeners {
		if top > 0 && i == top {
			fmt.Fprintf(b, "  … %d more (--top)\n", len(snap.Listeners)-top)
			break
		}
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
		if r := l.DropsPerSec; r != nil && *r > 0 {
			notes = append(notes, "dropping "+format.Rate(float64(*r))+"/s")
		}
		fmt.Fprintf(b, "  %-22s %13s %5s %8d  %-18s %s\n", l.Local,
			fmt.Sprintf("%d/%d", l.Queue, l.Backlog), format.PercentFine(l.Fill), l.SynRecv,
			format.Clip(present.ProcRefs(l.Processes, snap.Attributed), 18, g), strings.Join(notes, ", "))
	}
}

func writePeers(b *strings.Builder, snap *model.Snapshot, top int, g format.Glyphs) {
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
	for i := range snap.Peers[:n] {
		p := &snap.Peers[i]
		fmt.Fprintf(b, "  %-3s %-22s %-22s %6d", p.Direction, p.Remote, format.Clip(p.Local, 22, g), p.Total)
		for _, c := range cols {
			fmt.Fprintf(b, " %*d", colWidth(c.title), p.States[c.s])
		}
		fmt.Fprintf(b, "  %s\n", present.PeerProcesses(p, snap.Attributed))
	}
	if len(snap.Peers) > n {
		fmt.Fprintf(b, "  ... %d more peers\n", len(snap.Peers)-n)
	}
}

func colWidth(title string) int { return max(len(title), 5) }

func writeProcesses(b *strings.Builder, snap *model.Snapshot, top int, g format.Glyphs) {
	if !snap.Attributed {
		b.WriteString("\nPROCESSES  not attributed (--no-procs, or /proc could not be scanned: see the warnings)\n")
		return
	}
	fmt.Fprintf(b, "\nPROCESSES %d", len(snap.Processes))
	if snap.UnreadableProcesses > 0 {
		fmt.Fprintf(b, "  (%s: their sockets count as unknown)", present.Unreadable(snap.UnreadableProcesses, snap.UnreadablePIDs, snap.Privileged))
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
		name, user := format.Clip(format.Sanitize(p.Name), 15, g), format.Clip(format.Sanitize(p.User), 8, g)
		fmt.Fprintf(b, "  %7s %s %s %6d %6d", pid, format.Pad(name, 15, false), format.Pad(user, 8, false), p.Total, p.States[source.Listen])
		for _, c := range cols {
			fmt.Fprintf(b, " %*d", colWidth(c.title), p.States[c.s])
		}
		fmt.Fprintf(b, "  %s\n", format.Clip(format.Sanitize(p.Cmdline), 60, g))
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
		fmt.Fprintf(b, "  %-34s %s\n", k, format.Sanitize(v))
	}
}
