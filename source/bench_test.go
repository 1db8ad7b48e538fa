package source_test

import (
	"io"
	"net"
	"testing"

	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/source"
)

// benchPopulation builds, inside a private namespace and held by this
// process, pairs ESTABLISHED pairs and tw client-side TIME_WAIT sockets.
func benchPopulation(b *testing.B, pairs, tw int) (*source.Namespace, int) {
	b.Helper()
	_, ns := nstest.New(b, "tcptop-bench")
	var closers []io.Closer
	b.Cleanup(func() {
		for _, c := range closers {
			c.Close()
		}
	})
	err := ns.Do(func() error {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		closers = append(closers, ln)
		for range pairs {
			c, s, err := pair(ln)
			if err != nil {
				return err
			}
			closers = append(closers, c, s)
		}
		for range tw {
			c, s, err := pair(ln)
			if err != nil {
				return err
			}
			c.Close()
			s.Read(make([]byte, 1))
			s.Close()
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return ns, 2*pairs + tw + 1
}

func BenchmarkDump(b *testing.B) {
	ns, n := benchPopulation(b, 4000, 2000)
	var d *source.Dumper
	if err := ns.Do(func() (err error) { d, err = source.NewDumper(); return }); err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	for _, c := range []struct {
		name  string
		mask  source.StateMask
		ext   source.Extensions
		count int
	}{
		{"all", source.AllStatesMask, 0, n},
		{"all+info", source.AllStatesMask, source.ExtInfo, n},
		{"timewait-only", source.MaskOf(source.TimeWait), 0, 2000},
		{"listen-only", source.MaskOf(source.Listen), 0, 1},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				socks, err := d.Dump(c.mask, c.ext, c.count)
				if err != nil {
					b.Fatal(err)
				}
				if len(socks) < c.count {
					b.Fatalf("%d sockets, want %d", len(socks), c.count)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(c.count), "ns/socket")
		})
	}
}

// BenchmarkAttribute is the /proc scan plus the join for the population's
// sockets: cold, as `tcptop --once` does it (a new Attributor: every fd of
// every process read), and warm, as every poll of the monitor after the
// first (fd directories unchanged since the last poll are not read again).
// The whole machine's processes are scanned, so other processes' fds
// count too.
func BenchmarkAttribute(b *testing.B) {
	ns, n := benchPopulation(b, 4000, 2000)
	var d *source.Dumper
	if err := ns.Do(func() (err error) { d, err = source.NewDumper(); return }); err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	socks, err := d.Dump(source.AllStatesMask, 0, n)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		warm bool
	}{{"cold", false}, {"warm", true}} {
		b.Run(c.name, func(b *testing.B) {
			a := source.NewAttributor("/proc")
			if _, _, err := a.Attribute(socks); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if !c.warm {
					a = source.NewAttributor("/proc")
				}
				if _, _, err := a.Attribute(socks); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/socket")
		})
	}
}
