// Package source reads what the kernel knows about TCP: sockets over netlink
// sock_diag, their owning processes from /proc, and the tunables and counters
// that explain them. It is the only package in tcptop that does I/O; it
// returns plain data (a Sample) for model/ to aggregate.
package source

import (
	"iter"
	"net/netip"
	"time"
)

// State is a TCP state as the kernel numbers it (include/net/tcp_states.h).
type State uint8

// TCP states, numbered as in the kernel.
const (
	Established State = 1
	SynSent     State = 2
	SynRecv     State = 3
	FinWait1    State = 4
	FinWait2    State = 5
	TimeWait    State = 6
	Close       State = 7
	CloseWait   State = 8
	LastAck     State = 9
	Listen      State = 10
	Closing     State = 11
	// NewSynRecv is the kernel's request-socket state; the dumper reports it
	// as SynRecv, the way ss and netstat do.
	NewSynRecv State = 12

	// MaxState is one past the highest state tcptop reports.
	MaxState State = 12
)

var stateNames = [...]string{
	Established: "ESTABLISHED",
	SynSent:     "SYN_SENT",
	SynRecv:     "SYN_RECV",
	FinWait1:    "FIN_WAIT1",
	FinWait2:    "FIN_WAIT2",
	TimeWait:    "TIME_WAIT",
	Close:       "CLOSE",
	CloseWait:   "CLOSE_WAIT",
	LastAck:     "LAST_ACK",
	Listen:      "LISTEN",
	Closing:     "CLOSING",
}

// String returns the state as netstat and the kernel spell it.
func (s State) String() string {
	if s >= Established && s < MaxState {
		return stateNames[s]
	}
	return "UNKNOWN"
}

// AllStates lists the reportable states in the order tcptop shows them.
var AllStates = []State{Established, SynSent, SynRecv, FinWait1, FinWait2,
	TimeWait, Close, CloseWait, LastAck, Listen, Closing}

// ParseState accepts a state name in any case, with '_' or '-' ("time-wait",
// "TIME_WAIT", "timewait").
func ParseState(name string) (State, bool) {
	norm := normState(name)
	for _, s := range AllStates {
		if normState(s.String()) == norm {
			return s, true
		}
	}
	return 0, false
}

func normState(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_' || c == '-':
			continue
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		}
		b = append(b, c)
	}
	return string(b)
}

// StateMask selects states in a dump request: bit 1<<State.
type StateMask uint32

// AllStatesMask asks the kernel for every state, request sockets included.
const AllStatesMask StateMask = 0xfff | 1<<NewSynRecv

// MaskOf builds a mask from states (SynRecv also selects request sockets).
func MaskOf(states ...State) StateMask {
	var m StateMask
	for _, s := range states {
		m |= 1 << s
		if s == SynRecv {
			m |= 1 << NewSynRecv
		}
	}
	return m
}

// Extensions selects optional per-socket attributes (INET_DIAG_* bits).
// Each one costs kernel time: ask only for the sockets being looked at.
type Extensions uint8

// Extension bits, as 1<<(INET_DIAG_x - 1) in the kernel request.
const (
	ExtMemInfo Extensions = 1 << (1 - 1) // INET_DIAG_MEMINFO
	ExtInfo    Extensions = 1 << (2 - 1) // INET_DIAG_INFO (struct tcp_info)
	// ExtSKMemInfo asks INET_DIAG_SKMEMINFO (the socket's memory and its
	// drop counter, Socket.Drops).
	ExtSKMemInfo Extensions = 1 << (7 - 1)
)

// Socket is one TCP socket as sock_diag reports it.
type Socket struct {
	Family uint8 // unix.AF_INET or unix.AF_INET6
	State  State
	Timer  uint8 // 0 none, 1 retransmit, 2 keepalive, 3 TIME_WAIT, 4 zero window probe
	// Retrans is the retransmit count of the running timer.
	Retrans uint8
	// Iface is the interface the socket is bound to (idiag_if; 0 for
	// most). An exact lookup sends it back. (It sits in padding: Socket
	// is no bigger for it.)
	Iface  uint32
	Local  netip.AddrPort
	Remote netip.AddrPort
	// RecvQ and SendQ are bytes queued; for LISTEN sockets RecvQ is the
	// accept-queue length and SendQ the backlog.
	RecvQ uint32
	SendQ uint32
	// Expires is the time left on the timer in milliseconds (TIME_WAIT: until
	// the socket is gone).
	Expires uint32
	UID     uint32
	// Inode is the socket's inode; 0 for TIME_WAIT and request sockets.
	Inode uint32
	// Drops is the socket's drop counter (sk_drops, from
	// INET_DIAG_SKMEMINFO), valid when DropsKnown. On a listener it counts
	// every SYN and handshake ACK the kernel dropped for it: a full
	// accept queue (TcpExt ListenOverflows), a full SYN queue without
	// syncookies, a failed allocation (the rest of ListenDrops). (It sits
	// in padding: Socket is no bigger for it.)
	Drops  uint32 `json:",omitempty"`
	Cookie uint64
	// Info is set only when ExtInfo was requested.
	Info *TCPInfo
	// Owners are the pids holding the socket (shared, read-only; nil when
	// unknown or when attribution was not asked for).
	Owners []int32
	// OwnerInferred is true when Owners were inferred rather than read
	// (TIME_WAIT and request sockets own no file).
	OwnerInferred bool
	// DropsKnown: Drops was read (listeners, see Kernel.Read).
	DropsKnown bool `json:",omitempty"`
}

