package main

import (
	"fmt"
	"math"
	"strconv"
)

// Limits that shape the plan.
const (
	// minSockets is the smallest population the plan can split.
	minSockets = 100
	// maxPairsPerHolder keeps a holder under the 20000 fds per process.
	maxPairsPerHolder = 8000
	// maxCloseWaitPerHolder likewise (one fd per CLOSE_WAIT socket).
	maxCloseWaitPerHolder = 8000
	// maxTimeWaitPerDest keeps each (source IP, destination IP:port) far
	// from the ~28k ephemeral ports.
	maxTimeWaitPerDest = 10000
	// maxTimeWaitPerHolder spreads TIME_WAIT creation over holders.
	maxTimeWaitPerHolder = 20000
)

// holderSpec is one sockpop process to start.
type holderSpec struct {
	name string   // e.g. "estab-1"
	args []string // sockpop flags
}

// plan is the population split over holders.
type plan struct {
	pairs, closeWait, timeWait int
	fullBacklog, fullClients   int
	phase1                     []holderSpec // ESTABLISHED, CLOSE_WAIT, full listener
	phase2                     []holderSpec // TIME_WAIT, started last
}

// ceilDiv returns ceil(a/b) for positive b.
func ceilDiv(a, b int) int { return (a + b - 1) / b }

// split divides n into parts as even as possible.
func split(n, parts int) []int {
	out := make([]int, parts)
	for i := range out {
		out[i] = n / parts
		if i < n%parts {
			out[i]++
		}
	}
	return out
}

// mix is the population's shares of TIME_WAIT and CLOSE_WAIT sockets (each
// CLOSE_WAIT socket comes with its FIN_WAIT2 peer); ESTABLISHED pairs make
// the rest.
type mix struct {
	name                string
	timeWait, closeWait float64
}

// mixes are the populations -mix names. "standard" is the benchmark's own
// since issue 5 (a quarter of the sockets not ESTABLISHED: much for a
// dump that skips ESTABLISHED); "issue18" is the one issue 18 measured
// (100,010 sockets: 90k ESTABLISHED, 9k TIME_WAIT, 500 CLOSE_WAIT).
var mixes = []mix{
	{name: "standard", timeWait: 0.15, closeWait: 0.05},
	{name: "issue18", timeWait: 0.09, closeWait: 0.005},
}

// mixNamed returns the mix called name.
func mixNamed(name string) (mix, bool) {
	for _, m := range mixes {
		if m.name == name {
			return m, true
		}
	}
	return mix{}, false
}

// makePlan splits about n sockets with the standard mix: ~15% TIME_WAIT,
// ~5% CLOSE_WAIT (plus as many FIN_WAIT2 peers), a small full listener,
// and ESTABLISHED pairs for the rest (~75%), so the namespace holds about
// n sockets in all.
func makePlan(n int) *plan { return makePlanMix(n, mixes[0]) }

// makePlanMix is makePlan with the shares of m.
func makePlanMix(n int, m mix) *plan {
	p := &plan{
		closeWait: int(math.Round(m.closeWait * float64(n))),
		timeWait:  int(math.Round(m.timeWait * float64(n))),
	}
	p.fullBacklog = min(128, max(4, n/400))
	p.fullClients = 2 * p.fullBacklog
	// listener + queued ESTABLISHED server sides + ESTABLISHED and SYN_SENT clients
	fullSockets := 1 + 2*(p.fullBacklog+1) + (p.fullClients - p.fullBacklog - 1)

	cwHolders := ceilDiv(p.closeWait, maxCloseWaitPerHolder)
	twHolders := max(ceilDiv(p.timeWait, maxTimeWaitPerHolder), min(2, ceilDiv(p.timeWait, 2000)))
	twPerHolder := split(p.timeWait, twHolders)
	twPorts := make([]int, twHolders)
	listeners := cwHolders // the full listener is in fullSockets
	for i, tw := range twPerHolder {
		twPorts[i] = max(2, ceilDiv(tw, maxTimeWaitPerDest))
		listeners += twPorts[i]
	}
	rest := n - 2*p.closeWait - p.timeWait - fullSockets - listeners
	estabHolders := max(1, ceilDiv(rest/2, maxPairsPerHolder))
	p.pairs = max(1, (rest-estabHolders)/2)
	if left := rest - estabHolders - 2*p.pairs; left > 0 {
		p.timeWait += left // an odd socket left over
		twPerHolder[0] += left
	}

	for i, pairs := range split(p.pairs, estabHolders) {
		p.phase1 = append(p.phase1, holderSpec{
			name: fmt.Sprintf("estab-%d", i+1),
			args: []string{"-addr", fmt.Sprintf("127.0.1.%d", i+1), "-estab", strconv.Itoa(pairs)},
		})
	}
	for i, cw := range split(p.closeWait, cwHolders) {
		p.phase1 = append(p.phase1, holderSpec{
			name: fmt.Sprintf("closewait-%d", i+1),
			args: []string{"-addr", fmt.Sprintf("127.0.2.%d", i+1), "-closewait", strconv.Itoa(cw)},
		})
	}
	p.phase1 = append(p.phase1, holderSpec{
		name: "full",
		args: []string{"-addr", "127.0.3.1", "-full-backlog", strconv.Itoa(p.fullBacklog), "-full-clients", strconv.Itoa(p.fullClients)},
	})
	for i, tw := range twPerHolder {
		p.phase2 = append(p.phase2, holderSpec{
			name: fmt.Sprintf("timewait-%d", i+1),
			args: []string{"-addr", fmt.Sprintf("127.0.4.%d", i+1), "-timewait", strconv.Itoa(tw), "-timewait-ports", strconv.Itoa(twPorts[i])},
		})
	}
	return p
}
