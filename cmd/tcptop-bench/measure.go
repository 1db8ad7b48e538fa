package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

// benchCmd is one command measured under ip netns exec, or a measurement
// the bench makes itself (fn).
type benchCmd struct {
	label string
	argv  []string
	fn    func() (sample, error)
	// maxRuns caps the measured runs (0: every round): ss -tanp takes
	// seconds at 100k sockets.
	maxRuns int
}

// Labels of the reference commands the ratios are computed against, and
// of tcptop's.
const (
	labelSS      = "ss -tan"
	labelSSP     = "ss -tanp"
	labelNoProcs = "tcptop --once --json --no-procs"
	labelProcs   = "tcptop --once --json"
	labelTrue    = "true (ip netns exec alone)"
)

// benchCommands returns the commands to measure, in their base order, with
// the in-process dump probe (probe.go), and a function that releases the
// probe.
func benchCommands(tcptop, ns string, tanpRuns int) ([]benchCmd, func(), error) {
	cmds := []benchCmd{
		{label: labelSS, argv: []string{"ss", "-tan"}},
		{label: labelSSP, argv: []string{"ss", "-tanp"}, maxRuns: tanpRuns},
		{label: labelNoProcs, argv: []string{tcptop, "--once", "--json", "--no-procs"}},
		{label: labelProcs, argv: []string{tcptop, "--once", "--json"}},
		{label: labelTrue, argv: []string{"true"}},
	}
	p, err := newDumpProbe(ns)
	if err != nil {
		return nil, nil, fmt.Errorf("dump probe: %v", err)
	}
	return append(cmds, benchCmd{label: labelProbe, fn: p.run}), p.close, nil
}

// sample is one measured run.
type sample struct {
	wall, user, sys time.Duration
}

// row is the medians of one command.
type row struct {
	label           string
	runs            int
	wall, user, sys time.Duration // medians
	cpu             time.Duration // median of user+sys
	minWall         time.Duration
}

// measure runs one unmeasured warm-up round, then rounds rounds; each round
// runs every command once (a command with maxRuns only in the first
// maxRuns rounds), the order rotated by one each round so that no command
// always follows the same one. before, when set, runs before each round
// (0 is the warm-up) with an estimate of the round's duration.
func measure(ctx context.Context, ns string, cmds []benchCmd, rounds int, before func(round int, est time.Duration) error, progress func(round int)) ([]row, error) {
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	samples := make([][]sample, len(cmds))
	last := make([]time.Duration, len(cmds)) // last wall time of each command
	for r := 0; r <= rounds; r++ {
		if r > 0 && progress != nil && (r == 1 || r == rounds || r%5 == 0) {
			progress(r)
		}
		if before != nil {
			var est time.Duration
			for i, c := range cmds {
				if r == 0 || c.maxRuns == 0 || r <= c.maxRuns {
					est += last[i]
				}
			}
			if err := before(r, est); err != nil {
				return nil, err
			}
		}
		for k := range cmds {
			i := (k + r) % len(cmds)
			if r > 0 && cmds[i].maxRuns > 0 && r > cmds[i].maxRuns {
				continue
			}
			s, err := runOnce(ctx, ns, cmds[i], devnull)
			if err != nil {
				return nil, err
			}
			last[i] = s.wall
			if r > 0 { // round 0 is the warm-up
				samples[i] = append(samples[i], s)
			}
		}
	}
	rows := make([]row, len(cmds))
	for i, c := range cmds {
		rows[i] = summarize(c.label, samples[i])
	}
	return rows, nil
}

// runOnce runs one command under ip netns exec and measures it.
func runOnce(ctx context.Context, ns string, c benchCmd, stdout *os.File) (sample, error) {
	if c.fn != nil {
		s, err := c.fn()
		if err != nil {
			return s, fmt.Errorf("%s: %v", c.label, err)
		}
		return s, nil
	}
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns}, c.argv...)...)
	cmd.Stdout = stdout
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 1000 {
			msg = msg[:1000] + "..."
		}
		return sample{}, fmt.Errorf("%s: %v: %s", c.label, err, msg)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return sample{}, fmt.Errorf("%s: no rusage", c.label)
	}
	return sample{
		wall: wall,
		user: time.Duration(ru.Utime.Nano()),
		sys:  time.Duration(ru.Stime.Nano()),
	}, nil
}

// median returns the median of ds (the mean of the middle two for an even
// count).
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// summarize computes a row from samples.
func summarize(label string, ss []sample) row {
	var wall, user, sys, cpu []time.Duration
	for _, s := range ss {
		wall = append(wall, s.wall)
		user = append(user, s.user)
		sys = append(sys, s.sys)
		cpu = append(cpu, s.user+s.sys)
	}
	r := row{label: label, runs: len(ss), wall: median(wall), user: median(user), sys: median(sys), cpu: median(cpu)}
	if len(wall) > 0 {
		r.minWall = slices.Min(wall)
	}
	return r
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond))
}

// ratio formats a/b.
func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", float64(a)/float64(b))
}

// stateOrder is the order states are listed in the report.
var stateOrder = []string{"ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING"}

