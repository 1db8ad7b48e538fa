// Package ebpf loads tcptop's eBPF programs and reads what they aggregate:
// connections opened and closed per peer and per process (the process that
// called connect(), kept with the socket so that softirq transitions are
// attributed by socket, not by whichever task was interrupted), lifetimes,
// connect failures by cause, retransmits, resets and accept-queue
// overflows per listener. Counting happens in per-CPU kernel maps keyed by
// network namespace, peer and process: nothing is sent per connection, and
// user space reads the maps once per poll. One program set serves every
// namespace (each key carries its namespace's inode).
//
// It lives under source/ because it is I/O (bpf(2), /sys/kernel/btf), and
// apart from it so that the cilium/ebpf dependency and the programs load
// only where asked: source defines the Tracer interface and the plain
// types (source.EBPF), this package implements it.
//
// The programs are C (bpf/tcptop.bpf.c) compiled by bpf2go; the generated
// Go files and objects are committed, so building tcptop needs no clang.
// scripts/ebpf-generate regenerates them.
package ebpf

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/tcptop/tcptop/source"
)

// DefaultBTFPath is where the running kernel describes its types.
const DefaultBTFPath = "/sys/kernel/btf/vmlinux"

// Options configure Load.
type Options struct {
	// BTFPath is the kernel's BTF (DefaultBTFPath when empty): the
	// programs' CO-RE relocations are resolved against it.
	BTFPath string
	// EvictAfter is how long a key may stay unchanged before Read removes
	// it from the kernel maps, keeping them from filling with peers and
	// processes long gone (2 minutes when 0).
	EvictAfter time.Duration
	// ShareRead is how old a read of the maps may be for another
	// namespace's Read to reuse it (200 ms when 0): N namespaces polled
	// together cost one read.
	ShareRead time.Duration
}

// Capabilities, numbered as in linux/capability.h.
const (
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

// Check reports why the programs cannot load here, or nil: the kernel's
// BTF must be readable and the process must hold CAP_BPF and CAP_PERFMON,
// or CAP_SYS_ADMIN. The error is one line for people.
func Check(opts Options) error {
	path := opts.BTFPath
	if path == "" {
		path = DefaultBTFPath
	}
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("no kernel BTF at %s (a kernel built without CONFIG_DEBUG_INFO_BTF)", path)
		}
		return fmt.Errorf("kernel BTF: %v", err)
	}
	eff, err := effectiveCaps()
	if err != nil {
		return fmt.Errorf("read capabilities: %v", err)
	}
	has := func(c uint) bool { return eff&(1<<c) != 0 }
	if !(has(capBPF) && has(capPerfmon)) && !has(capSysAdmin) {
		return fmt.Errorf("needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN (running as uid %d without them)", os.Geteuid())
	}
	return nil
}

func effectiveCaps() (uint64, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, err
	}
	return uint64(data[0].Effective) | uint64(data[1].Effective)<<32, nil
}

// optional programs need what not every kernel has (fentry needs
// CONFIG_FUNCTION_TRACER; kfree_skb's receiving socket is Linux 6.12+):
// loading goes on without them, and Tracer.Skipped names them.
var optional = map[string]string{
	"conn_request": "SYNs dropped by a full accept queue",
	"loss_probe":   "tail-loss probes",
	"kfree_skb":    "handshake ACKs dropped by a full accept queue",
}

// Tracer holds the loaded programs and their maps. It implements
// source.Tracer; Read is safe from any goroutine.
type Tracer struct {
	opts  Options
	coll  *ebpf.Collection
	links []link.Link
	since time.Time
	ncpu  int
	// Skipped names optional programs this kernel has no target for.
	Skipped []string

	mu       sync.Mutex
	last     *snapshot // the last read of the maps
	activity map[tcptopPeerKey]seen
	procAct  map[tcptopProcKey]seen
	pk       []tcptopPeerKey
	pv       []tcptopPeerVal
	ck       []tcptopProcKey
	cv       []tcptopProcVal
}

// seen is when a key last changed, by the sum of its counters.
type seen struct {
	sum  uint64
	when time.Time
}

