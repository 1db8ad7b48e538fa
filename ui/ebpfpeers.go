package ui

import (
	"slices"
	"strconv"
	"strings"

	"charm.land/lipgloss/v2"

	"github.com/tcptop/tcptop/format"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/themes"
)

// The peers table's eBPF columns. They exist only while the programs are
// loaded (model.EBPFView.Loaded): without eBPF they are absent, never
// zero. Their titles are lower case, which marks a number as eBPF's (the
// dump's columns are upper case; the table's title says so). Rates are
// over the last interval; rst, refused and timeout count since the
// programs loaded, rare events a rate would hide.

// ebpfPeerCol is one eBPF column of the peers table.
type ebpfPeerCol struct {
	title string
	// value is the cell of a peer's eBPF row, "" when the peer has none
	// for this column; zero says whether it counts nothing (dimmed).
	value func(r *model.EBPFPeerRow) (string, bool)
	// keep ranks the column on a narrow screen: the lowest goes first.
	keep int
}

var ebpfPeerCols = []ebpfPeerCol{
	{title: "open/s", keep: 7, value: func(r *model.EBPFPeerRow) (string, bool) {
		return format.Rate(float64(r.OpensPerSec)), r.OpensPerSec == 0
	}},
	{title: "close/s", keep: 2, value: func(r *model.EBPFPeerRow) (string, bool) {
		return format.Rate(float64(r.ClosesPerSec)), r.ClosesPerSec == 0
	}},
	{title: "retr/s", keep: 6, value: func(r *model.EBPFPeerRow) (string, bool) {
		return format.Rate(float64(r.RetransPerSec)), r.RetransPerSec == 0
	}},
	{title: "rst", keep: 3, value: func(r *model.EBPFPeerRow) (string, bool) {
		n := r.Total.ResetsSent + r.Total.ResetsReceived
		return format.Count64(int64(n)), n == 0
	}},
	{title: "refused", keep: 4, value: func(r *model.EBPFPeerRow) (string, bool) {
		return format.Count64(int64(r.Total.ConnectRefused)), r.Total.ConnectRefused == 0
	}},
	{title: "timeout", keep: 5, value: func(r *model.EBPFPeerRow) (string, bool) {
		return format.Count64(int64(r.Total.ConnectTimedOut)), r.Total.ConnectTimedOut == 0
	}},
	{title: "life50", keep: 1, value: func(r *model.EBPFPeerRow) (string, bool) {
		if r.LifeP50MS <= 0 {
			return "", true
		}
		return lifeText(r.LifeP50MS), false
	}},
}

// ebpfHighKeep: columns kept at least this long stay after LOCAL on a
// narrow screen (opens and retransmits, the numbers the findings lean on).
const ebpfHighKeep = 6

// lifeText is a connection lifetime in ms: "0.5ms", "12ms", "1.5s".
func lifeText(ms float64) string {
	if ms < 10 {
		return strconv.FormatFloat(ms, 'f', 1, 64) + "ms"
	}
	return format.Millis(uint32(min(ms, 1<<31)))
}

// ebpfLoaded is the snapshot's eBPF view when the programs are loaded.
func ebpfLoaded(snap *model.Snapshot) *model.EBPFView {
	if snap.EBPF == nil || !snap.EBPF.Loaded {
		return nil
	}
	return snap.EBPF
}

// ebpfCols is the peers table's eBPF columns for peers, numbered from
// base: none without eBPF. soft are the columns nothing counts in (they
// go first on a narrow screen), low the others least needed first, high
// those kept longest.
type ebpfCols struct {
	cols            []column
	soft, low, high []int
	cell            func(i, k int) string
}

