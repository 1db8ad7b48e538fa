package record

import (
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/tcptop/tcptop/source"
)

// synth makes a realistic population that changes like a busy server:
// a few listeners, n ESTABLISHED connections mostly idle (keepalive
// timers running down), churn connections per second opened and closed
// (each closed one spends 60 s in TIME_WAIT with its timer running down,
// as on Linux), queues moving on a few busy sockets, counters rising.
type synth struct {
	rng     *rand.Rand
	t       time.Time
	cookie  uint64
	inode   uint32
	socks   []source.Socket
	churn   int
	procs   map[int32]*source.Process
	ctr     map[string]int64
	tick    int
	sysctl  source.Sysctls
	jiffyMS uint32
}

func newSynth(n, churn int, seed uint64) *synth {
	s := &synth{rng: rand.New(rand.NewPCG(seed, 1)), t: time.Unix(1_780_000_000, 0), cookie: 1000, inode: 50000, churn: churn}
	s.procs = map[int32]*source.Process{}
	for pid := int32(100); pid < 140; pid++ {
		s.procs[pid] = &source.Process{PID: pid, Start: uint64(pid) * 7, Name: "php-fpm", Cmdline: "php-fpm: pool www", User: "www-data", UID: 33, FDs: 100, FDLimit: 1024}
	}
	s.ctr = map[string]int64{"ActiveOpens": 1, "PassiveOpens": 2, "ListenOverflows": 0, "TW": 0, "RetransSegs": 9, "CurrEstab": 0}
	s.sysctl = source.Sysctls{PortLow: 32768, PortHigh: 60999, Somaxconn: 4096, MaxSynBacklog: 1024, FinTimeout: 60,
		TwReuse: 2, MaxTwBuckets: 131072, Timestamps: 1, MaxOrphans: 65536, PortRangeParsed: true,
		Raw: map[string]string{"net.core.somaxconn": "4096", "net.ipv4.ip_local_port_range": "32768 60999"}}
	for _, p := range []uint16{80, 443, 9000} {
		s.add(source.Socket{State: source.Listen, Local: netip.AddrPortFrom(netip.MustParseAddr("0.0.0.0"), p), SendQ: 4096}, 100)
	}
	for range n {
		s.addConn()
	}
	return s
}

func (s *synth) add(sk source.Socket, pid int32) {
	s.cookie += 1 + uint64(s.rng.IntN(3))
	s.inode += 1 + uint32(s.rng.IntN(2))
	sk.Family = 2
	sk.Cookie, sk.Inode, sk.UID = s.cookie, s.inode, 33
	sk.Owners = []int32{pid}
	s.socks = append(s.socks, sk)
}

func (s *synth) addConn() {
	remote := netip.AddrFrom4([4]byte{10, byte(s.rng.IntN(4)), byte(s.rng.IntN(256)), byte(1 + s.rng.IntN(250))})
	local := netip.AddrPortFrom(netip.MustParseAddr("10.9.0.5"), []uint16{80, 443, 9000}[s.rng.IntN(3)])
	if s.rng.IntN(3) == 0 { // outgoing, to a database
		local = netip.AddrPortFrom(netip.MustParseAddr("10.9.0.5"), uint16(32768+s.rng.IntN(28000)))
		remote = netip.MustParseAddr("10.20.0.7")
	}
	s.add(source.Socket{State: source.Established, Local: local, Remote: netip.AddrPortFrom(remote, uint16(1024+s.rng.IntN(60000))),
		Timer: 2, Expires: uint32(1000 + s.rng.IntN(7_200_000))}, 100+int32(s.rng.IntN(40)))
}

// next advances one second and returns a fresh sample.
func (s *synth) next() *source.Sample {
	s.tick++
	s.t = s.t.Add(time.Second)
	shift := uint32(1000)
	keep := s.socks[:0]
	for _, sk := range s.socks {
		if sk.Timer != 0 {
			if sk.Expires <= shift {
				if sk.State == source.TimeWait {
					continue // gone
				}
				sk.Expires = 7_200_000
			} else {
				sk.Expires -= shift
			}
		}
		keep = append(keep, sk)
	}
	s.socks = keep
	// Churn: close some ESTABLISHED (to TIME_WAIT, same cookie, no
	// inode or owner), open as many.
	for range s.churn {
		i := s.rng.IntN(len(s.socks))
		if sk := &s.socks[i]; sk.State == source.Established {
			sk.State, sk.Timer, sk.Expires, sk.Inode, sk.Owners, sk.UID = source.TimeWait, 3, 60_000, 0, nil, 0
		}
		s.addConn()
	}
	// A few busy sockets.
	for range 20 {
		sk := &s.socks[s.rng.IntN(len(s.socks))]
		if sk.State == source.Established {
			sk.SendQ = uint32(s.rng.IntN(65536))
			sk.Expires = 200 + uint32(s.rng.IntN(1000))
			sk.Timer = 1
		}
	}
	s.ctr["ActiveOpens"] += int64(s.churn / 3)
	s.ctr["PassiveOpens"] += int64(s.churn - s.churn/3)
	s.ctr["RetransSegs"] += int64(s.rng.IntN(5))
	s.procs[100+int32(s.rng.IntN(40))].FDs = 100 + s.rng.IntN(50)
	out := &source.Sample{Time: s.t, Host: "web-1", Netns: "host", Attributed: true, Sysctl: s.sysctl,
		Sockstat: source.Sockstat{InUse: int64(len(s.socks)), TW: 10, Alloc: 5, Mem: 3}}
	out.Sockets = append([]source.Socket(nil), s.socks...)
	// The kernel's dump order is its hash table's: shuffle a little.
	for range len(out.Sockets) / 50 {
		i, j := s.rng.IntN(len(out.Sockets)), s.rng.IntN(len(out.Sockets))
		out.Sockets[i], out.Sockets[j] = out.Sockets[j], out.Sockets[i]
	}
	out.Procs = map[int32]*source.Process{}
	for k, v := range s.procs {
		c := *v
		out.Procs[k] = &c
	}
	out.Counters = map[string]int64{}
	for k, v := range s.ctr {
		out.Counters[k] = v
	}
	out.Took = source.Timings{Dump: 3 * time.Millisecond, Total: 9 * time.Millisecond}
	return out
}