// TCPInfo is struct tcp_info (INET_DIAG_INFO) as far as this kernel sends
// it. The struct grew with the kernel: a field exists only when the
// attribute reached past its end (Has), and a missing field reads 0, which
// front ends must show as "n/a on this kernel", never as a value. Units:
// rtt, rttvar, min_rtt, rto, ato, rcv_rtt µs; Last* ms ago; *Limited and
// BusyTime cumulative µs; rates bytes per second; windows and queues
// bytes; cwnd, ssthresh and reordering segments. Only full sockets have
// one (no TIME_WAIT, no request sockets).
type TCPInfo struct {
	// Len is how many bytes of struct tcp_info the kernel sent.
	Len int

	State   uint8
	CAState uint8 // congestion-avoidance state: 0 open, 1 disorder, 2 CWR, 3 recovery, 4 loss
	// Retransmits is the current backoff: unrecovered RTO timeouts in a
	// row (TotalRetrans is the lifetime count).
	Retransmits uint8
	Probes      uint8 // zero-window probes unanswered
	Backoff     uint8
	Options     uint8 // TCPI_OPT_* bits
	SndWscale   uint8
	RcvWscale   uint8
	// DeliveryRateAppLimited: the last delivery rate sample was limited
	// by the application, not the network.
	DeliveryRateAppLimited bool

	RTO          uint32 // µs
	ATO          uint32 // µs
	SndMSS       uint32
	RcvMSS       uint32
	Unacked      uint32 // segments in flight
	Sacked       uint32
	Lost         uint32 // segments thought lost now
	Retrans      uint32 // segments being retransmitted now
	LastDataSent uint32 // ms ago
	LastAckSent  uint32 // ms ago (not kept by Linux: 0)
	LastDataRecv uint32 // ms ago
	// LastAckRecv is how long ago (ms) the peer's last segment was
	// processed: on a CLOSE_WAIT socket, at most how long ago its FIN came.
	LastAckRecv  uint32
	PMTU         uint32
	RcvSsthresh  uint32
	RTT          uint32 // µs, smoothed
	RTTVar       uint32 // µs
	SndSsthresh  uint32
	SndCwnd      uint32 // segments
	AdvMSS       uint32
	Reordering   uint32
	RcvRTT       uint32 // µs
	RcvSpace     uint32
	TotalRetrans uint32 // segments retransmitted over the socket's life

	PacingRate         uint64 // bytes/s (InfoPacingRate)
	MaxPacingRate      uint64
	BytesAcked         uint64 // InfoBytesAcked
	BytesReceived      uint64
	SegsOut            uint32 // InfoSegs
	SegsIn             uint32
	NotsentBytes       uint32 // InfoNotsent
	MinRTT             uint32 // µs (InfoMinRTT)
	DataSegsIn         uint32 // InfoDataSegs
	DataSegsOut        uint32
	DeliveryRate       uint64 // bytes/s (InfoDeliveryRate, 4.9)
	BusyTime           uint64 // µs sending (InfoLimited, 4.10)
	RwndLimited        uint64 // µs limited by the peer's receive window
	SndbufLimited      uint64 // µs limited by the send buffer
	Delivered          uint32 // InfoDelivered
	DeliveredCE        uint32
	BytesSent          uint64 // InfoBytesSent (4.19)
	BytesRetrans       uint64
	DSACKDups          uint32 // InfoDSACK
	ReordSeen          uint32 // InfoReordSeen (5.0)
	RcvOOOPack         uint32 // InfoRcvOOO (5.4)
	SndWnd             uint32 // InfoSndWnd (5.4)
	RcvWnd             uint32 // InfoRcvWnd (6.2)
	Rehash             uint32 // InfoRehash (6.2)
	TotalRTO           uint16 // InfoTotalRTO (6.7)
	TotalRTORecoveries uint16
	TotalRTOTime       uint32 // ms
}

