package model

import (
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/tcptop/tcptop/source"
)

// bigSample is a synthetic 40k-socket sample shaped like a busy web node:
// incoming connections to two listeners, outgoing TIME_WAIT to a few APIs,
// CLOSE_WAIT in one process.
func bigSample(n int) *source.Sample {
	s := incidentSample()
	s.Sockets = s.Sockets[:0:0]
	var b sb
	b.add(source.Listen, "0.0.0.0:80", "0.0.0.0:0", 1, []int32{10}, false)
	b.add(source.Listen, "[::]:9000", "[::]:0", 2, []int32{20}, false)
	local := netip.MustParseAddr("10.0.0.1")
	for i := 0; len(b.socks) < n; i++ {
		remote := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8 % 64), byte(i)})
		switch i % 4 {
		case 0, 1:
			b.add(source.Established, "10.0.0.1:80", netip.AddrPortFrom(remote, uint16(1024+i%60000)).String(), uint32(1000+i), []int32{10}, false)
		case 2:
			api := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 5)}), 443)
			tw := b.add(source.TimeWait, netip.AddrPortFrom(local, uint16(32768+i%28000)).String(), api.String(), 0, nil, false)
			tw.Expires = uint32(i % 60000)
		case 3:
			b.add(source.CloseWait, netip.AddrPortFrom(local, uint16(32768+i%28000)).String(), "127.0.0.1:6379", uint32(1000+i), []int32{20}, false)
		}
	}
	s.Sockets = b.socks
	return s
}

func BenchmarkBuild(b *testing.B) {
	s := bigSample(40000)
	prev := Build(s, nil, Options{})
	f, _ := ParseFilter("port:443")
	for _, c := range []struct {
		name string
		opt  Options
	}{{"plain", Options{}}, {"filtered", Options{Filter: f}}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Build(s, prev, c.opt)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(s.NumSockets()), "ns/socket")
		})
	}
}

func BenchmarkLocalPorts(b *testing.B) {
	s := bigSample(40000)
	f, _ := ParseFilter("port:443")
	tw, _ := ParseSortKey("-TIME_WAIT")
	for _, c := range []struct {
		name string
		opt  Options
	}{{"plain", Options{}}, {"filtered", Options{Filter: f}}, {"reverse-sorted", Options{Sort: tw}}} {
		snap := Build(s, nil, c.opt)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				snap.LocalPorts()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(s.NumSockets()), "ns/socket")
		})
	}
}

// BenchmarkAnalyze is a poll's cost with the findings engine: Build plus
// ages, history and every rule, on the same 40k sample polled again (so
// its 10k CLOSE_WAIT sockets persist and fire the leak rule).
func BenchmarkAnalyze(b *testing.B) {
	s := bigSample(40000)
	a := NewAnalyzer(DefaultThresholds())
	a.Next(s, Options{})
	b.ReportAllocs()
	for b.Loop() {
		a.Next(s, Options{})
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(s.NumSockets()), "ns/socket")
}

// partialSample is a partial poll at n sockets (source.Kernel.ReadPartial):
// est ESTABLISHED sockets carried from the last full dump (incoming to a
// web listener, and outgoing to a few APIs, over five processes), then
// this poll's dump of every other state (TIME_WAIT to the APIs,
// CLOSE_WAIT, the listeners).
func partialSample(n, est int) *source.Sample {
	s := incidentSample()
	var b sb
	local := netip.MustParseAddr("10.0.0.1")
	for i := 0; len(b.socks) < est; i++ {
		pid := int32(10 + i%5)
		remote := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8 % 64), byte(i)})
		if i%10 == 9 {
			api := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 5)}), 443)
			b.add(source.Established, netip.AddrPortFrom(local, uint16(32768+i%28000)).String(), api.String(), uint32(1000+i), []int32{pid}, false)
			continue
		}
		b.add(source.Established, "10.0.0.1:80", netip.AddrPortFrom(remote, uint16(1024+i%60000)).String(), uint32(1000+i), []int32{pid}, false)
	}
	carried := len(b.socks)
	b.add(source.Listen, "0.0.0.0:80", "0.0.0.0:0", 1, []int32{10, 11, 12, 13, 14}, false)
	b.add(source.Listen, "[::]:9000", "[::]:0", 2, []int32{20}, false)
	for i := 0; len(b.socks) < n; i++ {
		if i%20 == 19 {
			b.add(source.CloseWait, netip.AddrPortFrom(local, uint16(32768+i%28000)).String(), "127.0.0.1:6379", uint32(200000+i), []int32{20}, false)
			continue
		}
		api := netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 5)}), 443)
		tw := b.add(source.TimeWait, netip.AddrPortFrom(local, uint16(32768+i%28000)).String(), api.String(), 0, nil, false)
		tw.Expires = uint32(i % 60000)
	}
	s.Sockets = b.socks
	s.Partial = &source.Partial{FullTime: s.Time.Add(-4 * time.Second), Established: carried, Carried: carried}
	return shareCarried(s)
}

