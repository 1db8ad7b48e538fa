// Package source reads what the kernel knows about TCP: sockets over netlink
// sock_diag, their owning processes from /proc, and the tunables and counters
// that explain them. It is the only package in tcptop that does I/O; it
// returns plain data (a Sample) for model/ to aggregate.
package source

import (
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
)

// Socket is one TCP socket as sock_diag reports it.
type Socket struct {
	Family uint8 // unix.AF_INET or unix.AF_INET6
	State  State
	Timer  uint8 // 0 none, 1 retransmit, 2 keepalive, 3 TIME_WAIT, 4 zero window probe
	// Retrans is the retransmit count of the running timer.
	Retrans uint8
	Local   netip.AddrPort
	Remote  netip.AddrPort
	// RecvQ and SendQ are bytes queued; for LISTEN sockets RecvQ is the
	// accept-queue length and SendQ the backlog.
	RecvQ uint32
	SendQ uint32
	// Expires is the time left on the timer in milliseconds (TIME_WAIT: until
	// the socket is gone).
	Expires uint32
	UID     uint32
	// Inode is the socket's inode; 0 for TIME_WAIT and request sockets.
	Inode  uint32
	Cookie uint64
	// Info is set only when ExtInfo was requested.
	Info *TCPInfo
	// Owners are the pids holding the socket (shared, read-only; nil when
	// unknown or when attribution was not asked for).
	Owners []int32
	// OwnerInferred is true when Owners were inferred rather than read
	// (TIME_WAIT and request sockets own no file).
	OwnerInferred bool
}

// TCPInfo is the subset of struct tcp_info that tcptop shows.
type TCPInfo struct {
	Retransmits  uint8
	Probes       uint8
	Backoff      uint8
	RTO          uint32 // µs
	RTT          uint32 // µs
	RTTVar       uint32 // µs
	SndCwnd      uint32
	Unacked      uint32
	Lost         uint32
	Retrans      uint32
	TotalRetrans uint32
	LastDataSent uint32 // ms ago
	LastDataRecv uint32 // ms ago
	// LastAckRecv is how long ago (ms) the peer's last segment was
	// processed: on a CLOSE_WAIT socket, at most how long ago its FIN came.
	LastAckRecv uint32
}

// Process describes a process that owns sockets.
type Process struct {
	PID int32
	// Start is the process's start time in clock ticks after boot
	// (/proc/PID/stat field 22): with PID it names the process, so a
	// reused pid is a different process. 0 when unknown.
	Start   uint64
	Name    string
	Cmdline string
	User    string
	UID     int32
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
	// Sockets are deduplicated by cookie.
	Sockets []Socket
	// Procs describes every pid that appears in a socket's Owners.
	Procs map[int32]*Process
	// Attributed is false when attribution was not asked for (--no-procs).
	Attributed bool
	// Unreadable counts processes whose fds could not be read (permission).
	Unreadable int
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
}

// Timings records the cost of a poll by part.
type Timings struct {
	Dump, Attribute, Proc, Total time.Duration
}
