package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// benchCmd is one command measured under ip netns exec.
type benchCmd struct {
	label string
	argv  []string
}

// Labels of the reference commands the ratios are computed against.
const (
	labelSS  = "ss -tan"
	labelSSP = "ss -tanp"
)

// benchCommands returns the commands to measure, in their base order.
func benchCommands(tcptop string) []benchCmd {
	return []benchCmd{
		{labelSS, []string{"ss", "-tan"}},
		{labelSSP, []string{"ss", "-tanp"}},
		{"tcptop --once --json --no-procs", []string{tcptop, "--once", "--json", "--no-procs"}},
		{"tcptop --once --json", []string{tcptop, "--once", "--json"}},
		{"true (ip netns exec alone)", []string{"true"}},
	}
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
	minWall         time.Duration
}

// measure runs one unmeasured warm-up round, then rounds rounds; each round
// runs every command once, the order rotated by one each round so that no
// command always follows the same one.
func measure(ctx context.Context, ns string, cmds []benchCmd, rounds int, progress func(round int)) ([]row, error) {
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	samples := make([][]sample, len(cmds))
	for r := 0; r <= rounds; r++ {
		if r > 0 && progress != nil && (r == 1 || r == rounds || r%5 == 0) {
			progress(r)
		}
		for k := range cmds {
			i := (k + r) % len(cmds)
			s, err := runOnce(ctx, ns, cmds[i], devnull)
			if err != nil {
				return nil, err
			}
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
	var wall, user, sys []time.Duration
	for _, s := range ss {
		wall = append(wall, s.wall)
		user = append(user, s.user)
		sys = append(sys, s.sys)
	}
	r := row{label: label, runs: len(ss), wall: median(wall), user: median(user), sys: median(sys)}
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

// report renders the markdown report.
func report(opts *options, tcptop string, res *result, args []string) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	kernel := "unknown"
	if k, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(k))
	}
	w("# tcptop vs ss: %d TCP sockets\n\n", total(res.before))
	w("- date: %s\n", time.Now().UTC().Format(time.RFC3339))
	w("- kernel: %s, %d CPUs, harness built with %s\n", kernel, runtime.NumCPU(), runtime.Version())
	w("- command: `%s`\n", commandLine(args))
	w("- tcptop: `%s`\n", tcptop)
	w("- network namespace %s, %d sockpop holders: ", res.netns, len(res.holders))
	for i, h := range res.holders {
		if i > 0 {
			w("; ")
		}
		w("%s `%s`", h.spec.name, strings.Join(h.spec.args, " "))
	}
	w("\n")
	if res.live != nil {
		w("- live run (-tui %v): the CLOSE_WAIT holders (their orphaned FIN_WAIT2 peers expire after 60 s) start with the TIME_WAIT holders, right before the live window; `ss -tan` counted %d sockets before it and %d after it\n",
			opts.tui, total(res.live.before), total(res.live.after))
		if res.refresh {
			w("- after the live window those holders were stopped and, once `ss -tan` no longer counted their sockets, started again, so that the rounds measure the whole population\n")
		}
	}
	if opts.runs > 0 {
		w("- requested %d sockets; the holders announced %d; `ss -tan` counted %d before measuring and %d after\n",
			opts.sockets, total(res.expected), total(res.before), total(res.after))
		if total(res.expected) != total(res.before) {
			w("- **warning**: the count before measuring differs from what the holders announced\n")
		}
		w("- %d measured rounds after 1 warm-up round, command order rotated every round; measuring took %.1f s; the TIME_WAIT sockets were %.1f s old at the recount (they live 60 s)\n",
			opts.runs, res.measured.Seconds(), res.twAge.Seconds())
		w("- every command runs as `ip netns exec %s CMD > /dev/null`; times include `ip netns exec` (see the `true` row); user/sys are the child's rusage\n\n", res.netns)
	} else {
		w("- requested %d sockets; the holders announced %d; no rounds (-runs 0)\n\n", opts.sockets, total(res.expected))
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
			w("\n## `--once` rounds\n\n")
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
	w("| command | median wall ms | median user ms | median sys ms | wall / `ss -tan` | wall / `ss -tanp` | min wall ms |\n")
	w("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range res.rows {
		w("| `%s` | %s | %s | %s | %s | %s | %s |\n", r.label, ms(r.wall), ms(r.user), ms(r.sys), ratio(r.wall, ss), ratio(r.wall, ssp), ms(r.minWall))
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