// snapshot is one read of the maps, every namespace.
type snapshot struct {
	at    time.Time
	now   uint64
	peers map[uint64][]source.EBPFPeer
	procs map[uint64][]source.EBPFProc
	lost  source.EBPFLost
	took  time.Duration
}

// Load checks, loads and attaches the programs. The error is one line
// for people (see Check).
func Load(opts Options) (*Tracer, error) {
	if opts.BTFPath == "" {
		opts.BTFPath = DefaultBTFPath
	}
	if opts.EvictAfter <= 0 {
		opts.EvictAfter = 2 * time.Minute
	}
	if opts.ShareRead <= 0 {
		opts.ShareRead = 200 * time.Millisecond
	}
	if err := Check(opts); err != nil {
		return nil, err
	}
	// One cache of the running kernel's BTF serves every program's attach
	// target (cilium/ebpf would otherwise parse vmlinux again per load),
	// and, at the default path, the CO-RE relocations too.
	cache := btf.NewCache()
	var (
		kernel *btf.Spec
		err    error
	)
	if opts.BTFPath == DefaultBTFPath {
		kernel, err = cache.Kernel()
	} else {
		kernel, err = btf.LoadSpec(opts.BTFPath)
	}
	if err != nil {
		return nil, fmt.Errorf("kernel BTF at %s: %v", opts.BTFPath, err)
	}
	// Before 5.11 the kernel charged BPF memory to RLIMIT_MEMLOCK. Raise
	// it as cilium/ebpf's rlimit.RemoveMemlock would, but without that
	// package: its init probes the kernel with a BPF map in every run of
	// tcptop, --ebpf or not (~0.2 ms of start-up, and a bpf() call that a
	// seccomp policy may log). Harmless on a newer kernel.
	_ = unix.Setrlimit(unix.RLIMIT_MEMLOCK, &unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY})
	spec, err := loadTcptop()
	if err != nil {
		return nil, err
	}
	t := &Tracer{opts: opts, activity: map[tcptopPeerKey]seen{}, procAct: map[tcptopProcKey]seen{}}
	coll, err := loadPrograms(spec, kernel, cache, &t.Skipped)
	if err != nil {
		return nil, err
	}
	t.coll = coll
	for name, p := range coll.Programs {
		l, err := link.AttachTracing(link.TracingOptions{Program: p})
		if err != nil {
			if _, ok := optional[name]; ok {
				t.Skipped = append(t.Skipped, name+" ("+optional[name]+")")
				continue
			}
			t.Close()
			return nil, fmt.Errorf("attach eBPF program %s: %s", name, firstLine(err))
		}
		t.links = append(t.links, l)
	}
	slices.Sort(t.Skipped)
	if t.ncpu, err = ebpf.PossibleCPU(); err != nil {
		t.Close()
		return nil, err
	}
	t.since = time.Now()
	return t, nil
}

