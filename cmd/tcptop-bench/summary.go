package main

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// The summary: one line per size for each question the benchmark answers,
// then the targets at 100k sockets.

// find returns the row labelled label.
func find(rows []row, label string) (row, bool) {
	for _, r := range rows {
		if r.label == label {
			return r, true
		}
	}
	return row{}, false
}

// fratio returns a/b, or 0 when b is 0.
func fratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// perSocket is the cost per socket in ns of d, less the fixed cost base
// (ip netns exec and process start, the `true` row).
func perSocket(d, base time.Duration, sockets int) float64 {
	if sockets <= 0 {
		return 0
	}
	return float64(max(0, d-base).Nanoseconds()) / float64(sockets)
}

// sizeNumbers are the medians of one size the summary uses.
type sizeNumbers struct {
	sockets                          int // counted by ss -tan before the rounds
	requested                        int
	ss, ssp, noProcs, procs, tru, kd row
	ok                               bool
}

func numbers(res *result) sizeNumbers {
	n := sizeNumbers{sockets: total(res.before), requested: res.sockets}
	var ok [5]bool
	n.ss, ok[0] = find(res.rows, labelSS)
	n.ssp, ok[1] = find(res.rows, labelSSP)
	n.noProcs, ok[2] = find(res.rows, labelNoProcs)
	n.procs, ok[3] = find(res.rows, labelProcs)
	n.tru, ok[4] = find(res.rows, labelTrue)
	n.kd, _ = find(res.rows, labelProbe)
	n.ok = ok == [5]bool{true, true, true, true, true}
	return n
}

// summary renders the run's header and the tables across sizes.
func summary(opts *options, tcptop string, results []*result, args []string, took time.Duration) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	kernel := "unknown"
	if k, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(k))
	}
	load := "unknown"
	if l, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(l))[:3], " ")
	}
	w("# tcptop vs ss at %s sockets\n\n", sizesText(opts.sizes))
	w("- date: %s (the whole run took %.0f s)\n", time.Now().UTC().Format(time.RFC3339), took.Seconds())
	w("- kernel: %s, %d CPUs, harness built with %s; load average at the end %s\n", kernel, runtime.NumCPU(), runtime.Version(), load)
	w("- command: `%s`\n", commandLine(args))
	w("- tcptop: `%s`\n", tcptop)
	w("- each size has its own namespace and population (details per size below); every command runs under `ip netns exec NS` with stdout to /dev/null; medians of %d rounds (`ss -tanp`: %d) after a warm-up round\n", opts.runs, opts.tanpRuns)
	if len(results) > 0 {
		w("- the kernel keeps every namespace's sockets in one hash table, which every dump walks: the machine held %d other TCP sockets (`alloc` in /proc/net/sockstat) before the run; each size starts once the previous one's have been freed\n", results[0].otherSockets)
	}
	w("\n")

	var ns []sizeNumbers
	for _, r := range results {
		if n := numbers(r); n.ok {
			ns = append(ns, n)
		}
	}
	var live []*result
	for _, r := range results {
		if r.live != nil && len(r.live.rows) >= 3 {
			live = append(live, r)
		}
	}
	if len(ns) == 0 {
		b.WriteString(liveTable(opts, live))
		return b.String()
	}
	w("\n### Wall and CPU (median ms; CPU = user + sys of the process)\n\n")
	w("| sockets | `ss -tan` wall / CPU | `ss -tanp` wall / CPU | `--no-procs` wall / CPU | with attribution wall / CPU | kernel dump alone: wall / CPU |\n")
	w("| ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, n := range ns {
		w("| %d | %s / %s | %s / %s | %s / %s | %s / %s | %s / %s |\n", n.sockets,
			ms(n.ss.wall), ms(n.ss.cpu), ms(n.ssp.wall), ms(n.ssp.cpu), ms(n.noProcs.wall), ms(n.noProcs.cpu),
			ms(n.procs.wall), ms(n.procs.cpu), ms(n.kd.wall), ms(n.kd.sys))
	}
	w("\n### Ratios (medians of this run)\n\n")
	w("| sockets | `--no-procs` / `ss -tan` wall | CPU | attribution / `ss -tan` wall | CPU | attribution / `ss -tanp` wall | CPU | snapshot user / kernel dump sys: `--no-procs` | with attribution |\n")
	w("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, n := range ns {
		w("| %d | %.2f | %.2f | %.2f | %.2f | %.3f | %.3f | %.2f | %.2f |\n", n.sockets,
			fratio(n.noProcs.wall, n.ss.wall), fratio(n.noProcs.cpu, n.ss.cpu),
			fratio(n.procs.wall, n.ss.wall), fratio(n.procs.cpu, n.ss.cpu),
			fratio(n.procs.wall, n.ssp.wall), fratio(n.procs.cpu, n.ssp.cpu),
			fratio(n.noProcs.user, n.kd.sys), fratio(n.procs.user, n.kd.sys))
	}
	w("\n\"Snapshot user\" is the user CPU of the whole `tcptop --once --json` process (runtime start, parse, join, Build, JSON); \"kernel dump sys\" is the CPU time of one dump of every state as tcptop requests it, read into a buffer and not parsed (in-process, on one thread, CLOCK_THREAD_CPUTIME_ID: nearly all of it is the kernel walking its tables inside recvmsg).\n")

	base := ns[0]
	w("\n### Cost per socket (ns; median wall less the `true` row's, over the sockets counted; in parentheses: relative to %d sockets)\n\n", base.sockets)
	w("| sockets | `ss -tan` | `ss -tanp` | `--no-procs` | with attribution | kernel dump alone (wall) | `--no-procs` CPU | attribution CPU |\n")
	w("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	rel := func(x, x0 float64) string {
		if x0 <= 0 {
			return fmt.Sprintf("%.0f", x)
		}
		return fmt.Sprintf("%.0f (%.2f)", x, x/x0)
	}
	for _, n := range ns {
		cols := []struct{ d, d0, b, b0 time.Duration }{
			{n.ss.wall, base.ss.wall, n.tru.wall, base.tru.wall},
			{n.ssp.wall, base.ssp.wall, n.tru.wall, base.tru.wall},
			{n.noProcs.wall, base.noProcs.wall, n.tru.wall, base.tru.wall},
			{n.procs.wall, base.procs.wall, n.tru.wall, base.tru.wall},
			{n.kd.wall, base.kd.wall, 0, 0},
			{n.noProcs.cpu, base.noProcs.cpu, n.tru.cpu, base.tru.cpu},
			{n.procs.cpu, base.procs.cpu, n.tru.cpu, base.tru.cpu},
		}
		w("| %d |", n.sockets)
		for _, c := range cols {
			w(" %s |", rel(perSocket(c.d, c.b, n.sockets), perSocket(c.d0, c.b0, base.sockets)))
		}
		w("\n")
	}

	w("\n%s", liveTable(opts, live))
	w("\n%s", targets(ns, live))
	return b.String()
}

