// Package sscount reads `ss` output the way tcptop's tests and benchmarks
// compare against it: states spelled as the kernel spells them.
package sscount

import "strings"

// stateNames maps ss's spelling of states to the kernel's.
var stateNames = map[string]string{
	"ESTAB":      "ESTABLISHED",
	"SYN-SENT":   "SYN_SENT",
	"SYN-RECV":   "SYN_RECV",
	"FIN-WAIT-1": "FIN_WAIT1",
	"FIN-WAIT-2": "FIN_WAIT2",
	"TIME-WAIT":  "TIME_WAIT",
	"CLOSE-WAIT": "CLOSE_WAIT",
	"LAST-ACK":   "LAST_ACK",
	"LISTEN":     "LISTEN",
	"CLOSING":    "CLOSING",
	"UNCONN":     "CLOSE",
}

// State returns the kernel's name for a state as ss prints it (unknown
// spellings are returned unchanged).
func State(ss string) string {
	if s, ok := stateNames[ss]; ok {
		return s
	}
	return ss
}

// States counts the socket lines of `ss -tan` output per state, skipping
// the header line.
func States(out string) map[string]int {
	counts := map[string]int{}
	for i, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) == 0 {
			continue
		}
		counts[State(f[0])]++
	}
	return counts
}

// Equal compares two state counts, a missing state counting as zero.
func Equal(a, b map[string]int) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}