// loadPrograms creates the maps once, then loads each program on its own
// against them: a program the kernel refuses costs only its own
// verification, not a reload of the others. An optional program refused
// is left out and named in skipped; any other refusal fails the load.
func loadPrograms(spec *ebpf.CollectionSpec, kernel *btf.Spec, cache *btf.Cache, skipped *[]string) (*ebpf.Collection, error) {
	mapsOnly := *spec
	mapsOnly.Programs = nil
	coll, err := ebpf.NewCollectionWithOptions(&mapsOnly, ebpf.CollectionOptions{Cache: cache})
	if err != nil {
		return nil, fmt.Errorf("load eBPF programs: %s", firstLine(err))
	}
	coll.Programs = map[string]*ebpf.Program{}
	for _, name := range slices.Sorted(maps.Keys(spec.Programs)) {
		one := &ebpf.CollectionSpec{
			Maps:      spec.Maps,
			Programs:  map[string]*ebpf.ProgramSpec{name: spec.Programs[name]},
			Types:     spec.Types,
			ByteOrder: spec.ByteOrder,
		}
		c, err := ebpf.NewCollectionWithOptions(one, ebpf.CollectionOptions{
			Programs:        ebpf.ProgramOptions{KernelTypes: kernel},
			MapReplacements: coll.Maps,
			Cache:           cache,
		})
		if err != nil {
			if _, ok := optional[name]; ok {
				*skipped = append(*skipped, name+" ("+optional[name]+")")
				continue
			}
			coll.Close()
			return nil, fmt.Errorf("load eBPF programs: %s", firstLine(err))
		}
		// The program leaves its one-program collection, which then
		// closes only its copies of the shared maps.
		coll.Programs[name] = c.DetachProgram(name)
		c.Close()
	}
	return coll, nil
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// Close detaches the programs and frees the maps.
func (t *Tracer) Close() error {
	var errs []error
	for _, l := range t.links {
		errs = append(errs, l.Close())
	}
	t.links = nil
	if t.coll != nil {
		t.coll.Close()
		t.coll = nil
	}
	return errors.Join(errs...)
}

// Since is when the programs loaded.
func (t *Tracer) Since() time.Time { return t.since }

// Read returns the aggregates of the namespace whose nsfs inode is netns
// (source.NamespaceID.Inode). A failed read of the maps comes back as
// Loaded false with the error as Reason.
func (t *Tracer) Read(netns uint64) *source.EBPF {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil || time.Since(t.last.at) >= t.opts.ShareRead {
		s, err := t.readAll()
		if err != nil {
			return &source.EBPF{Reason: "read eBPF maps: " + firstLine(err)}
		}
		t.last = s
	}
	s := t.last
	return &source.EBPF{
		Loaded: true,
		Since:  t.since,
		Now:    s.now,
		Peers:  s.peers[netns],
		Procs:  s.procs[netns],
		Lost:   s.lost,
		Took:   s.took,
	}
}

// readAll reads every map once, and removes keys idle for EvictAfter.
func (t *Tracer) readAll() (*snapshot, error) {
	t0 := time.Now()
	s := &snapshot{at: t0, now: monotonicNS(), peers: map[uint64][]source.EBPFPeer{}, procs: map[uint64][]source.EBPFProc{}}
	var evictP []tcptopPeerKey
	err := batchRead(t.coll.Maps["peers"], t.ncpu, &t.pk, &t.pv, func(k *tcptopPeerKey, vals []tcptopPeerVal) {
		p := decodePeer(k, vals)
		if t.idle(t.activity, *k, sumPeer(&p), t0) {
			evictP = append(evictP, *k)
		}
		s.peers[uint64(k.Netns)] = append(s.peers[uint64(k.Netns)], p)
	})
	if err != nil {
		return nil, err
	}
	var evictC []tcptopProcKey
	err = batchRead(t.coll.Maps["procs"], t.ncpu, &t.ck, &t.cv, func(k *tcptopProcKey, vals []tcptopProcVal) {
		p := decodeProc(k, vals)
		if t.idle(t.procAct, *k, p.Opens+p.Closes+p.Failed+p.NoPort, t0) {
			evictC = append(evictC, *k)
		}
		s.procs[uint64(k.Peer.Netns)] = append(s.procs[uint64(k.Peer.Netns)], p)
	})
	if err != nil {
		return nil, err
	}
	var stats []uint64
	for i := uint32(0); i < 4; i++ {
		if err := t.coll.Maps["stats"].Lookup(i, &stats); err != nil {
			return nil, err
		}
		var n uint64
		for _, v := range stats {
			n += v
		}
		switch i {
		case 0:
			s.lost.PeersFull = n
		case 1:
			s.lost.ProcsFull = n
		case 2:
			s.lost.Storage = n
		case 3:
			s.lost.ResetsNoSocket = n
		}
	}
	// Idle keys go, so that the maps hold what is current; a key that
	// comes back starts again with a new Born.
	for _, k := range evictP {
		_ = t.coll.Maps["peers"].Delete(&k)
		delete(t.activity, k)
	}
	for _, k := range evictC {
		_ = t.coll.Maps["procs"].Delete(&k)
		delete(t.procAct, k)
	}
	s.took = time.Since(t0)
	return s, nil
}

// idle records a key's activity and reports whether it has not changed
// for EvictAfter.
func (t *Tracer) idle(m any, k any, sum uint64, now time.Time) bool {
	switch m := m.(type) {
	case map[tcptopPeerKey]seen:
		return idleIn(m, k.(tcptopPeerKey), sum, now, t.opts.EvictAfter)
	case map[tcptopProcKey]seen:
		return idleIn(m, k.(tcptopProcKey), sum, now, t.opts.EvictAfter)
	}
	return false
}

func idleIn[K comparable](m map[K]seen, k K, sum uint64, now time.Time, after time.Duration) bool {
	s, ok := m[k]
	if !ok || s.sum != sum {
		m[k] = seen{sum, now}
		return false
	}
	return now.Sub(s.when) >= after
}

// batchRead reads a per-CPU hash map in batches, calling fn with each key
// and its per-CPU values. keys and vals are reused buffers.
func batchRead[K, V any](m *ebpf.Map, ncpu int, keys *[]K, vals *[]V, fn func(*K, []V)) error {
	const batch = 256
	if len(*keys) < batch {
		*keys = make([]K, batch)
		*vals = make([]V, batch*ncpu)
	}
	var cursor ebpf.MapBatchCursor
	for {
		n, err := m.BatchLookup(&cursor, *keys, *vals, nil)
		for i := 0; i < n; i++ {
			fn(&(*keys)[i], (*vals)[i*ncpu:(i+1)*ncpu])
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func addr(family uint8, b *[16]uint8) netip.Addr {
	if family == unix.AF_INET {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16(*b)
}

func decodePeer(k *tcptopPeerKey, vals []tcptopPeerVal) source.EBPFPeer {
	p := source.EBPFPeer{Dir: source.EBPFDir(k.Dir)}
	if p.Dir != source.EBPFNamespace {
		p.Local = netip.AddrPortFrom(addr(k.Family, &k.Laddr), k.Lport)
		if p.Dir != source.EBPFListen {
			p.Remote = netip.AddrPortFrom(addr(k.Family, &k.Raddr), k.Rport)
		}
	}
	for i := range vals {
		v := &vals[i]
		p.Born = max(p.Born, v.Born)
		p.Opens += v.Opens
		p.Closes += v.Closes
		p.Refused += v.Refused
		p.TimedOut += v.Timedout
		p.Abandoned += v.Abandoned
		p.Unreachable += v.Unreachable
		p.NoPort += v.Noport
		p.Retrans += v.Retrans
		p.TLP += v.Tlp
		p.ResetsSent += v.RstSent
		p.ResetsRecv += v.RstRecv
		p.Overflows += v.Overflows
		for b := range v.Life {
			p.Life[b] += v.Life[b]
		}
	}
	return p
}

func sumPeer(p *source.EBPFPeer) uint64 {
	c := &p.EBPFCounts
	return c.Opens + c.Closes + c.Refused + c.TimedOut + c.Abandoned + c.Unreachable + c.NoPort +
		c.Retrans + c.TLP + c.ResetsSent + c.ResetsRecv + c.Overflows
}

// clockTicks converts ns after boot to /proc/PID/stat's clock ticks
// (USER_HZ is 100 wherever Linux exposes it).
func clockTicks(ns uint64) uint64 { return ns / (1e9 / 100) }

func decodeProc(k *tcptopProcKey, vals []tcptopProcVal) source.EBPFProc {
	comm := make([]byte, 0, len(k.Comm))
	for _, c := range k.Comm {
		if c == 0 {
			break
		}
		comm = append(comm, byte(c))
	}
	p := source.EBPFProc{
		PID:    int32(k.Tgid),
		Start:  clockTicks(k.Pstart),
		Comm:   string(comm),
		Local:  addr(k.Peer.Family, &k.Peer.Laddr),
		Remote: netip.AddrPortFrom(addr(k.Peer.Family, &k.Peer.Raddr), k.Peer.Rport),
	}
	var life uint64
	for i := range vals {
		v := &vals[i]
		p.Born = max(p.Born, v.Born)
		p.Opens += v.Opens
		p.Closes += v.Closes
		p.Failed += v.Failed
		p.NoPort += v.Noport
		life += v.LifeUs
	}
	p.LifeSum = time.Duration(life) * time.Microsecond
	return p
}

// monotonicNS is the kernel's CLOCK_MONOTONIC, bpf_ktime_get_ns's clock.
func monotonicNS() uint64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}
