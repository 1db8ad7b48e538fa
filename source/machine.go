package source

import (
	"os"
	"sync"
	"time"
)

// Machine is what every namespace reader of one machine shares: the procfs
// root, the host name and, with attribution, one Attributor. Socket inodes
// and processes are machine-wide, so however many namespaces are read, one
// /proc scan per round serves them all; each reader (Kernel) keeps only
// what belongs to its namespace (its netlink socket, its dump size, the
// owners of its previous poll's sockets).
//
// Rounds: a reader's Read joins the current round's scan when the reader
// has not read in that round yet and the scan started less than ShareScan
// ago; otherwise it starts a new round (a new scan, run while it dumps).
// So one reader polled alone scans every poll, as before, and N readers
// polled once each per refresh (in turn or at once) share one scan.
// NewRound forces the next Read to scan.
//
// Concurrency: Open, Reader, NewRound, Scans and the Read of different
// Kernels may be called from any goroutines at once: the dumps run in
// parallel, the scan and the joins take turns on the shared Attributor.
// One Kernel's Read must not run concurrently with itself or its Close.
type Machine struct {
	// ShareScan is how old a round's scan may be for a reader to share it
	// (1 s when 0). Set it before the first Read.
	ShareScan time.Duration

	procRoot string
	host     string

	mu     sync.Mutex // guards round, rounds
	round  *scanRound
	rounds uint64

	attrMu sync.Mutex  // guards attr
	attr   *Attributor // nil without attribution

	tracer Tracer // nil without eBPF aggregates
}

// scanRound is one /proc scan and the readers that share it.
type scanRound struct {
	id    uint64
	start time.Time
	done  chan struct{} // closed when the scan ended
	took  time.Duration
	err   error
}

// NewMachine returns a Machine reading procfs at procRoot ("/proc" when
// empty); with attribute, readers map sockets to processes through one
// shared Attributor.
func NewMachine(procRoot string, attribute bool) *Machine {
	if procRoot == "" {
		procRoot = "/proc"
	}
	m := &Machine{procRoot: procRoot}
	m.host, _ = os.Hostname()
	if attribute {
		m.attr = NewAttributor(procRoot)
	}
	return m
}

// SetTracer makes every reader add t's aggregates of its namespace to its
// Samples (nil: none). Call it before the first Read.
func (m *Machine) SetTracer(t Tracer) { m.tracer = t }

// ProcRoot is where procfs is read.
func (m *Machine) ProcRoot() string { return m.procRoot }

// Host is the host name every Sample carries.
func (m *Machine) Host() string { return m.host }

// Attributes reports whether readers attribute sockets to processes.
func (m *Machine) Attributes() bool { return m.attr != nil }

// Scans is how many /proc scans the readers have started (0 without
// attribution): with N namespaces read once per round, one per round.
func (m *Machine) Scans() int {
	if m.attr == nil {
		return 0
	}
	m.attrMu.Lock()
	defer m.attrMu.Unlock()
	return m.attr.Scans
}

// Reads is how many fd directories the readers have read in full so far
// (0 without attribution), for tests and benchmarks.
func (m *Machine) Reads() int {
	if m.attr == nil {
		return 0
	}
	m.attrMu.Lock()
	defer m.attrMu.Unlock()
	return m.attr.Reads
}

// NewRound ends the current round: the next Read of any reader scans
// /proc again.
func (m *Machine) NewRound() {
	m.mu.Lock()
	m.round = nil
	m.mu.Unlock()
}

// ReadOptions selects what a namespace reader dumps.
type ReadOptions struct {
	// States selects the socket states to dump (AllStatesMask when 0).
	States StateMask
	// Ext selects optional per-socket attributes; none for a plain poll.
	Ext Extensions
	// CloseWaitInfo: when a dump holds at least this many CLOSE_WAIT
	// sockets, a second dump masked to CLOSE_WAIT asks their tcp_info
	// (how long since the peer's last segment: a lower bound of how long
	// each has been in CLOSE_WAIT). 0 means DefaultCloseWaitInfo; a
	// negative value never asks.
	CloseWaitInfo int
	// OneRead: the reader reads once (a one-shot): a join keeps no
	// owners by cookie for a next read to infer from (at 100k sockets a
	// hash insert each, a third of the join: ~9 ms of a --once with
	// process names). Later reads still work, only without that history.
	OneRead bool
	// Scheduled: partial reads (ReadPartial) follow the first full read,
	// so it puts its ESTABLISHED sockets apart for them as a full read
	// after a partial one does (see Kernel.keepFull): the first partial
	// sample then shares them without a copy, and the model and the
	// flight recorder take it as they take the later ones (~70 ms of CPU
	// less in a monitor's second second at 100k sockets).
	Scheduled bool
}

// Open opens the namespace netns (a name as `ip netns list` shows it, a
// path such as /proc/PID/ns/net, or "" for the caller's own) and returns
// its reader, as Reader does.
func (m *Machine) Open(netns string, opts ReadOptions) (*Kernel, error) {
	ns, err := OpenNamespace(netns)
	if err != nil {
		return nil, err
	}
	return m.Reader(ns, opts)
}

// Reader returns a reader of the namespace ns, which it takes over (the
// Kernel's Close closes it, as does a failure here): it enters the
// namespace once to open the sock_diag socket there and checks that the
// kernel answers TCP dumps, so that a lack of privilege or a kernel
// without inet_diag is reported before the first poll.
func (m *Machine) Reader(ns *Namespace, opts ReadOptions) (*Kernel, error) {
	if opts.States == 0 {
		opts.States = AllStatesMask
	}
	k := &Kernel{m: m, opts: opts, ns: ns}
	k.js.noHistory = opts.OneRead
	err := ns.Do(func() error {
		d, err := NewDumper()
		if err != nil {
			return err
		}
		k.dumper = d
		return nil
	})
	if err != nil {
		ns.Close()
		return nil, err
	}
	// A LISTEN-only dump costs next to nothing and proves the kernel answers.
	if _, err := k.dumper.Dump(MaskOf(Listen), 0, 16); err != nil {
		k.Close()
		return nil, err
	}
	return k, nil
}

// scanFor returns the round whose scan k's Read uses, starting a new one
// (its scan running in the background) when k already read in the current
// round or its scan is too old; started reports a new round.
func (m *Machine) scanFor(k *Kernel) (r *scanRound, started bool) {
	share := m.ShareScan
	if share <= 0 {
		share = time.Second
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.round; r != nil && k.round != r.id && time.Since(r.start) < share {
		k.round = r.id
		return r, false
	}
	m.rounds++
	r = &scanRound{id: m.rounds, start: time.Now(), done: make(chan struct{})}
	m.round, k.round = r, r.id
	go func() {
		m.attrMu.Lock()
		res, err := m.attr.Scan()
		m.attrMu.Unlock()
		r.took, r.err = res.Took, err
		close(r.done)
	}()
	return r, true
}

// scanOnly limits the /proc scans to the processes of the network
// namespace id, for a Machine that reads that one namespace: on a host of
// 90k fds the first poll of an empty namespace read them all (193 ms).
// Processes of other namespaces are read only when a socket is held by
// none of the namespace's processes, and then those found holding one
// stay scanned. What that can miss: a socket of the namespace held both
// by one of its processes and by a process outside it (a socket made with
// setns, then passed over a unix socket or inherited) lists only the
// holder inside until the outside one is the sole holder.
func (m *Machine) scanOnly(id NamespaceID) {
	if m.attr == nil || id == (NamespaceID{}) {
		return
	}
	m.attrMu.Lock()
	m.attr.onlyNS = &id
	m.attrMu.Unlock()
}