// InfoField names a group of tcp_info fields by the byte offset where the
// group ends: a kernel that sent at least that many bytes has them.
type InfoField int

// The tcp_info fields that came after the base struct, by the kernel
// that added them.
const (
	InfoBase         InfoField = 104 // up to total_retrans (2.6)
	InfoPacingRate   InfoField = 120 // pacing_rate, max_pacing_rate (3.15)
	InfoBytesAcked   InfoField = 136 // bytes_acked, bytes_received (4.1)
	InfoSegs         InfoField = 144 // segs_out, segs_in (4.2)
	InfoNotsent      InfoField = 148 // notsent_bytes (4.6)
	InfoMinRTT       InfoField = 152 // min_rtt (4.6)
	InfoDataSegs     InfoField = 160 // data_segs_in/out (4.6)
	InfoDeliveryRate InfoField = 168 // delivery_rate (4.9)
	InfoLimited      InfoField = 192 // busy_time, rwnd_limited, sndbuf_limited (4.10)
	InfoDelivered    InfoField = 200 // delivered, delivered_ce (4.18)
	InfoBytesSent    InfoField = 216 // bytes_sent, bytes_retrans (4.19)
	InfoDSACK        InfoField = 220 // dsack_dups (4.19)
	InfoReordSeen    InfoField = 224 // reord_seen (5.0)
	InfoRcvOOO       InfoField = 228 // rcv_ooopack (5.4)
	InfoSndWnd       InfoField = 232 // snd_wnd (5.4)
	InfoRcvWnd       InfoField = 236 // rcv_wnd (6.2)
	InfoRehash       InfoField = 240 // rehash (6.2)
	InfoTotalRTO     InfoField = 248 // total_rto, total_rto_recoveries, total_rto_time (6.7)
)

// Has reports whether this kernel's tcp_info holds field f.
func (t *TCPInfo) Has(f InfoField) bool { return t != nil && t.Len >= int(f) }

// Process describes a process that owns sockets.
type Process struct {
	PID int32
	// Start is the process's start time in clock ticks after boot
	// (/proc/PID/stat field 22): with PID it names the process, so a
	// reused pid is a different process. 0 when unknown.
	Start uint64
	// Name is the process's comm (lengthened from argv[0] when the kernel
	// cut it), re-read when it changes.
	Name string
	// Cmdline is the command line, its arguments joined by spaces: at
	// most MaxCmdline bytes, ending with CmdlineCut when it was longer.
	Cmdline string
	// User is the user name of UID, or UID as a number while the name is
	// being looked up (never waited for).
	User string
	UID  int32
	// FDs is how many files the process had open at the scan (-1 when its
	// fd directory could not be read).
	FDs int
	// FDLimit is the soft RLIMIT_NOFILE from /proc/PID/limits: 0 when
	// unknown, -1 when unlimited.
	FDLimit int64
}

// Sysctls holds the tunables that explain TCP behaviour. Each value is the
// file's content with whitespace collapsed; Raw keeps them by dotted name.
type Sysctls struct {
	PortLow, PortHigh int // net.ipv4.ip_local_port_range
	// Reserved is net.ipv4.ip_local_reserved_ports as closed ranges.
	Reserved        []PortRange
	Somaxconn       int
	MaxSynBacklog   int
	FinTimeout      int
	TwReuse         int
	MaxTwBuckets    int
	Timestamps      int
	MaxOrphans      int
	SynRetries      int // connect() gives up after this many SYN retransmits
	SynackRetries   int
	Syncookies      int
	AbortOnOverflow int               // 1: a full accept queue answers with RST, not silence
	KeepaliveTime   int               // seconds
	Raw             map[string]string // "net.ipv4.tcp_tw_reuse" -> "2"
	Missing         []string          // dotted names that could not be read
	PortRangeParsed bool              // false when ip_local_port_range was unreadable
}

// PortRange is a closed range of ports [Lo, Hi].
type PortRange struct{ Lo, Hi int }

// Sockstat is the TCP line of /proc/net/sockstat.
type Sockstat struct {
	InUse  int64 `json:"inuse"`  // IPv4 TCP sockets of this namespace
	Orphan int64 `json:"orphan"` // machine-wide
	TW     int64 `json:"tw"`     // IPv4 TIME_WAIT of this namespace
	Alloc  int64 `json:"alloc"`  // machine-wide
	Mem    int64 `json:"mem"`    // pages, machine-wide
	// SocketsUsed is "sockets: used N", all socket types.
	SocketsUsed int64 `json:"sockets_used"`
}

