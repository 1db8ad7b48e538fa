package main

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"time"

	"github.com/tcptop/tcptop/internal/churn"
)

// row is one recording of the soak process.
type row struct {
	elapsed     time.Duration
	rssKiB      int64 // VmRSS, -1 when unreadable
	heapInuse   uint64
	heapLive    uint64 // marked live by the last GC
	heapObjects uint64
	goroutines  int
	sockets     int // in the snapshot on screen, -1 before the first
	snaps       int // snapshots shown so far
	polls       int
	pollErrs    int
	pollTook    time.Duration // the last poll's cost
	churn       churn.Stats
	connRate    float64 // churn connections per second since the previous row
	views       int64
	outBytes    int64
}

// sample records the process now.
func sample(elapsed time.Duration, mon *monitor, ch *churn.Churner, prev *row) row {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r := row{
		elapsed:     elapsed,
		rssKiB:      vmRSS(),
		heapInuse:   ms.HeapInuse,
		heapLive:    liveHeap(),
		heapObjects: ms.HeapObjects,
		goroutines:  runtime.NumGoroutine(),
		views:       mon.probe.views.Load(),
		outBytes:    mon.out.n.Load(),
	}
	r.sockets, r.snaps = mon.probe.shown()
	rs := mon.reader.stats()
	r.polls, r.pollErrs, r.pollTook = rs.reads, rs.errors, rs.took
	if ch != nil {
		r.churn = ch.Stats()
		var opened0 uint64
		var t0 time.Duration
		if prev != nil {
			opened0, t0 = prev.churn.Opened, prev.elapsed
		}
		if dt := (elapsed - t0).Seconds(); dt > 0 {
			r.connRate = float64(r.churn.Opened-opened0) / dt
		}
	}
	return r
}

// liveHeap is the heap the last GC found live: unlike HeapInuse it does
// not swing with garbage not yet collected, so growth in it is a leak.
func liveHeap() uint64 {
	m := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(m)
	if m[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return m[0].Value.Uint64()
}

// vmRSS reads VmRSS from /proc/self/status, in KiB (-1 when unreadable).
func vmRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				if v, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return v
				}
			}
		}
	}
	return -1
}

func mib(b uint64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }

// line is the row as one log line.
func (r *row) line() string {
	return fmt.Sprintf("%v rss=%sMiB heap=%sMiB live=%sMiB objects=%d goroutines=%d sockets=%d polls=%d errors=%d poll=%v churn=%.0f/s opened=%d churnerr=%d children=%d",
		r.elapsed.Round(time.Second), mib(uint64(max(r.rssKiB, 0))<<10), mib(r.heapInuse), mib(r.heapLive), r.heapObjects,
		r.goroutines, r.sockets, r.polls, r.pollErrs, r.pollTook.Round(time.Millisecond),
		r.connRate, r.churn.Opened, r.churn.Errors, r.churn.Spawned)
}

// renderTable is the report: the configuration, one table row per
// recording, and what changed from the first row to the last.
func renderTable(c *config, rows []row, mon *monitor, ch *churn.Churner) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "## tcptop-soak\n\n")
	fmt.Fprintf(&b, "- run: %s, %v, one row every %v; kernel %s, %d CPUs, %s\n",
		time.Now().UTC().Format(time.RFC3339), c.duration, c.every, kernelRelease(), runtime.NumCPU(), runtime.Version())
	fmt.Fprintf(&b, "- monitor: ui.New (theme dark, 120x40, refresh %v, 15 fps) over source.Kernel with attribution, output counted and discarded\n", c.interval)
	fmt.Fprintf(&b, "- standing population (sockpop): -estab %d -closewait %d -timewait %d (TIME_WAIT expires after 60 s)\n", c.estab, c.closewait, c.timewait)
	if ch != nil {
		st := ch.Stats()
		fmt.Fprintf(&b, "- churn: -rate %d over %d listeners, close %v, processes %v: %d opened (%.0f/s achieved), %d closed, %d errors, %d skipped, %d children spawned, %d reaped",
			c.rate, c.listeners, c.close, c.procs, st.Opened, st.Rate(), st.Closed, st.Errors, st.Skipped, st.Spawned, st.Reaped)
		if st.LastError != "" {
			fmt.Fprintf(&b, ", last error: %s", st.LastError)
		}
		b.WriteString("\n")
	} else {
		b.WriteString("- churn: none\n")
	}
	rs := mon.reader.stats()
	fmt.Fprintf(&b, "- polls: %d, %d failed", rs.reads, rs.errors)
	if rs.lastErr != nil {
		fmt.Fprintf(&b, " (last: %s)", oneLine(rs.lastErr.Error()))
	}
	b.WriteString("\n\n")

	b.WriteString("| elapsed | RSS MiB | heap in use MiB | live heap MiB | heap objects | goroutines | sockets shown | snapshots | polls (failed) | last poll ms | churn conn/s | churn opened | churn errors | children | views | output KiB |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %v | %s | %s | %s | %d | %d | %d | %d | %d (%d) | %.1f | %.0f | %d | %d | %d | %d | %d |\n",
			r.elapsed.Round(time.Second), mib(uint64(max(r.rssKiB, 0))<<10), mib(r.heapInuse), mib(r.heapLive), r.heapObjects,
			r.goroutines, r.sockets, r.snaps, r.polls, r.pollErrs, float64(r.pollTook.Microseconds())/1000,
			r.connRate, r.churn.Opened, r.churn.Errors, r.churn.Spawned, r.views, r.outBytes>>10)
	}
	if len(rows) >= 2 {
		first, last := rows[0], rows[len(rows)-1]
		minG, maxG := first.goroutines, first.goroutines
		maxRSS := first.rssKiB
		for _, r := range rows {
			minG, maxG = min(minG, r.goroutines), max(maxG, r.goroutines)
			maxRSS = max(maxRSS, r.rssKiB)
		}
		fmt.Fprintf(&b, "\nFrom %v to %v: RSS %s → %s MiB (%+.1f, peak %s), heap in use %s → %s MiB, live heap %s → %s MiB, heap objects %d → %d, goroutines %d → %d (range %d–%d).\n",
			first.elapsed.Round(time.Second), last.elapsed.Round(time.Second),
			mib(uint64(max(first.rssKiB, 0))<<10), mib(uint64(max(last.rssKiB, 0))<<10), float64(last.rssKiB-first.rssKiB)/1024, mib(uint64(max(maxRSS, 0))<<10),
			mib(first.heapInuse), mib(last.heapInuse), mib(first.heapLive), mib(last.heapLive), first.heapObjects, last.heapObjects,
			first.goroutines, last.goroutines, minG, maxG)
	}
	return b.String()
}

func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}
