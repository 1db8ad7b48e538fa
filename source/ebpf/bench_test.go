package ebpf

import (
	"context"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/tcptop/tcptop/internal/churn"
	"github.com/tcptop/tcptop/internal/nstest"
)

// BenchmarkChurnOverhead measures, in one run, a loopback churn of
// 10,000 connections/s with the programs loaded and not, alternated in
// 3 s windows: the churn's own throughput each way, and the CPU that
// reading the maps once a second costs this process (tcptop's user-space
// share). Reported, never asserted (docs/PERFORMANCE.md).
//
//	go test -run '^$' -bench ChurnOverhead -benchtime 1x ./source/ebpf
func BenchmarkChurnOverhead(b *testing.B) {
	if err := Check(Options{}); err != nil {
		b.Skip(err)
	}
	_, ns := nstest.New(b, "tcptop-ebpf-bench")
	var ch *churn.Churner
	err := ns.Do(func() error {
		var err error
		ch, err = churn.Start(context.Background(), churn.Config{Rate: 10000, Listeners: 8, CloseFirst: churn.CloseMixed})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	defer ch.Stop()
	time.Sleep(time.Second)
	runtime.LockOSThread() // threadCPU measures this thread
	defer runtime.UnlockOSThread()
	const window = 3 * time.Second
	var on, off []float64
	var readCPU, readWall time.Duration
	var reads int
	for range b.N {
		for round := range 6 {
			loaded := round%2 == 0
			var tr *Tracer
			if loaded {
				if tr, err = Load(Options{ShareRead: time.Nanosecond}); err != nil {
					b.Fatal(err)
				}
			}
			s0 := ch.Stats()
			end := time.Now().Add(window)
			for time.Now().Before(end) {
				time.Sleep(time.Second)
				if tr != nil {
					c0, w0 := threadCPU(), time.Now()
					tr.Read(ns.ID.Inode)
					readCPU += threadCPU() - c0
					readWall += time.Since(w0)
					reads++
				}
			}
			s1 := ch.Stats()
			rate := float64(s1.Opened-s0.Opened) / (s1.Elapsed - s0.Elapsed).Seconds()
			if loaded {
				on = append(on, rate)
				tr.Close()
			} else {
				off = append(off, rate)
			}
		}
	}
	avg := func(v []float64) float64 {
		s := 0.0
		for _, x := range v {
			s += x
		}
		return s / float64(len(v))
	}
	b.ReportMetric(avg(on), "conn/s-loaded")
	b.ReportMetric(avg(off), "conn/s-unloaded")
	b.ReportMetric(100*(1-avg(on)/avg(off)), "%-throughput-lost")
	if reads > 0 {
		b.ReportMetric(float64(readCPU.Microseconds())/float64(reads), "µs-cpu/read")
		b.ReportMetric(float64(readWall.Microseconds())/float64(reads), "µs-wall/read")
		// One read per second: the share of one core.
		b.ReportMetric(100*readCPU.Seconds()/float64(reads), "%-core-at-1s")
	}
}

// threadCPU is the calling thread's CPU time.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