// Sample is one poll of the kernel: everything model.Build needs.
type Sample struct {
	Time  time.Time
	Host  string
	Netns string
	// Carried and Sockets are the sample's sockets, deduplicated by
	// cookie, in that order: read them through NumSockets and Socket(i)
	// (or Parts), which number them as one list, Carried first.
	//
	// Carried, in a partial sample (Partial), is the last full dump's
	// ESTABLISHED sockets, the same slice in every partial sample until
	// the next full dump, shared and read-only (never write through it);
	// Sockets are then the sockets dumped in this poll. Sharing them is
	// what keeps a poll's cost proportional to what it dumped: a copy of
	// 90k carried sockets into each sample cost 13 MB a second and most
	// of the monitor's garbage collection at 100k sockets (issue 18).
	// A full sample read on the dump schedule (after a partial one) has
	// its own ESTABLISHED sockets put first and apart here, so that the
	// partial samples after it share them; other full samples have none.
	Carried []Socket
	// Sockets are the sockets this sample owns: every one, unless Carried
	// is set.
	Sockets []Socket
	// Procs describes every pid that appears in a socket's Owners.
	Procs map[int32]*Process
	// Groups are the inferred owner groups: a listener held by several
	// processes (a pre-fork server's workers) gives its TIME_WAIT and
	// request sockets ONE inferred owner, the oldest holder (its master),
	// instead of every worker; Groups maps that pid to every holder of the
	// listener, itself included. nil when no socket was inferred to a
	// shared listener.
	Groups map[int32][]int32
	// Attributed is false when attribution was not asked for (--no-procs).
	Attributed bool
	// Unreadable counts processes whose fds could not be read (permission:
	// other users' processes without root; as root, processes of another
	// user namespace or not dumpable, such as a container's init).
	Unreadable int
	// UnreadablePIDs names the first of them (at most MaxUnreadablePIDs),
	// so a front end can say what is unreadable instead of assuming a lack
	// of root.
	UnreadablePIDs []int32
	// Privileged: tcptop ran as root (effective uid 0), so an unreadable
	// process is not a matter of running without root.
	Privileged bool
	Sysctl     Sysctls
	// Counters merges TcpExt (/proc/net/netstat) and Tcp (/proc/net/snmp).
	Counters map[string]int64
	Sockstat Sockstat
	// Took is how long each part of the poll took.
	Took Timings
	// Warnings are non-fatal problems (a /proc file missing, say).
	Warnings []Warning
	// Partial is set when the ESTABLISHED sockets were not dumped in this
	// poll but carried from an older one (Kernel.ReadPartial).
	Partial *Partial
	// EBPF holds the in-kernel aggregates (nil when no Tracer was given).
	EBPF *EBPF
}

// Timings records the cost of a poll by part.
type Timings struct {
	Dump, Attribute, Proc, Total time.Duration
}

// NumSockets is how many sockets the sample holds: Carried and Sockets.
func (s *Sample) NumSockets() int { return len(s.Carried) + len(s.Sockets) }

// Socket returns the sample's i-th socket (0 <= i < NumSockets()):
// Carried's first, then Sockets'. A carried socket is shared with other
// samples: read it, never write to it.
func (s *Sample) Socket(i int) *Socket {
	if i < len(s.Carried) {
		return &s.Carried[i]
	}
	return &s.Sockets[i-len(s.Carried)]
}

// Parts returns the sample's sockets as the two slices they are kept
// in, Carried (read-only) and Sockets: socket i of the sample is
// carried[i] for i < len(carried), else fresh[i-len(carried)].
func (s *Sample) Parts() (carried, fresh []Socket) { return s.Carried, s.Sockets }

// All yields every socket of the sample with its index, Carried's first.
func (s *Sample) All() iter.Seq2[int, *Socket] {
	return func(yield func(int, *Socket) bool) {
		for i := range s.Carried {
			if !yield(i, &s.Carried[i]) {
				return
			}
		}
		n := len(s.Carried)
		for i := range s.Sockets {
			if !yield(n+i, &s.Sockets[i]) {
				return
			}
		}
	}
}

// Flat returns every socket of the sample in one slice: Sockets itself
// when nothing is carried, else a new slice (Carried's copied first),
// which the caller owns.
func (s *Sample) Flat() []Socket {
	if len(s.Carried) == 0 {
		return s.Sockets
	}
	out := make([]Socket, 0, s.NumSockets())
	return append(append(out, s.Carried...), s.Sockets...)
}
