package main

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/tcptop/tcptop/internal/nstest"
)

// TestPeerQualityInTmux: at 160 columns the Peers view samples tcp_info
// by exact lookups and shows each peer's median and worst rtt and its
// retransmits per second; Q sorts by them. At 120 columns the columns
// are not there.
func TestPeerQualityInTmux(t *testing.T) {
	tcptop, _ := bins(t)
	ns, _ := nstest.New(t, "tcptop-quality")
	startPop(t, ns, "-estab", "15", "-closewait", "3")
	sess := newTmux(t, 160, 40, fmt.Sprintf("env TERM=xterm-256color LANG=C.UTF-8 %s --netns %s --interval 500ms; sleep 60", tcptop, ns))
	header := regexp.MustCompile(`TOTAL\S*\s+PROCESSES\s+RTT\s+RTT MAX\s+RETR/s`)
	rtt := regexp.MustCompile(`\d+\.\d\d ms\s+\d+\.\d\d ms\s+(\d|-)`)
	screen := sess.waitFor("the quality columns with values", func(s string) bool {
		return header.MatchString(s) && rtt.MatchString(strings.Join(tableRows(s), "\n")) && strings.Contains(s, "rtt sampled")
	})
	if strings.Count(strings.Join(tableRows(screen), "\n"), " ms ") < 2 {
		t.Errorf("too few rtt cells:\n%s", screen)
	}
	sess.keys("Q")
	sess.waitFor("sort by rtt", func(s string) bool { return strings.Contains(s, "sort rtt [Q]") })
	sess.run("resize-window", "-t", "e2e", "-x", "120", "-y", "40")
	sess.waitFor("no quality columns at 120", func(s string) bool {
		return strings.Contains(s, "PEERS") && !strings.Contains(s, "RTT MAX")
	})
}
