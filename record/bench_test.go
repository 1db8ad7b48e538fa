package record

import (
	"context"

	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

// Recording size and cost (docs/PERFORMANCE.md). The populations are
// synthetic but shaped like a busy server (see synth): idle keepalive
// connections, churn through 60 s of TIME_WAIT, a few busy queues.

func benchSize(b *testing.B, n, churn int) {
	const minutes = 3
	s := newSynth(n, churn, 3)
	// Warm up: a minute of churn fills TIME_WAIT to its steady state.
	for range 60 {
		s.next()
	}
	samples := make([]*source.Sample, 0, 60*minutes)
	for range 60 * minutes {
		samples = append(samples, s.next())
	}
	b.ReportAllocs()
	b.ResetTimer()
	var bytes int
	for b.Loop() {
		e := NewEncoder(EncoderOptions{})
		bytes = 0
		for _, smp := range samples {
			c, err := e.Add(smp)
			if err != nil {
				b.Fatal(err)
			}
			if c != nil {
				bytes += len(c.Bytes)
			}
		}
		bytes += len(e.Flush().Bytes)
	}
	b.ReportMetric(float64(bytes)/minutes/(1<<20), "MiB/min")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(len(samples))/1000, "ms/poll")
}

func BenchmarkSize10kChurn100(b *testing.B)   { benchSize(b, 10_000, 100) }
func BenchmarkSize100kChurn1000(b *testing.B) { benchSize(b, 100_000, 1000) }

// BenchmarkAnalyze10k is what the poll costs without the kernel: the
// analyzer (Build and the rules) on the same samples, for the ratio
// with the encoding above.
func BenchmarkAnalyze10k(b *testing.B) {
	s := newSynth(10_000, 100, 3)
	for range 60 {
		s.next()
	}
	samples := make([]*source.Sample, 0, 60)
	for range 60 {
		samples = append(samples, s.next())
	}
	b.ResetTimer()
	for b.Loop() {
		a := model.NewAnalyzer(model.DefaultThresholds())
		for _, smp := range samples {
			a.Next(smp, model.Options{})
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(len(samples))/1000, "ms/poll")
}

var hourOnce sync.Once
var hourPath string

// hourRecording is a one-hour recording at 10k sockets, 100 conn/s,
// made once per benchmark run (it takes a while).
func hourRecording(b *testing.B) string {
	hourOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tcptop-bench-")
		if err != nil {
			b.Fatal(err)
		}
		hourPath = filepath.Join(dir, "hour.tcptop")
		w, err := Create(hourPath, testHeader(), WriterOptions{})
		if err != nil {
			b.Fatal(err)
		}
		s := newSynth(10_000, 100, 5)
		for range 3600 {
			if err := w.Write(s.next()); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	})
	return hourPath
}

// BenchmarkSeekHour10k: open a one-hour 10k-socket recording and read
// the poll at a random moment (the reader's seek: index, key chunk,
// deltas up to the poll).
func BenchmarkSeekHour10k(b *testing.B) {
	path := hourRecording(b)
	st, _ := os.Stat(path)
	b.ReportMetric(float64(st.Size())/60/(1<<20), "MiB/min")
	rng := rand.New(rand.NewPCG(1, 2))
	for b.Loop() {
		r, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		r.Seek(rng.IntN(r.Len()))
		if _, err := r.Read(context.Background()); err != nil {
			b.Fatal(err)
		}
		r.Close()
	}
}

// BenchmarkPlayerJumpHour10k: what a jump costs in the monitor: the seek
// plus analysing the DefaultWarmup polls before the target.
func BenchmarkPlayerJumpHour10k(b *testing.B) { benchJump(b, hourRecording(b), 3600) }

// BenchmarkPlayerJump5min10k is the same on five minutes (quicker to
// make; a jump costs the same).
func BenchmarkPlayerJump5min10k(b *testing.B) {
	path := filepath.Join(b.TempDir(), "5min.tcptop")
	w, err := Create(path, testHeader(), WriterOptions{})
	if err != nil {
		b.Fatal(err)
	}
	s := newSynth(10_000, 100, 5)
	for range 300 {
		w.Write(s.next())
	}
	w.Close()
	b.ResetTimer()
	benchJump(b, path, 300)
}

func benchJump(b *testing.B, path string, polls int) {
	p, err := NewPlayer(path, model.Thresholds{}, model.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	p.stopIdx() // the background index would share the CPU
	rng := rand.New(rand.NewPCG(1, 2))
	for b.Loop() {
		clear(p.cache)
		if _, err := p.Seek(context.Background(), rng.IntN(polls)); err != nil {
			b.Fatal(err)
		}
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if hourPath != "" {
		os.RemoveAll(filepath.Dir(hourPath))
	}
	os.Exit(code)
}

// BenchmarkEncodeRecording re-encodes a real recording named by
// $TCPTOP_BENCH_RECORDING (skipped without): the cost --record adds to
// each poll of that population, to set against its poll_ms.total.
func BenchmarkEncodeRecording(b *testing.B) {
	path := os.Getenv("TCPTOP_BENCH_RECORDING")
	if path == "" {
		b.Skip("set TCPTOP_BENCH_RECORDING to a recording")
	}
	r, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	var samples []*source.Sample
	for {
		s, err := r.Read(context.Background())
		if err != nil {
			break
		}
		samples = append(samples, s)
	}
	r.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		e := NewEncoder(EncoderOptions{})
		for _, s := range samples {
			e.Add(s)
		}
		e.Flush()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(len(samples))/1000, "ms/poll")
	b.ReportMetric(float64(len(samples[0].Sockets)), "sockets")
}
