// Package model turns a source.Sample into a Snapshot: every number that the
// TUI, the batch text and the JSON output show, computed once. It does no I/O.
package model

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"time"

	"github.com/tcptop/tcptop/source"
)

// SchemaVersion is the version of the JSON document a Snapshot encodes to
// (its "schema" field). docs/JSON.md says what changes bump it: a removed
// or renamed field, or a changed meaning; added fields do not.
const SchemaVersion = 1

// Snapshot is one read-only view of the machine's TCP. Its JSON form is the
// stable schema documented in docs/JSON.md.
type Snapshot struct {
	// Schema is SchemaVersion: scripts can check what they read.
	Schema    int               `json:"schema"`
	Time      time.Time         `json:"time"`
	Host      string            `json:"host"`
	Netns     string            `json:"netns"`
	States    StateCounts       `json:"states"`
	Total     int               `json:"total"`
	Ephemeral Ephemeral         `json:"ephemeral"`
	Listeners []Listener        `json:"listeners"`
	Peers     []Peer            `json:"peers"`
	Processes []ProcessRow      `json:"processes"`
	Counters  map[string]int64  `json:"counters"`
	Rates     map[string]Rate   `json:"rates,omitempty"`
	Sysctl    map[string]string `json:"sysctl"`

	// Fields beyond the base schema (added, never renamed).
	Sockstat source.Sockstat `json:"sockstat"`
	// Attributed is false under --no-procs or when /proc could not be read.
	Attributed bool `json:"attributed"`
	// UnreadableProcesses counts processes whose fds could not be read
	// (other users' processes when not root); their sockets show as unknown.
	UnreadableProcesses int `json:"unreadable_processes"`
	// UnreadablePIDs names the first of them (source.MaxUnreadablePIDs).
	UnreadablePIDs []int32 `json:"unreadable_pids,omitempty"`
	// Privileged: tcptop ran as root, so an unreadable process is not a
	// matter of permission (hidepid, a process gone mid-read, a kernel
	// thread's fd directory).
	Privileged bool `json:"-"`
	// Filter and Sort are the expressions the peer and process lists obey.
	Filter string `json:"filter,omitempty"`
	Sort   string `json:"sort"`
	// PollMS is what the poll cost, by part.
	PollMS   PollCost `json:"poll_ms"`
	Warnings []string `json:"warnings,omitempty"`
	// StateRates is each state's count change per second since the
	// previous snapshot (all zero in the first).
	StateRates StateRates `json:"state_rates"`
	// Churn is connections opened per second (the ActiveOpens and
	// PassiveOpens counters); 0 in the first snapshot or without counters.
	Churn Rate `json:"churn_per_sec"`
	// Findings say what is wrong, most severe first: empty when nothing
	// is (or when the snapshot was built without an Analyzer).
	Findings []Finding `json:"findings"`
	// EBPF is what the eBPF programs saw (absent without them).
	EBPF *EBPFView `json:"ebpf,omitempty"`
	// FindingsOmitted counts, by rule name, the findings left out of
	// Findings because a rule had more than it may show (five): a front
	// end says "+N more". Absent when nothing was left out.
	FindingsOmitted map[string]int `json:"findings_omitted,omitempty"`
	// AgesTruncated: the first-seen map reached MaxTracked, so some
	// sockets have no age.
	AgesTruncated bool `json:"ages_truncated,omitempty"`
	// Carried is set when this poll did not dump the ESTABLISHED
	// sockets (the dump schedule, see ApplyPartial): their count in
	// states is exact (the kernel's counter), the peers, processes and
	// ports built from them are as old as Carried says.
	Carried *Carried `json:"carried,omitempty"`
	// History is the Analyzer's last polls (at most SparkPoints), oldest
	// first, ending with this one; nil without an Analyzer.
	History []Point `json:"-"`
	// Watching is how long the Analyzer has been polling: no age it
	// reports can be longer.
	Watching time.Duration `json:"-"`
	// Thresholds are those the findings were judged by; the monitor's
	// gauges colour by the same ones.
	Thresholds Thresholds `json:"-"`
	// Interval is the time since the previous snapshot (0 for the first).
	Interval time.Duration `json:"-"`
	// Sample is the poll this snapshot was built from, for drill-down.
	Sample *source.Sample `json:"-"`
	// Overview is every namespace of the machine (--all-netns), nil
	// otherwise; this snapshot is then the focused namespace's.
	Overview *Overview `json:"-"`

	lt        listenTable
	opt       Options
	firstSeen []int64 // per socket of Sample: Unix ms of the first poll that saw it (0: untracked)
	// carried: the carried sockets' tallies this snapshot was built
	// with (partial samples only), for the next poll to reuse.
	carried *carriedTallies
	// peerBase: the carried sockets' peer rows this snapshot's were
	// made from (partial samples only), for the next poll to reuse.
	peerBase *peerBase
}