// report renders the markdown report of one size.
func report(opts *options, n int, res *result) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("## %d sockets\n\n", n)
	w("- finished: %s\n", time.Now().UTC().Format(time.RFC3339))
	w("- network namespace %s, %d sockpop holders: ", res.netns, len(res.holders))
	for i, h := range res.holders {
		if i > 0 {
			w("; ")
		}
		w("%s `%s`", h.spec.name, strings.Join(h.spec.args, " "))
	}
	w("\n")
	if res.live != nil {
		w("- live run (-tui %v): `ss -tan` counted %d sockets right before it and %d after it\n",
			opts.tui, total(res.live.before), total(res.live.after))
		if res.refresh {
			w("- after the live window those holders were stopped and, once `ss -tan` no longer counted their sockets, started again, so that the rounds measure the whole population\n")
		}
	}
	if opts.runs > 0 {
		w("- requested %d sockets; the holders announced %d; `ss -tan` counted %d before measuring and %d after\n",
			n, total(res.expected), total(res.before), total(res.after))
		if total(res.expected) != total(res.before) {
			w("- **warning**: the count before measuring differs from what the holders announced\n")
		}
		w("- %d measured rounds after 1 warm-up round (`ss -tanp` in the first %d only), command order rotated every round; measuring took %.1f s; the TIME_WAIT sockets were %.1f s old at the recount (they live 60 s)\n",
			opts.runs, opts.tanpRuns, res.measured.Seconds(), res.twAge.Seconds())
		if len(res.epochs) > 1 {
			w("- the CLOSE_WAIT/TIME_WAIT holders were re-created %d times between rounds (before a round that would end after their sockets are %v old), once `ss -tan` no longer counted the old ones:", len(res.epochs)-1, maxDecayAge)
			for i, e := range res.epochs {
				w(" epoch %d: %d rounds, %d → %d sockets;", i+1, e.rounds, e.before, e.after)
			}
			w("\n")
		}
		w("- every command runs as `ip netns exec %s CMD > /dev/null`; times include `ip netns exec` (see the `true` row); user/sys are the child's rusage\n\n", res.netns)
	} else {
		w("- requested %d sockets; the holders announced %d; no rounds (-runs 0)\n\n", n, total(res.expected))
		if res.live != nil && total(res.expected) != total(res.live.before) {
			w("- **warning**: the count before the live window differs from what the holders announced\n\n")
		}
	}

	// One column per count taken.
	type column struct {
		title  string
		counts map[string]int
	}
	cols := []column{{"holders expected", res.expected}}
	if res.live != nil {
		cols = append(cols, column{"before the live window", res.live.before}, column{"after the live window", res.live.after})
	}
	if opts.runs > 0 {
		cols = append(cols, column{"before measuring", res.before}, column{"after measuring", res.after})
	}
	w("| state |")
	for _, c := range cols {
		w(" %s |", c.title)
	}
	w("\n| --- |%s\n", strings.Repeat(" ---: |", len(cols)))
	states := slices.Clone(stateOrder)
	for _, c := range cols {
		for s := range c.counts {
			if !slices.Contains(states, s) {
				states = append(states, s)
			}
		}
	}
	for _, s := range states {
		line, nonzero := "| "+s+" |", false
		for _, c := range cols {
			line += fmt.Sprintf(" %d |", c.counts[s])
			nonzero = nonzero || c.counts[s] != 0
		}
		if nonzero {
			w("%s\n", line)
		}
	}
	w("| total |")
	for _, c := range cols {
		w(" %d |", total(c.counts))
	}
	w("\n\n")
	if opts.runs > 0 && res.after["TIME_WAIT"] < res.before["TIME_WAIT"] {
		w("TIME_WAIT decayed from %d to %d while measuring.\n\n", res.before["TIME_WAIT"], res.after["TIME_WAIT"])
	}

	if res.live != nil {
		w("%s", reportLive(res.live, res.netns))
		if opts.runs > 0 {
			w("\n### `--once` rounds at %d sockets\n\n", n)
		}
	}
	if opts.runs == 0 {
		return b.String()
	}
	var ss, ssp time.Duration
	for _, r := range res.rows {
		switch r.label {
		case labelSS:
			ss = r.wall
		case labelSSP:
			ssp = r.wall
		}
	}
	w("| command | runs | median wall ms | median user ms | median sys ms | median CPU ms | wall / `ss -tan` | wall / `ss -tanp` | min wall ms |\n")
	w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range res.rows {
		w("| `%s` | %d | %s | %s | %s | %s | %s | %s | %s |\n", r.label, r.runs, ms(r.wall), ms(r.user), ms(r.sys), ms(r.cpu), ratio(r.wall, ss), ratio(r.wall, ssp), ms(r.minWall))
	}
	return b.String()
}

// commandLine renders the bench's command line, shell-quoted.
func commandLine(args []string) string {
	parts := []string{"tcptop-bench"}
	for _, a := range args {
		parts = append(parts, shellQuote(a))
	}
	return strings.Join(parts, " ")
}

// shellQuote quotes s for a POSIX shell when needed.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,/:=@%+") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