// liveTable renders the steady-state line of each size with a live window.
func liveTable(opts *options, live []*result) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	if len(live) > 0 {
		w("### Steady state: %v refresh over %v (CPU %% of one core from launch, peak VmRSS)\n\n", opts.tuiIntv, opts.tui)
		w("| sockets | monitor (TUI in tmux) CPU %% | peak RSS MiB | `--json --interval` CPU %% | peak RSS MiB | `ss -tan` every interval CPU %% | monitor / `ss -tan` CPU |\n")
		w("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for _, r := range live {
			rs := r.live.rows
			x := 0.0
			if rs[2].cpuShare() > 0 {
				x = rs[0].cpuShare() / rs[2].cpuShare()
			}
			w("| %d | %s | %s | %s | %s | %s | %.2f |\n", total(r.live.before), pct(rs[0].cpuShare()), mib(max(rs[0].peakRSS, rs[0].hwm)),
				pct(rs[1].cpuShare()), mib(max(rs[1].peakRSS, rs[1].hwm)), pct(rs[2].cpuShare()), x)
		}
	}
	return b.String()
}

// targets renders issue 5's targets against the size closest to 100k.
func targets(ns []sizeNumbers, live []*result) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	at := -1
	for i, n := range ns {
		if at < 0 || abs(n.requested-100000) < abs(ns[at].requested-100000) {
			at = i
		}
	}
	n := ns[at]
	yes := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}
	w("### Targets (issue 5) at %d sockets\n\n", n.requested)
	w("| target | measured | |\n| --- | ---: | --- |\n")
	x := fratio(n.noProcs.wall, n.ss.wall)
	w("| `--no-procs` <= 0.4x `ss -tan` wall | %.2fx | %s |\n", x, yes(x <= 0.4))
	x = fratio(n.procs.wall, n.ss.wall)
	w("| with attribution <= 1.0x `ss -tan` wall | %.2fx | %s |\n", x, yes(x <= 1.0))
	x = fratio(n.procs.wall, n.ssp.wall)
	w("| with attribution <= 0.1x `ss -tanp` wall | %.3fx | %s |\n", x, yes(x <= 0.1))
	if n.kd.sys > 0 {
		x = fratio(n.noProcs.user, n.kd.sys)
		w("| snapshot user CPU <= 0.5x kernel sys CPU of its dump (`--no-procs`) | %.2fx | %s |\n", x, yes(x <= 0.5))
	}
	for _, r := range live {
		if r.sockets != n.requested && len(live) > 1 {
			continue
		}
		rs := r.live.rows
		for _, lr := range rs[:2] {
			c := 100 * lr.cpuShare()
			w("| %s at %v: <= 10%% of one core | %.1f%% | %s |\n", lr.label, r.live.interval, c, yes(c <= 10))
			m := float64(max(lr.peakRSS, lr.hwm)) / (1 << 20)
			w("| %s: RSS <= 150 MiB | %.1f MiB | %s |\n", lr.label, m, yes(m <= 150))
		}
	}
	w("%s", targets18(n, ns, live))
	first, last := ns[0], ns[len(ns)-1]
	if last.requested > first.requested {
		for _, c := range []struct {
			label   string
			d0, d1  time.Duration
			b0, b1  time.Duration
			useBase bool
		}{
			{"`--no-procs` wall", first.noProcs.wall, last.noProcs.wall, first.tru.wall, last.tru.wall, true},
			{"with attribution wall", first.procs.wall, last.procs.wall, first.tru.wall, last.tru.wall, true},
		} {
			p0, p1 := perSocket(c.d0, c.b0, first.sockets), perSocket(c.d1, c.b1, last.sockets)
			x := 0.0
			if p0 > 0 {
				x = p1 / p0
			}
			w("| per-socket cost at %d within 1.3x of %d: %s | %.2fx | %s |\n", last.requested, first.requested, c.label, x, yes(x <= 1.3))
		}
	}
	return b.String()
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// sizesText lists sizes as "10000, 50000 and 100000".
func sizesText(sizes []int) string {
	var parts []string
	for _, n := range sizes {
		parts = append(parts, fmt.Sprint(n))
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// targets18 is issue 18's table: the monitor and the stream at 1 s
// against ss -tan once a second, exact counts, the one-shot ratios, and
// how the ratios hold at the other sizes.
func targets18(n sizeNumbers, ns []sizeNumbers, live []*result) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	yes := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**missed**"
	}
	w("\n### Targets (issue 18) at %d sockets\n\n| target | measured | |\n| --- | ---: | --- |\n", n.requested)
	for _, r := range live {
		if r.sockets != n.requested && len(live) > 1 {
			continue
		}
		rs := r.live.rows
		ss := rs[2].cpuShare()
		for _, lr := range rs[:2] {
			c := lr.cpuShare()
			w("| %s at %v: <= 5%% of one core | %s%% | %s |\n", lr.label, r.live.interval, pct(c), yes(c <= 0.05))
			w("| %s: <= 0.25x `ss -tan` once a second (same window) | %.2fx | %s |\n", lr.label, c/ss, yes(c/ss <= 0.25))
			m := float64(max(lr.peakRSS, lr.hwm)) / (1 << 20)
			w("| %s: RSS <= 120 MiB | %.1f MiB | %s |\n", lr.label, m, yes(m <= 120))
		}
		e := r.live.exact
		if e.churn > 0 {
			w("| every state count exact at every poll, within the churn between the ss runs around it (%d connections/s) | %d of %d (%d strictly between) | %s |\n", e.churn, e.withinChurn, e.bracketed, e.within, yes(e.bracketed > 0 && e.withinChurn == e.bracketed))
		} else {
			w("| every state count exact at every poll (stream vs the ss runs around it) | %d of %d | %s |\n", e.within, e.bracketed, yes(e.bracketed > 0 && e.within == e.bracketed))
		}
	}
	x := fratio(n.noProcs.wall, n.ss.wall)
	w("| `--once --no-procs` <= 0.35x `ss -tan` wall | %.2fx | %s |\n", x, yes(x <= 0.35))
	x = fratio(n.procs.wall, n.ss.wall)
	w("| `--once` with attribution <= 0.8x `ss -tan` wall | %.2fx | %s |\n", x, yes(x <= 0.8))
	x = fratio(n.procs.wall, n.ssp.wall)
	w("| `--once` with attribution <= 0.07x `ss -tanp` wall | %.3fx | %s |\n", x, yes(x <= 0.07))
	for _, o := range ns {
		if o.requested == n.requested {
			continue
		}
		for _, c := range []struct {
			label  string
			at, of float64
		}{
			{"`--no-procs` / `ss -tan`", fratio(o.noProcs.wall, o.ss.wall), fratio(n.noProcs.wall, n.ss.wall)},
			{"attribution / `ss -tan`", fratio(o.procs.wall, o.ss.wall), fratio(n.procs.wall, n.ss.wall)},
		} {
			d := 0.0
			if c.of > 0 {
				d = c.at/c.of - 1
			}
			w("| at %d: %s within 20%% of %d's | %.2fx (%+.0f%%) | %s |\n", o.requested, c.label, n.requested, c.at, 100*d, yes(d >= -0.2 && d <= 0.2))
		}
	}
	return b.String()
}
