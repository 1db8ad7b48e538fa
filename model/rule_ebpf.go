package model

import (
	"fmt"
	"strings"

	"github.com/tcptop/tcptop/format"
)

// ebpfConnectors adds to f the processes that connected to the outgoing
// peers match accepts, as eBPF counted them (the process that called
// connect(), even when it has exited since, with its rate), and reports
// whether it did: without eBPF, or when no process matched, the caller
// falls back on the sockets the polls saw.
func (c *ruleCtx) ebpfConnectors(f *Finding, match func(*EBPFProcRow) bool) bool {
	v := c.snap.EBPF
	if v == nil || !v.Loaded {
		return false
	}
	type acc struct {
		row    EBPFProcRow
		rate   Rate
		opens  uint64
		closes uint64
		life   float64 // ms, summed over the closed connections
	}
	byProc := map[ProcKey]*acc{}
	var order []ProcKey
	for i := range v.Processes {
		p := &v.Processes[i]
		if !match(p) {
			continue
		}
		a := byProc[p.Key]
		if a == nil {
			a = &acc{row: *p}
			byProc[p.Key] = a
			order = append(order, p.Key)
		}
		a.rate += p.OpensPerSec
		a.opens += p.Opens
		a.closes += p.Closes
		a.life += p.MeanLifeMS * float64(p.Closes)
	}
	if len(order) == 0 {
		return false
	}
	// Busiest first: by rate, then by connections.
	for i := 1; i < len(order); i++ {
		for j := i; j > 0; j-- {
			x, y := byProc[order[j-1]], byProc[order[j]]
			if y.rate > x.rate || (y.rate == x.rate && y.opens > x.opens) {
				order[j-1], order[j] = order[j], order[j-1]
			}
		}
	}
	var parts []string
	for i, k := range order {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more", len(order)-3))
			break
		}
		a := byProc[k]
		s := fmt.Sprintf("%s[%d] %s (%s connections since tcptop started watching", a.row.Name, a.row.PID, format.PerSec(float64(a.rate)), format.Count(int(a.opens)))
		if a.closes > 0 {
			s += fmt.Sprintf(", each living %.1f ms on average", a.life/float64(a.closes))
		}
		parts = append(parts, s+")")
	}
	f.Evidence = append(f.Evidence, Plain("connecting process (eBPF, by the task that called connect()): "+strings.Join(parts, ", ")))
	top := byProc[order[0]]
	if f.Facts == nil {
		f.Facts = map[string]float64{}
	}
	f.Facts["ebpf_pid"] = float64(top.row.PID)
	f.Facts["ebpf_opens_per_sec"] = float64(top.rate)
	f.Facts["ebpf_opens"] = float64(top.opens)
	return true
}