// BenchmarkBuildPartial is Build of a partial poll at 100k sockets (90k
// ESTABLISHED carried), against the previous partial poll's snapshot as
// the pipeline does; "whole" is the same sockets tallied as one dump.
func BenchmarkBuildPartial(b *testing.B) {
	s := partialSample(100000, 90000)
	whole := *wholeOf(s)
	for _, c := range []struct {
		name string
		s    *source.Sample
	}{{"partial", s}, {"whole", &whole}} {
		b.Run(c.name, func(b *testing.B) {
			prev := Build(c.s, nil, Options{})
			b.ReportAllocs()
			for b.Loop() {
				prev = Build(c.s, prev, Options{})
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(c.s.NumSockets()), "ns/socket")
		})
	}
}

// BenchmarkAnalyzePartial is a partial poll's cost with the findings
// engine at 100k sockets (90k ESTABLISHED carried).
func BenchmarkAnalyzePartial(b *testing.B) {
	s := partialSample(100000, 90000)
	whole := *wholeOf(s)
	for _, c := range []struct {
		name string
		s    *source.Sample
	}{{"partial", s}, {"whole", &whole}} {
		b.Run(c.name, func(b *testing.B) {
			a := NewAnalyzer(DefaultThresholds())
			a.Next(c.s, Options{})
			b.ReportAllocs()
			for b.Loop() {
				a.Next(c.s, Options{})
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(c.s.NumSockets()), "ns/socket")
		})
	}
}

// BenchmarkOnce is `tcptop --once`'s model work at 100k sockets: one
// sample, whole (a full dump), through a new Analyzer.
func BenchmarkOnce(b *testing.B) {
	s := wholeOf(partialSample(100000, 90000))
	b.ReportAllocs()
	for b.Loop() {
		NewAnalyzer(DefaultThresholds()).Next(s, Options{})
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(s.NumSockets()), "ns/socket")
}

// BenchmarkStream is the stream's model work at 100k sockets (90k
// ESTABLISHED carried between full dumps, as source.Kernel.ReadPartial
// makes them: each poll its own copy of the dumped sockets, the carried
// ones shared), a full dump every tenth poll; live-MB is the heap in use after a GC with the last
// snapshot held, what the model keeps between polls; full-ms, first-ms
// and partial-ms are a poll's mean time by its place in the schedule
// (the full poll, the first partial poll after it, the others: ns/op
// averages them 1:1:8).
func BenchmarkStream(b *testing.B) {
	base := partialSample(100000, 90000)
	carried := base.Partial.Carried
	var shared []source.Socket
	poll := func(i int) *source.Sample {
		s := *base
		s.Time = base.Time.Add(time.Duration(i) * time.Second)
		full := s.Time.Add(-time.Duration(i%10) * time.Second)
		if i%10 == 0 {
			s.Partial, s.Carried, s.Sockets = nil, nil, base.Flat()
			shared = nil
		} else {
			if shared == nil {
				shared = slices.Clone(base.Carried)
			}
			s.Carried, s.Sockets = shared, slices.Clone(base.Sockets)
			s.Partial = &source.Partial{FullTime: full, Established: carried, Carried: carried}
		}
		return &s
	}
	a := NewAnalyzer(DefaultThresholds())
	var snap *Snapshot
	i := 0
	// Each poll's time by its place in the schedule: the full poll, the
	// first partial poll after it (which takes over the full poll's
	// tallies and ages) and the other partial polls. The first ten polls
	// (a new Analyzer's) are left out.
	var took [3]time.Duration
	var polls [3]int
	b.ReportAllocs()
	for b.Loop() {
		s := poll(i)
		t0 := time.Now()
		snap = a.Next(s, Options{})
		if d := time.Since(t0); i >= 10 {
			ph := min(i%10, 2)
			took[ph] += d
			polls[ph]++
		}
		i++
	}
	b.StopTimer()
	for ph, name := range []string{"full-ms", "first-ms", "partial-ms"} {
		if polls[ph] > 0 {
			b.ReportMetric(float64(took[ph].Microseconds())/1000/float64(polls[ph]), name)
		}
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "live-MB")
	runtime.KeepAlive(snap)
	runtime.KeepAlive(base)
}