// PollCost is a poll's cost in milliseconds.
type PollCost struct {
	Dump      float64 `json:"dump"`
	Attribute float64 `json:"attribute"`
	Proc      float64 `json:"proc"`
	Build     float64 `json:"build"`
	// Analyze is the findings engine's share (ages, history, rules).
	Analyze float64 `json:"analyze"`
	Total   float64 `json:"total"`
}

// Ephemeral is the ephemeral-port gauge.
type Ephemeral struct {
	Low  int `json:"low"`
	High int `json:"high"`
	// Reserved counts ip_local_reserved_ports inside [Low, High].
	Reserved int `json:"reserved"`
	// Usable is High-Low+1-Reserved: what connect() can hand out.
	Usable int `json:"usable"`
	// InUse counts distinct local ports inside the usable range held by any
	// socket (each blocks connect() from picking it for a new destination).
	InUse int `json:"in_use"`
	// Fraction is InUse/Usable.
	Fraction float64 `json:"fraction"`
	// Destinations are the (local IP, remote ip:port) pairs holding
	// ephemeral ports, worst first (at most MaxDestinations).
	Destinations []Destination `json:"destinations"`
	// DestinationCount is how many destinations there are in all.
	DestinationCount int `json:"destination_count"`
}

// Destination is one (local IP, remote ip:port) and the ephemeral ports it holds.
type Destination struct {
	// Key is the destination, typed; LocalIP and Remote are its text.
	Key      DestKey `json:"-"`
	LocalIP  string  `json:"local_ip"`
	Remote   string  `json:"remote"`
	InUse    int     `json:"in_use"`
	Fraction float64 `json:"fraction"`
	// TimeWait is how many of those ports are held by TIME_WAIT sockets.
	TimeWait int `json:"time_wait"`
	// NextFreeMS and DrainMS are when the first and the last of those
	// TIME_WAIT sockets expire (0 when there are none).
	NextFreeMS uint32 `json:"next_free_ms"`
	DrainMS    uint32 `json:"drain_ms"`
}

// Listener is one LISTEN socket and its accept queue.
type Listener struct {
	// Addr is the listening endpoint as the kernel reports it (an IPv6
	// wildcard stays "[::]"); Local is its text.
	Addr    netip.AddrPort `json:"-"`
	Local   string         `json:"local"`
	Queue   uint32         `json:"queue"`
	Backlog uint32         `json:"backlog"`
	// Fill is Queue/Backlog (Queue/1 for a backlog of 0: listen(0) is
	// full with one connection waiting); the kernel counts a queue as
	// full when Queue > Backlog, so a full queue reads above 1, or 1 for
	// a backlog of 0.
	Fill    float64 `json:"fill"`
	Full    bool    `json:"full"`
	SynRecv int     `json:"syn_recv"`
	// CappedBySomaxconn: the backlog equals net.core.somaxconn, so the
	// application probably asked for more and was cut down.
	CappedBySomaxconn bool `json:"capped_by_somaxconn"`
	// InEphemeralRange: the port lies in ip_local_port_range and is not
	// reserved, so connect() may hand it out and a restart can fail.
	InEphemeralRange bool      `json:"in_ephemeral_range"`
	Processes        []ProcRef `json:"processes"`
	// Drops counts the SYNs and handshake ACKs the kernel dropped for
	// this listener since its listen() (its own sk_drops): a full accept
	// queue above all, also a full SYN queue without syncookies. It is the
	// listener's share of TcpExt ListenDrops. Absent (nil) when the dump
	// did not read it.
	Drops *uint64 `json:"drops,omitempty"`
	// DropsPerSec is Drops' rate since the previous snapshot; absent in
	// the first snapshot and when Drops is unknown.
	DropsPerSec *Rate `json:"drops_per_sec,omitempty"`

	cookie uint64 // the LISTEN socket's, to match it across snapshots
}

