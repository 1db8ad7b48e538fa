package ui

import (
	"fmt"
	"strings"

	"github.com/tcptop/tcptop/model"
)

// The formatting helpers the monitor shares with the batch text output
// (package output keeps its own copies until one formatting package
// serves both).

// Bar draws n/maxv as up to width cells of fill; a non-zero n gets at
// least one cell so small counts stay visible.
func Bar(n, maxv, width int, fill rune) string {
	if n <= 0 || maxv <= 0 || width <= 0 {
		return ""
	}
	cells := n * width / maxv
	cells = max(1, min(cells, width))
	return strings.Repeat(string(fill), cells)
}

// Pct formats a fraction as a percentage.
func Pct(f float64) string {
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

// Millis formats a millisecond timer as "59.1s" or "850ms".
func Millis(ms uint32) string {
	if ms < 1000 {
		return fmt.Sprintf("%dms", ms)
	}
	return fmt.Sprintf("%.1fs", float64(ms)/1000)
}

// Clip shortens s to at most n runes, marking the cut with '~'.
func Clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 1 {
		return string(r[:n])
	}
	return string(r[:n-1]) + "~"
}

// procRefList names a listener's processes: "nginx[10],nginx[11]".
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

// peerProcs names a peer's processes with their share of its sockets
// when there are several, "~" marking an inferred owner.
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
