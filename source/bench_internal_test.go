package source

import (
	"net/netip"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// Benchmarks of the pure parts of a poll on synthetic input, so that they
// need no privileges and their numbers do not depend on the machine's
// sockets: parse, dedupe and join. Sizes are in the sub-benchmark names
// (sockets=N) for benchstat. The kernel-facing ones (dump, scan,
// attribution) are in bench_test.go.

var benchSizes = []struct {
	name string
	n    int
}{{"sockets=10000", 10000}, {"sockets=100000", 100000}}

// syntheticSockets returns n IPv4 sockets shaped like the benchmark
// population: 75% ESTABLISHED with an inode, 15% TIME_WAIT, 5% CLOSE_WAIT
// with an inode, 5% FIN_WAIT2; unique cookies.
func syntheticSockets(n int) []Socket {
	socks := make([]Socket, n)
	srv := netip.MustParseAddrPort("127.0.1.1:8080")
	for i := range socks {
		cl := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, byte(2 + i>>16), byte(i >> 8)}), uint16(32768+i%28000))
		s := Socket{Family: unix.AF_INET, Local: cl, Remote: srv, Cookie: uint64(i + 1), Inode: uint32(1000 + i)}
		switch i % 20 {
		case 0, 1, 2:
			s.State, s.Inode = TimeWait, 0
		case 3:
			s.State = CloseWait
		case 4:
			s.State, s.Inode = FinWait2, 0
		default:
			s.State = Established
		}
		socks[i] = s
	}
	return socks
}

// datagrams encodes socks as the kernel sends them: netlink messages
// packed into datagrams of at most 32 KiB, then NLMSG_DONE.
func datagrams(socks []Socket) [][]byte {
	var out [][]byte
	var cur []byte
	for _, s := range socks {
		m := nlMsg(sockDiagByFamily, 1, diagMsg(s))
		if len(cur)+len(m) > 32<<10 {
			out = append(out, cur)
			cur = nil
		}
		cur = append(cur, m...)
	}
	cur = append(cur, nlMsg(unix.NLMSG_DONE, 1, make([]byte, 4))...)
	return append(out, cur)
}

func BenchmarkParse(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			dgs := datagrams(syntheticSockets(size.n))
			out := make([]Socket, 0, size.n)
			b.ReportAllocs()
			for b.Loop() {
				out = out[:0]
				for _, dg := range dgs {
					var err error
					if out, _, err = parseDiagDatagram(dg, 1, out); err != nil {
						b.Fatal(err)
					}
				}
			}
			if len(out) != size.n {
				b.Fatalf("%d sockets, want %d", len(out), size.n)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(size.n), "ns/socket")
		})
	}
}

func BenchmarkDedupe(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			socks := syntheticSockets(size.n)
			var seen idxTable
			b.ReportAllocs()
			for b.Loop() {
				if got := dedupeByCookie(socks, &seen); len(got) != size.n {
					b.Fatalf("%d sockets kept", len(got))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(size.n), "ns/socket")
		})
	}
}

// BenchmarkJoin matches a poll's sockets to the fd links of 10 processes
// and infers the owners of the TIME_WAIT and FIN_WAIT2 sockets from the
// previous poll, as every poll of the monitor does once the scan is cached.
// The owners are this process and nine pids that do not exist, so that the
// per-process details cost what a cache hit costs.
func BenchmarkJoin(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			socks := syntheticSockets(size.n)
			pids := []int32{int32(os.Getpid())}
			for i := range int32(9) {
				pids = append(pids, 1<<30+i)
			}
			var links []fdLink
			for p, pid := range pids { // grouped by process, as a scan gives them
				for i := p; i < len(socks); i += len(pids) {
					if socks[i].Inode != 0 {
						links = append(links, fdLink{socks[i].Inode, pid})
					}
				}
			}
			a := NewAttributor("/proc")
			scan := ScanResult{links: links}
			// The previous poll saw every socket with its owner.
			prev := syntheticSockets(size.n)
			for i := range prev {
				prev[i].State, prev[i].Inode = Established, uint32(1000+i)
				links = append(links, fdLink{prev[i].Inode, pids[0]})
			}
			a.Join(prev, ScanResult{links: links})
			b.ReportAllocs()
			for b.Loop() {
				a.Join(socks, scan)
			}
			inferred := 0
			for _, s := range socks {
				if s.OwnerInferred {
					inferred++
				}
			}
			if inferred == 0 {
				b.Fatal("nothing inferred")
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(size.n), "ns/socket")
		})
	}
}
