package source

import (
	"net/netip"
	"time"
)

// Tracer is the in-kernel aggregation of TCP events (package source/ebpf):
// one per machine, serving every namespace. A Kernel reader given one
// (Options.Tracer, Machine.SetTracer) adds its namespace's aggregates to
// each Sample.
type Tracer interface {
	// Read returns the aggregates of the namespace whose nsfs inode is
	// netns, cumulative since the programs loaded; never nil. When the
	// programs are not loaded, EBPF.Loaded is false and Reason says why.
	Read(netns uint64) *EBPF
}

// NoTracer is a Tracer whose programs are not loaded, for the reason it
// holds: the Sample then says why eBPF data is absent.
type NoTracer string

// Read returns an EBPF with Loaded false and the reason.
func (r NoTracer) Read(uint64) *EBPF { return &EBPF{Reason: string(r)} }

// EBPFDir says which side a counted peer is seen from.
type EBPFDir uint8

// Directions of EBPFPeer.
const (
	// EBPFNamespace: counters of the whole namespace, no peer (closes of
	// connections opened before the programs loaded).
	EBPFNamespace EBPFDir = 0
	// EBPFOut: this host connected; Remote is the peer's ip:port and Local
	// holds the local IP (port 0).
	EBPFOut EBPFDir = 1
	// EBPFIn: accepted; Remote holds the peer's IP (port 0), Local the
	// local ip:port it connected to.
	EBPFIn EBPFDir = 2
	// EBPFListen: a listener; Local is its ip:port, Remote is invalid.
	EBPFListen EBPFDir = 3
	// EBPFUnknown: a socket older than the programs: the full 4-tuple,
	// the direction left to whoever knows the listeners.
	EBPFUnknown EBPFDir = 4
)

// LifeBuckets is the number of lifetime buckets: bucket 0 holds
// connections that lived under 1 µs, bucket b≥1 those that lived
// [2^(b-1), 2^b) µs, the last everything longer.
const LifeBuckets = 32

// EBPFCounts are what the programs count per peer, cumulative.
type EBPFCounts struct {
	// Opens and Closes count connections that reached ESTABLISHED and
	// later CLOSE (the move into TIME_WAIT is a close).
	Opens, Closes uint64
	// Connect failures: Refused (a RST answered the SYN), TimedOut (the
	// kernel's SYN retries ran out), Abandoned (the application closed
	// the socket while connecting: its own timeout), Unreachable (an
	// ICMP error or no route), NoPort (connect() found no free local
	// port: EADDRNOTAVAIL).
	Refused, TimedOut, Abandoned, Unreachable, NoPort uint64
	// Retrans counts retransmitted segments, tail-loss probes' included;
	// TLP counts tail-loss probes sent.
	Retrans, TLP uint64
	// ResetsSent and ResetsRecv count RSTs sent and received.
	ResetsSent, ResetsRecv uint64
	// Overflows counts SYNs and handshake ACKs a listener dropped because
	// its accept queue was full (EBPFListen only).
	Overflows uint64
}

// Add adds o to c.
func (c *EBPFCounts) Add(o *EBPFCounts) {
	c.Opens += o.Opens
	c.Closes += o.Closes
	c.Refused += o.Refused
	c.TimedOut += o.TimedOut
	c.Abandoned += o.Abandoned
	c.Unreachable += o.Unreachable
	c.NoPort += o.NoPort
	c.Retrans += o.Retrans
	c.TLP += o.TLP
	c.ResetsSent += o.ResetsSent
	c.ResetsRecv += o.ResetsRecv
	c.Overflows += o.Overflows
}

// Sub returns c - o, each counter floored at 0.
func (c EBPFCounts) Sub(o *EBPFCounts) EBPFCounts {
	d := func(a, b uint64) uint64 {
		if a < b {
			return 0
		}
		return a - b
	}
	return EBPFCounts{
		Opens: d(c.Opens, o.Opens), Closes: d(c.Closes, o.Closes),
		Refused: d(c.Refused, o.Refused), TimedOut: d(c.TimedOut, o.TimedOut),
		Abandoned: d(c.Abandoned, o.Abandoned), Unreachable: d(c.Unreachable, o.Unreachable),
		NoPort: d(c.NoPort, o.NoPort), Retrans: d(c.Retrans, o.Retrans), TLP: d(c.TLP, o.TLP),
		ResetsSent: d(c.ResetsSent, o.ResetsSent), ResetsRecv: d(c.ResetsRecv, o.ResetsRecv),
		Overflows: d(c.Overflows, o.Overflows),
	}
}

// EBPFPeer is one key of the programs' peer map.
type EBPFPeer struct {
	Dir EBPFDir
	// Local and Remote: see EBPFDir for which parts are set.
	Local, Remote netip.AddrPort
	// Born is when (ns after boot) the kernel created this key: a key
	// removed and created again has a new Born, so its counts restart.
	Born uint64
	EBPFCounts
	// Life counts closed connections by lifetime (see LifeBuckets).
	Life [LifeBuckets]uint64
}

// EBPFProc is one process's outgoing connections to one peer.
type EBPFProc struct {
	// PID and Start (clock ticks after boot, as /proc/PID/stat) name the
	// process that called connect(); Comm is its name then.
	PID   int32
	Start uint64
	Comm  string
	// Local is the local IP, Remote the peer's ip:port.
	Local  netip.Addr
	Remote netip.AddrPort
	Born   uint64
	// Opens and Closes as EBPFCounts; Failed counts connects that failed
	// (any reason), NoPort those that found no local port.
	Opens, Closes, Failed, NoPort uint64
	// LifeSum is the summed lifetime of the closed connections.
	LifeSum time.Duration
}

// EBPFLost counts what the programs could not aggregate, machine-wide.
type EBPFLost struct {
	// PeersFull and ProcsFull count events dropped because a map was
	// full; Storage counts sockets whose state could not be allocated.
	PeersFull, ProcsFull, Storage uint64
	// ResetsNoSocket counts RSTs sent for no socket (to a closed port),
	// which carry no namespace here.
	ResetsNoSocket uint64
}

// EBPF is what tcptop's eBPF programs aggregated in one namespace,
// cumulative since they loaded.
type EBPF struct {
	// Loaded is false when the programs are not running; Reason says why.
	Loaded bool
	Reason string
	// Since is when the programs loaded.
	Since time.Time
	// Now is the kernel's clock (ns after boot) at the read.
	Now   uint64
	Peers []EBPFPeer
	Procs []EBPFProc
	Lost  EBPFLost
	// Took is how long reading the maps took.
	Took time.Duration
}