// PortRow is one local port and the sockets on it, from LocalPorts.
type PortRow struct {
	Port uint16 `json:"port"`
	// Listening: a LISTEN socket is bound to this port (on any address).
	Listening bool `json:"listening"`
	// States and Total count the port's sockets other than listeners.
	States StateCounts `json:"states"`
	Total  int         `json:"total"`
	// Processes are the distinct owners, by pid, at most MaxPortProcesses;
	// pid 0 named "unknown" stands for sockets without a known owner.
	Processes []ProcRef `json:"processes"`
	// Ephemeral marks the one row of LocalPortGroups that stands for
	// every port of the ephemeral range nothing listens on (Port is 0);
	// Ports counts them.
	Ephemeral bool `json:"ephemeral,omitempty"`
	Ports     int  `json:"ports,omitempty"`
}

// ProcKey identifies a process across snapshots: a pid and its start time
// (clock ticks after boot, from /proc/PID/stat; 0 when unknown), so a
// reused pid is a different process.
type ProcKey struct {
	PID   int32
	Start uint64
}

// PeerKey identifies a peer across snapshots.
type PeerKey struct {
	// Remote is the remote endpoint, unmapped; its port is 0 for an
	// incoming peer (clients come from ever-new ports).
	Remote netip.AddrPort
	// Listener is the local listener an incoming peer connects to, as in
	// Listener.Addr; the zero AddrPort for an outgoing peer.
	Listener netip.AddrPort
}

// Incoming reports whether the peer connects to a local listener.
func (k PeerKey) Incoming() bool { return k.Listener.IsValid() }

// DestKey is an ephemeral-port destination: the local IP connect() binds
// and the remote endpoint, both unmapped.
type DestKey struct {
	Local  netip.Addr
	Remote netip.AddrPort
}

// ProcRef names a process.
type ProcRef struct {
	PID  int32  `json:"pid"`
	Name string `json:"name"`
}

// Peer is a remote endpoint as an incident responder thinks of it: for an
// outgoing connection the remote ip:port (the service called); for an
// incoming one the remote IP and the local listener it came to.
type Peer struct {
	Remote    string      `json:"remote"`
	Direction string      `json:"direction"` // "out" or "in"
	Local     string      `json:"local"`
	States    StateCounts `json:"states"`
	Total     int         `json:"total"`
	// Loopback marks a peer on this machine's loopback.
	Loopback  bool          `json:"loopback"`
	Processes []PeerProcess `json:"processes"`
	// EBPF is the peer's eBPF counts (absent without eBPF).
	EBPF *EBPFPeerRow `json:"ebpf,omitempty"`
	// Key identifies the peer across snapshots (Remote, Direction and
	// Local are its text).
	Key PeerKey `json:"-"`

	key peerKey
}

// PeerProcess is a process's share of a peer's sockets.
type PeerProcess struct {
	PID     int32  `json:"pid"`
	Name    string `json:"name"`
	Sockets int    `json:"sockets"`
	// Inferred: every one of these sockets was attributed by inference
	// (TIME_WAIT and request sockets own no file).
	Inferred bool `json:"inferred"`
	// Group, when above 1, says this process stands for the Group
	// processes sharing a listener (a pre-fork server): the inferred
	// sockets of that listener are counted once, here, under its oldest
	// holder, not once per worker (source.Sample.Groups).
	Group int `json:"group,omitempty"`
}