func peersEBPFColumns(snap *model.Snapshot, peers []model.Peer, base int) ebpfCols {
	var ec ebpfCols
	if ebpfLoaded(snap) == nil {
		return ec
	}
	for k, c := range ebpfPeerCols {
		w, counts := len(c.title), false
		for i := range peers {
			if r := peers[i].EBPF; r != nil {
				v, zero := c.value(r)
				w = max(w, format.Width(v))
				counts = counts || !zero
			}
		}
		style := func(st *themes.Styles, i int) *lipgloss.Style {
			if r := peers[i].EBPF; r == nil {
				return &st.Dim
			} else if _, zero := c.value(r); zero {
				return &st.Dim
			}
			return nil
		}
		ec.cols = append(ec.cols, column{title: c.title, width: w, right: true, style: style})
		switch idx := base + k; {
		case !counts:
			ec.soft = append(ec.soft, idx)
		case c.keep >= ebpfHighKeep:
			ec.high = append(ec.high, idx)
		default:
			ec.low = append(ec.low, idx)
		}
	}
	// The least needed go first.
	for _, s := range [][]int{ec.soft, ec.low, ec.high} {
		slices.SortFunc(s, func(a, b int) int { return ebpfPeerCols[a-base].keep - ebpfPeerCols[b-base].keep })
	}
	ec.cell = func(i, k int) string {
		r := peers[i].EBPF
		if r == nil {
			// The programs counted nothing for this peer since they
			// loaded: no rate, no failure.
			if ebpfPeerCols[k].title == "life50" {
				return ""
			}
			return "0"
		}
		v, _ := ebpfPeerCols[k].value(r)
		return v
	}
	return ec
}

// peersEBPFNote is what the peers table's title adds while it shows an
// eBPF column (shown: see hasEBPFColumn).
func peersEBPFNote(st *themes.Styles, shown bool) string {
	if !shown {
		return ""
	}
	return "  " + st.Dim.Render("lower case: eBPF")
}

// hasEBPFColumn reports whether cols, as fitted, kept an eBPF column.
func hasEBPFColumn(cols []column) bool {
	for _, c := range cols {
		for _, e := range ebpfPeerCols {
			if c.title == e.title {
				return true
			}
		}
	}
	return false
}

// withEBPF returns cs with the eBPF columns' soft ones added to its
// soft list, so that fitCounts gives them up first.
func (ec ebpfCols) withEBPF(cs countSet) countSet {
	if len(ec.soft) == 0 {
		return cs
	}
	cs.soft = append(append([]int{}, ec.soft...), cs.soft...)
	return cs
}

// headerPart is a piece of the header line and how long it survives a
// narrow screen (lower survives longer).
type headerPart struct {
	text string
	prio int
}

// ebpfHeader is what the header says about eBPF: "eBPF" while the
// programs run, what they lost when they lost anything (kept longest), or
// why they are not running: the whole reason when room (the header's
// width left) allows, else "eBPF off: see ?" (the help overlay has the
// reason). Nothing when the snapshot has no eBPF section.
func ebpfHeader(st *themes.Styles, snap *model.Snapshot, room int) []headerPart {
	v := snap.EBPF
	if v == nil {
		return nil
	}
	if !v.Loaded {
		text := ebpfOffText(v)
		if format.Width(text) > room {
			text = "eBPF off: see ?"
		}
		return []headerPart{{st.Dim.Render(text), 7}}
	}
	out := []headerPart{{"eBPF", 6}}
	if n := ebpfLostCount(v); n > 0 {
		out = append(out, headerPart{st.Warn.Render("eBPF lost " + format.Count64(int64(n))), 2})
	}
	return out
}

// ebpfOffText is the one line saying why eBPF is off, sanitized: "eBPF
// off (--ebpf off)", "eBPF unavailable: ...".
func ebpfOffText(v *model.EBPFView) string {
	if v.Reason == "" {
		return "eBPF off"
	}
	return "eBPF " + format.Sanitize(strings.Join(strings.Fields(v.Reason), " "))
}

// ebpfLostCount is what the programs could not aggregate (full maps,
// socket storage): a gap in their counts. RSTs sent for no socket are not
// a loss (they belong to no namespace).
func ebpfLostCount(v *model.EBPFView) uint64 {
	return v.Lost.PeersFull + v.Lost.ProcsFull + v.Lost.Storage
}

// ebpfHelpLines are the help overlay's lines on eBPF: whether it is on
// (why not, when off), and what it lost when it lost anything; none
// without an eBPF section.
func ebpfHelpLines(v *model.EBPFView) []string {
	switch {
	case v == nil:
		return nil
	case !v.Loaded:
		return []string{"  " + ebpfOffText(v) + ": the peers table shows what the dumps see"}
	}
	out := []string{"  eBPF on: lower-case peer columns; /s per second, the others since it loaded"}
	if l := v.Lost; ebpfLostCount(v) > 0 {
		out = append(out, "  eBPF lost: "+format.Count64(int64(l.PeersFull))+" peer-map full, "+
			format.Count64(int64(l.ProcsFull))+" process-map full, "+format.Count64(int64(l.Storage))+" socket storage")
	}
	return out
}