// ProcessRow is a process and its sockets by state. PID 0 named "unknown"
// collects the sockets no process could be found for.
type ProcessRow struct {
	// Key is the pid with its start time (0 for "unknown").
	Key     ProcKey     `json:"-"`
	PID     int32       `json:"pid"`
	Name    string      `json:"name"`
	Cmdline string      `json:"cmdline"`
	User    string      `json:"user"`
	States  StateCounts `json:"states"`
	Total   int         `json:"total"`
	// FDs is the process's open files (-1 unknown) and FDLimit its soft
	// RLIMIT_NOFILE (0 unknown, -1 unlimited); both 0 for "unknown".
	FDs     int   `json:"fds"`
	FDLimit int64 `json:"fd_limit"`
	// Group, when above 1, says the row also counts, once, the inferred
	// sockets of a listener it shares with Group-1 other processes (a
	// pre-fork server's master and its workers; see PeerProcess.Group).
	Group int `json:"group,omitempty"`
}

// Rate is a per-second rate.
type Rate float64

// MarshalJSON prints a rate rounded to three decimals.
func (r Rate) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, math.Round(float64(r)*1000)/1000, 'f', -1, 64), nil
}

// StateRates is a per-second rate per state; its JSON form is that of
// StateCounts, every state in display order.
type StateRates [source.MaxState]Rate

// Get returns the rate of one state.
func (r *StateRates) Get(s source.State) Rate {
	if s >= source.MaxState {
		return 0
	}
	return r[s]
}

// MarshalJSON writes {"ESTABLISHED":f,...} with all states, each rate
// rounded as Rate rounds it.
func (r StateRates) MarshalJSON() ([]byte, error) {
	return marshalPerState(func(s source.State) []byte { v, _ := r[s].MarshalJSON(); return v }), nil
}

// UnmarshalJSON reads what MarshalJSON writes; unknown states are errors.
func (r *StateRates) UnmarshalJSON(b []byte) error {
	*r = StateRates{}
	return unmarshalPerState(b, func(s source.State, v float64) { r[s] = Rate(v) })
}

// StateCounts counts sockets per state; in JSON every state is present, in
// the order tcptop shows them.
type StateCounts [source.MaxState]int

// Get returns the count of one state.
func (c *StateCounts) Get(s source.State) int {
	if s >= source.MaxState {
		return 0
	}
	return c[s]
}

// MarshalJSON writes {"ESTABLISHED":n,...} with all states.
func (c StateCounts) MarshalJSON() ([]byte, error) {
	return marshalPerState(func(s source.State) []byte { return strconv.AppendInt(nil, int64(c[s]), 10) }), nil
}

// UnmarshalJSON reads what MarshalJSON writes; unknown states are errors.
func (c *StateCounts) UnmarshalJSON(b []byte) error {
	*c = StateCounts{}
	return unmarshalPerState(b, func(s source.State, v int) { c[s] = v })
}

// marshalPerState writes {"STATE":value,...} for every state, in the order
// tcptop shows them.
func marshalPerState(value func(source.State) []byte) []byte {
	b := make([]byte, 0, 256)
	b = append(b, '{')
	for i, s := range source.AllStates {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendQuote(b, s.String())
		b = append(b, ':')
		b = append(b, value(s)...)
	}
	return append(b, '}')
}

// unmarshalPerState reads what marshalPerState writes; unknown states are
// errors.
func unmarshalPerState[T any](b []byte, set func(source.State, T)) error {
	var m map[string]T
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for k, v := range m {
		s, ok := source.ParseState(k)
		if !ok {
			return fmt.Errorf("unknown TCP state %q", k)
		}
		set(s, v)
	}
	return nil
}

// omitFindings records that rule had n findings more than Findings shows.
func (s *Snapshot) omitFindings(rule string, n int) {
	if s.FindingsOmitted == nil {
		s.FindingsOmitted = map[string]int{}
	}
	s.FindingsOmitted[rule] += n
}
