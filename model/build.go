package model

import (
	"cmp"
	"encoding/binary"
	"net/netip"
	"runtime"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/tcptop/tcptop/source"
)

// MaxDestinations bounds Ephemeral.Destinations.
const MaxDestinations = 25

// Options shapes the lists of a Snapshot; the totals ignore them.
type Options struct {
	// Filter selects the sockets that make up Peers and Processes.
	Filter Filter
	// Sort orders Peers and Processes (and LocalPorts), largest first
	// unless Sort.Reverse.
	Sort SortKey
}

// UnknownName names the process bucket of sockets without a known owner.
const UnknownName = "unknown"

// Build computes a Snapshot from a Sample. prev (may be nil) is the
// previous snapshot, for rates. Build does not modify the sample.
func Build(s *source.Sample, prev *Snapshot, opt Options) *Snapshot {
	return build(s, prev, opt, prev, 0)
}

// build is Build reusing the carried sockets' tallies of from (see
// carriedTallies) when they still hold. estab is how many sockets at the
// start of s the caller found ESTABLISHED, of the full dump s carries
// (the Analyzer checks a partial sample's carried sockets once per full
// dump: build need not walk them again); 0 when not known.
func build(s *source.Sample, prev *Snapshot, opt Options, from *Snapshot, estab int) *Snapshot {
	t0 := time.Now()
	snap := &Snapshot{
		Schema:              SchemaVersion,
		Thresholds:          DefaultThresholds(),
		Time:                s.Time,
		Host:                s.Host,
		Netns:               s.Netns,
		Counters:            s.Counters,
		Sysctl:              s.Sysctl.Raw,
		Sockstat:            s.Sockstat,
		Attributed:          s.Attributed,
		UnreadableProcesses: s.Unreadable,
		UnreadablePIDs:      s.UnreadablePIDs,
		Privileged:          s.Privileged,
		Filter:              opt.Filter.String(),
		Sort:                opt.Sort.String(),
		Warnings:            source.WarningStrings(s.Warnings),
		Sample:              s,
		Listeners:           []Listener{},
		Peers:               []Peer{},
		Processes:           []ProcessRow{},
		Findings:            []Finding{},
	}
	if snap.Counters == nil {
		snap.Counters = map[string]int64{}
	}
	if snap.Sysctl == nil {
		snap.Sysctl = map[string]string{}
	}
	// The carried sockets, when the previous snapshot's tallies of them
	// hold (they were checked then), are ESTABLISHED: not walked again.
	known := knownEstablished(s, from, estab)
	snap.States[source.Established] += known
	// One walk of the sockets counts the states and finds the
	// listeners and SYN_RECV sockets (reading every socket's state is
	// most of such a walk's cost at 100k).
	var listens, syns []int32
	for i := known; i < s.NumSockets(); i++ {
		st := s.Socket(i).State
		snap.States[st]++
		switch st {
		case source.Listen:
			listens = append(listens, int32(i))
		case source.SynRecv:
			syns = append(syns, int32(i))
		}
	}
	snap.Total = s.NumSockets()

	lt := buildListeners(snap, s, listens, syns)
	snap.lt, snap.opt = lt, opt
	// The previous snapshot's peer count, under the same filter, sizes
	// this one's (another filter says nothing about it).
	peerHint := 0
	if prev != nil && prev.Filter == snap.Filter {
		peerHint = min(len(prev.Peers)+len(prev.Peers)/8+16, s.NumSockets())
	}
	ct, n := carriedFor(s, from, lt, opt, known, estab)
	snap.carried = ct
	var base *peerBase
	if from != nil {
		base = from.peerBase
	}
	// The ports, peers and processes each walk the sockets and write
	// their own Snapshot fields, reading the sample, the listeners and
	// ct alone: on a big table they share the cores (the peers, the
	// larger part, split in shards when there are no carried tallies:
	// else their rows come mostly from a peerBase); a small one, as a
	// partial poll's fresh sockets, stays on this goroutine.
	eph := func() { buildEphemeral(snap, s, lt, ct, n) }
	procs := func() { buildProcesses(snap, s, opt, ct, n) }
	switch par := parallelBuild(s.NumSockets() - n); {
	case par && ct == nil:
		// The peers in shards, one per core (buildPeersSharded), the
		// ports and processes after them, one in each.
		buildPeersSharded(snap, s, lt, opt, peerHint, n, [peerShards]func(){procs, eph})
	case par:
		var wg sync.WaitGroup
		wg.Go(func() { eph(); procs() })
		buildPeers(snap, s, lt, opt, peerHint, ct, n, base)
		wg.Wait()
	default:
		eph()
		buildPeers(snap, s, lt, opt, peerHint, ct, n, base)
		procs()
	}
	buildRates(snap, prev)
	buildListenerDrops(snap, prev)
	buildEBPF(snap, s, prev)

	snap.PollMS = PollCost{
		Dump:      ms(s.Took.Dump),
		Attribute: ms(s.Took.Attribute),
		Proc:      ms(s.Took.Proc),
		Build:     ms(time.Since(t0)),
	}
	snap.PollMS.Total = snap.PollMS.Dump + snap.PollMS.Attribute + snap.PollMS.Proc + snap.PollMS.Build
	return snap
}

// parallelMin is how many sockets a build walks before its parts run
// on several goroutines: below it, the goroutines cost more than they
// save (a partial poll's fresh sockets are a few thousand). A variable
// so the tests can build one sample both ways.
var parallelMin = 20000

// parallelBuild reports whether a build walking n sockets spreads its
// work over goroutines: n is large and there is a second core.
func parallelBuild(n int) bool {
	return n >= parallelMin && runtime.GOMAXPROCS(0) > 1
}

func ms(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}

// listenTable finds the listener a local address belongs to. Most
// sockets' local port is no listener's (the ephemeral side of outgoing
// connections): a bitmap of the listening ports answers those with one
// load, and the others search a short list sorted by port, no hashing.
type listenTable struct {
	has   *[65536 / 64]uint64 // the ports with a listener; nil: none
	ports []uint16            // those ports, ascending
	at    [][]listenEntry     // at[i]: ports[i]'s listeners, in Snapshot.Listeners order
}

type listenEntry struct {
	addr netip.Addr // unmapped
	idx  int        // into Snapshot.Listeners
}

// newListenTable indexes listeners at their local endpoints, aps[i]
// being Snapshot.Listeners[i]'s. has, when not nil, is a bitmap of their
// ports to use (another table's of the same listeners).
func newListenTable(aps []netip.AddrPort, has *[65536 / 64]uint64) listenTable {
	t := listenTable{has: has}
	if len(aps) == 0 {
		return listenTable{}
	}
	if t.has == nil {
		t.has = new([65536 / 64]uint64)
	}
	order := make([]int, len(aps))
	for i := range order {
		order[i] = i
	}
	// By port, then listener order (stable), so each port's entries keep
	// the order lookup prefers.
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(aps[a].Port(), aps[b].Port()) })
	for _, i := range order {
		port := aps[i].Port()
		if n := len(t.ports); n == 0 || t.ports[n-1] != port {
			t.ports = append(t.ports, port)
			t.at = append(t.at, nil)
			t.has[port/64] |= 1 << (port % 64)
		}
		t.at[len(t.at)-1] = append(t.at[len(t.at)-1], listenEntry{aps[i].Addr().Unmap(), i})
	}
	return t
}

// listening reports whether a listener is bound to port (on any address).
func (t listenTable) listening(port uint16) bool {
	return t.has != nil && t.has[port/64]&(1<<(port%64)) != 0
}

// entries returns the listeners on port.
func (t listenTable) entries(port uint16) []listenEntry {
	if !t.listening(port) {
		return nil
	}
	i, _ := slices.BinarySearch(t.ports, port)
	return t.at[i]
}

// lookup returns the listener index for a local endpoint: an exact address
// match first, then a wildcard listener on the port.
func (t listenTable) lookup(local netip.AddrPort) (int, bool) {
	es := t.entries(local.Port())
	if len(es) == 0 {
		return 0, false
	}
	a := local.Addr().Unmap()
	wild := -1
	for _, e := range es {
		if e.addr == a {
			return e.idx, true
		}
		if e.addr.IsUnspecified() && wild < 0 {
			// A dual-stack [::] listener also serves IPv4.
			if e.addr.Is6() || a.Is4() {
				wild = e.idx
			}
		}
	}
	return wild, wild >= 0
}

// knownEstablished is how many sockets at the start of s are known to be
// ESTABLISHED: a partial sample's carried ones, when from's carried
// tallies are of the same full dump (built from, and checked against,
// the same sockets; estab: as for build).
func knownEstablished(s *source.Sample, from *Snapshot, estab int) int {
	p := s.Partial
	if p == nil || from == nil || from.carried == nil || p.Carried > s.NumSockets() {
		return 0
	}
	if t := from.carried; t.full.Equal(p.FullTime) && t.n == p.Carried && t.carriedBy(s, from, estab) {
		return t.n
	}
	return 0
}

// buildListeners lists the listeners, s.Sockets[i] for i in listens,
// with their SYN_RECV sockets from syns.
func buildListeners(snap *Snapshot, s *source.Sample, listens, syns []int32) listenTable {
	type lis struct {
		l  Listener
		ap netip.AddrPort
	}
	ls := make([]lis, 0, len(listens))
	somax := s.Sysctl.Somaxconn
	for _, i := range listens {
		sk := s.Socket(int(i))
		l := Listener{
			Addr:              sk.Local,
			Local:             sk.Local.String(),
			Queue:             sk.RecvQ,
			Backlog:           sk.SendQ,
			Full:              sk.RecvQ > sk.SendQ,
			CappedBySomaxconn: somax > 0 && int(sk.SendQ) == somax,
			InEphemeralRange:  inEphemeral(&s.Sysctl, int(sk.Local.Port())),
			Processes:         procRefs(sk.Owners, s.Procs),
			cookie:            sk.Cookie,
		}
		if sk.DropsKnown {
			d := uint64(sk.Drops)
			l.Drops = &d
		}
		// The kernel calls a queue full when it holds more than the
		// backlog (sk_acceptq_is_full): with listen(0) one waiting
		// connection fills it, so it is 100%, not 0%, and sorts first.
		l.Fill = float64(sk.RecvQ) / float64(max(sk.SendQ, 1))
		ls = append(ls, lis{l, sk.Local})
	}
	aps := make([]netip.AddrPort, len(ls))
	for i := range ls {
		aps[i] = ls[i].ap
	}
	lt := newListenTable(aps, nil)
	if len(ls) > 0 {
		for _, i := range syns {
			if idx, ok := lt.lookup(s.Socket(int(i)).Local); ok {
				ls[idx].l.SynRecv++
			}
		}
	}
	// Fullest first, then by SYN_RECV, then by address for a stable order.
	slices.SortStableFunc(ls, func(a, b lis) int {
		if c := cmp.Compare(b.l.Fill, a.l.Fill); c != 0 {
			return c
		}
		if c := cmp.Compare(b.l.SynRecv, a.l.SynRecv); c != 0 {
			return c
		}
		return cmp.Compare(a.l.Local, b.l.Local)
	})
	for i, x := range ls {
		snap.Listeners = append(snap.Listeners, x.l)
		aps[i] = x.ap
	}
	return newListenTable(aps, lt.has)
}

func inEphemeral(sc *source.Sysctls, port int) bool {
	if !sc.PortRangeParsed || port < sc.PortLow || port > sc.PortHigh {
		return false
	}
	return !source.IsReserved(sc.Reserved, port)
}

func procRefs(pids []int32, procs map[int32]*source.Process) []ProcRef {
	refs := make([]ProcRef, 0, len(pids))
	for _, pid := range pids {
		refs = append(refs, ProcRef{PID: pid, Name: procName(pid, procs)})
	}
	return refs
}

func procName(pid int32, procs map[int32]*source.Process) string {
	if p := procs[pid]; p != nil && p.Name != "" {
		return p.Name
	}
	return "?"
}

type destKey struct {
	local  netip.Addr
	remote netip.AddrPort
}

type destAcc struct {
	inUse, tw   int
	next, drain uint32
}

// buildEphemeral tallies the sockets' ports; when ct's ports serve, the
// carried sockets' (s.Sockets[:from], or those ct skips) from them.
func buildEphemeral(snap *Snapshot, s *source.Sample, lt listenTable, ct *carriedTallies, from int) {
	sc := &s.Sysctl
	cp := ct.portsFor(sc)
	e := &snap.Ephemeral
	e.Destinations = []Destination{}
	if !sc.PortRangeParsed {
		return
	}
	e.Low, e.High = sc.PortLow, sc.PortHigh
	e.Reserved = source.ReservedInRange(sc.Reserved, sc.PortLow, sc.PortHigh)
	e.Usable = max(0, sc.PortHigh-sc.PortLow+1-e.Reserved)

	// A port counts once however many sockets hold it (bitmap over 64k ports).
	var used [65536 / 64]uint64
	dests := map[destKey]*destAcc{}
	var carried map[destKey]*carriedDest
	start := 0
	if cp != nil {
		used, e.InUse, carried, start = cp.used, cp.inUse, cp.dests, from
	}
	for i := start; i < s.NumSockets(); i++ {
		sk := s.Socket(i)
		if cp != nil && ct.skips(s, sk) {
			continue
		}
		port := int(sk.Local.Port())
		if port < sc.PortLow || port > sc.PortHigh || source.IsReserved(sc.Reserved, port) {
			continue
		}
		if used[port/64]&(1<<(port%64)) == 0 {
			used[port/64] |= 1 << (port % 64)
			e.InUse++
		}
		if sk.State == source.Listen || sk.Remote.Port() == 0 {
			continue
		}
		if _, incoming := lt.lookup(sk.Local); incoming {
			continue
		}
		k := destKey{sk.Local.Addr().Unmap(), netip.AddrPortFrom(sk.Remote.Addr().Unmap(), sk.Remote.Port())}
		d := dests[k]
		if d == nil {
			d = &destAcc{}
			dests[k] = d
		}
		d.inUse++
		if sk.State == source.TimeWait {
			d.tw++
			if d.next == 0 || sk.Expires < d.next {
				d.next = sk.Expires
			}
			d.drain = max(d.drain, sk.Expires)
		}
	}
	if e.Usable > 0 {
		e.Fraction = float64(e.InUse) / float64(e.Usable)
	}
	list := make([]Destination, 0, len(dests)+len(carried))
	for k, d := range dests {
		dst := Destination{
			Key:        DestKey{k.local, k.remote},
			InUse:      d.inUse,
			TimeWait:   d.tw,
			NextFreeMS: d.next,
			DrainMS:    d.drain,
		}
		if c := carried[k]; c != nil {
			dst.InUse += c.n
			dst.LocalIP, dst.Remote = c.localIP, c.remote
		} else {
			dst.LocalIP, dst.Remote = k.local.String(), k.remote.String()
		}
		if e.Usable > 0 {
			dst.Fraction = float64(dst.InUse) / float64(e.Usable)
		}
		list = append(list, dst)
	}
	for k, c := range carried {
		if dests[k] != nil {
			continue
		}
		dst := Destination{Key: DestKey{k.local, k.remote}, LocalIP: c.localIP, Remote: c.remote, InUse: c.n}
		if e.Usable > 0 {
			dst.Fraction = float64(dst.InUse) / float64(e.Usable)
		}
		list = append(list, dst)
	}
	e.DestinationCount = len(list)
	slices.SortFunc(list, func(a, b Destination) int {
		if c := cmp.Compare(b.InUse, a.InUse); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Remote, b.Remote); c != 0 {
			return c
		}
		return cmp.Compare(a.LocalIP, b.LocalIP)
	})
	if len(list) > MaxDestinations {
		list = list[:MaxDestinations]
	}
	e.Destinations = list
}

type peerKey struct {
	remote   netip.AddrPort // unmapped; port 0 for incoming peers
	listener int            // index into Snapshot.Listeners; -1 for outgoing
}

// classify returns the peer key of a non-listening socket.
func classify(sk *source.Socket, lt listenTable) peerKey {
	remote := sk.Remote.Addr().Unmap()
	if idx, in := lt.lookup(sk.Local); in {
		return peerKey{netip.AddrPortFrom(remote, 0), idx}
	}
	return peerKey{netip.AddrPortFrom(remote, sk.Remote.Port()), -1}
}

func isPeerSocket(sk *source.Socket) bool {
	return sk.State != source.Listen && sk.Remote.Addr().IsValid()
}

type peerAcc struct {
	key   peerKey
	peer  Peer
	local netip.Addr // outgoing: the local IP, while all sockets agree
	mixed bool
	// indexed: the peer's processes are in buildPeers' procIdx (once
	// it has more than smallProcs; a shorter list is searched).
	indexed bool
	// carried, when not nil, is the carried tally the peer was made
	// from: its texts are made once per full dump.
	carried *peerTally
}

// peerProcKey finds a process in a peer's list: a peer of a pre-fork
// server has one entry per worker, and a search of the list per socket was
// quadratic.
type peerProcKey struct {
	peer int32
	pid  int32
}

// smallProcs is how many processes a peer's list may have before it is
// indexed in procIdx: most peers have one or two, and a search of those
// is cheaper than a map access per socket.
const smallProcs = 8

// findProc returns where pid is in a's processes (ai: a's index).
func findProc(a *peerAcc, ai int32, pid int32, procIdx map[peerProcKey]int) (int, bool) {
	if !a.indexed {
		for j := range a.peer.Processes {
			if a.peer.Processes[j].PID == pid {
				return j, true
			}
		}
		return 0, false
	}
	j, ok := procIdx[peerProcKey{ai, pid}]
	return j, ok
}

// slabProcs is the longest process list a peer's list grows to by
// moving within slab: longer ones grow by append.
const slabProcs = 64

// addProc appends pp to a's processes and returns its place; the first
// ones come from slab: a list of a pre-fork server's peer grows by one
// worker at a time, and its moves by append (to 2, 4, 8...) were an
// allocation each for every peer of the server. The arrays a list moves
// out of stay in the slab as long as it does (less than the list's
// final capacity again).
func addProc(a *peerAcc, ai int32, pp PeerProcess, procIdx map[peerProcKey]int, slab *procSlab) int {
	j := len(a.peer.Processes)
	switch {
	case j < cap(a.peer.Processes) || j >= slabProcs:
		a.peer.Processes = append(a.peer.Processes, pp)
	default:
		l := slab.take(max(2*j, 1))[:j+1]
		copy(l, a.peer.Processes)
		l[j] = pp
		a.peer.Processes = l
	}
	switch {
	case a.indexed:
		procIdx[peerProcKey{ai, pp.PID}] = j
	case j+1 > smallProcs:
		indexPeerProcs(a, ai, procIdx)
	}
	return j
}

// procSlab hands out the peers' process lists from a few large arrays
// instead of one allocation per peer (see addProc for how they grow).
type procSlab []PeerProcess

// take returns a list of n processes (cap n).
func (sl *procSlab) take(n int) []PeerProcess {
	if cap(*sl)-len(*sl) < n {
		// Each array twice the last, from 8 to 1024 entries: a build
		// with few peers allocates little.
		*sl = make([]PeerProcess, 0, max(n, min(2*cap(*sl), 1024), 8))
	}
	l := len(*sl)
	*sl = (*sl)[:l+n]
	return (*sl)[l : l+n : l+n]
}

// buildPeers lists the peers: s.Sockets[from:] and, when ct is not nil,
// the carried sockets s.Sockets[:from] from ct, whose rows come from a
// peerBase (base, when still valid, else a new one, kept in
// snap.peerBase). hint (the previous snapshot's count) sizes the
// accumulators once: growing a slice of these rows by doubling moved
// them several times over, a good part of Build's cost.
func buildPeers(snap *Snapshot, s *source.Sample, lt listenTable, opt Options, hint int, ct *carriedTallies, from int, base *peerBase) {
	if ct != nil {
		if remap, ok := base.validFor(ct, opt, s, snap, lt); ok {
			buildPeersOnBase(snap, s, lt, opt, base, remap, from)
			return
		}
		if base = newPeerBase(snap, s, lt, opt, ct); base != nil {
			buildPeersOnBase(snap, s, lt, opt, base, identity(len(snap.Listeners)), from)
			return
		}
	}
	pa := newPeerAccum(hint)
	if ct != nil {
		pa.addCarried(ct, s, lt)
	}
	pa.addSockets(s, lt, opt, from, ct, nil, shard{})
	ptrs := pa.finish(snap, opt)
	snap.Peers = make([]Peer, len(ptrs))
	for i, a := range ptrs {
		snap.Peers[i] = a.peer
	}
}

// shard is the part of the peers an accumulator tallies: those whose
// remote address's remoteShard(addr, n) is i; all when n < 2.
type shard struct{ i, n int }

// remoteShard spreads the remote addresses (unmapped) over n shards.
// The address alone, not the whole peer key, so that a socket of
// another shard is passed over before classify looks its local
// endpoint up: a remote's peers are few (one per listener, or per
// port it is reached at), and a single-remote peer is one key anyway.
func remoteShard(a netip.Addr, n int) int {
	b := a.As16()
	x := binary.LittleEndian.Uint64(b[8:])*0x9e3779b97f4a7c15 ^ binary.LittleEndian.Uint64(b[:8])
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	return int((x >> 1) % uint64(n))
}

// peerShards is how many shards a parallel build's peers are tallied
// in: the cores it is meant for are two.
const peerShards = 2

// buildPeersSharded lists the peers of s.Sockets[from:], tallied in
// peerShards shards at once: each walks every socket and keeps the
// peers of its shard's remote addresses, so no two tally one peer and
// nothing is merged but the sorted lists. comparePeers orders peers totally (their keys
// are unique), so the list is the one a single accumulator makes. Each
// shard runs then after[i] (other parts of the build, so as to keep one
// goroutine per core: more only shared them, preempting each other).
func buildPeersSharded(snap *Snapshot, s *source.Sample, lt listenTable, opt Options, hint, from int, after [peerShards]func()) {
	var sorted [peerShards][]*peerAcc
	var wg sync.WaitGroup
	for i := range peerShards {
		work := func() {
			pa := newPeerAccum(hint / peerShards)
			pa.addSockets(s, lt, opt, from, nil, nil, shard{i, peerShards})
			sorted[i] = pa.finish(snap, opt)
			after[i]()
		}
		if i < peerShards-1 {
			wg.Go(work)
		} else {
			work()
		}
	}
	wg.Wait()
	n := 0
	for _, l := range sorted {
		n += len(l)
	}
	snap.Peers = make([]Peer, 0, n)
	for {
		// The least of the lists' heads.
		best := -1
		for i, l := range sorted {
			if len(l) > 0 && (best < 0 || comparePeers(opt.Sort, &l[0].peer, &sorted[best][0].peer) < 0) {
				best = i
			}
		}
		if best < 0 {
			return
		}
		snap.Peers = append(snap.Peers, sorted[best][0].peer)
		sorted[best] = sorted[best][1:]
	}
}

// peerAccum tallies peers.
type peerAccum struct {
	index   map[peerKey]int32
	procIdx map[peerProcKey]int
	slab    procSlab
	accs    accStore
}

// accStore holds the peer accumulators in a first array of the hint's
// size, then arrays of accChunk: one that outgrows its array is not
// moved (a peerAcc is some 300 bytes, and a first build has no hint).
type accStore struct {
	chunks [][]peerAcc
	first  int // the first array's size
	n      int
}

// accChunk is the size of the arrays after the first.
const accChunk = 1024

func newAccStore(hint int) accStore {
	return accStore{first: max(hint, 16)}
}

// add appends a and returns its index.
func (st *accStore) add(a peerAcc) int32 {
	c, _ := st.place(int32(st.n))
	if c == len(st.chunks) {
		size := accChunk
		if c == 0 {
			size = st.first
		}
		st.chunks = append(st.chunks, make([]peerAcc, 0, size))
	}
	st.chunks[c] = append(st.chunks[c], a)
	st.n++
	return int32(st.n - 1)
}

// at returns the accumulator at index i.
func (st *accStore) at(i int32) *peerAcc {
	c, off := st.place(i)
	return &st.chunks[c][off]
}

// place is index i's array and offset in it.
func (st *accStore) place(i int32) (int, int) {
	if int(i) < st.first {
		return 0, int(i)
	}
	j := int(i) - st.first
	return 1 + j/accChunk, j % accChunk
}

func newPeerAccum(hint int) *peerAccum {
	return &peerAccum{
		index:   make(map[peerKey]int32, hint),
		procIdx: map[peerProcKey]int{},
		accs:    newAccStore(hint),
	}
}

// addCarried adds the carried sockets' tallies.
func (pa *peerAccum) addCarried(ct *carriedTallies, s *source.Sample, lt listenTable) {
	names := new(nameCache)
	ct.peerTallies(lt, func(k peerKey, pt *peerTally) {
		ai, ok := pa.index[k]
		if !ok {
			ai = pa.accs.add(peerAcc{key: k, local: pt.local, mixed: pt.mixed, carried: pt})
			pa.index[k] = ai
			a := pa.accs.at(ai)
			a.peer.States, a.peer.Total = pt.states, pt.total
			if len(pt.procs) > 0 {
				a.peer.Processes = pa.slab.take(len(pt.procs))
				for j := range pt.procs {
					a.peer.Processes[j] = pt.procs[j].peerProcess(s, names)
				}
				if len(pt.procs) > smallProcs {
					indexPeerProcs(a, ai, pa.procIdx)
				}
			}
			return
		}
		a := pa.accs.at(ai)
		if k.listener < 0 && !a.mixed && (pt.mixed || pt.local != a.local) {
			a.mixed = true
		}
		for st, n := range pt.states {
			a.peer.States[st] += n
		}
		a.peer.Total += pt.total
		for i := range pt.procs {
			t := &pt.procs[i]
			j, ok := findProc(a, ai, t.pid, pa.procIdx)
			if !ok {
				addProc(a, ai, t.peerProcess(s, names), pa.procIdx, &pa.slab)
				continue
			}
			pp := &a.peer.Processes[j]
			if t.anyInferred && pp.Group == 0 {
				pp.Group = groupSize(s, t.pid)
			}
			pp.Sockets += t.sockets
			if !t.allInferred {
				pp.Inferred = false
			}
		}
	})
}

// addSockets adds s.Sockets[from:] but those ct skips, of the peers of
// shard sh. seed, when not nil, starts the accumulator of a peer not
// seen yet (false: from nothing).
func (pa *peerAccum) addSockets(s *source.Sample, lt listenTable, opt Options, from int, ct *carriedTallies, seed func(k peerKey, a *peerAcc) bool, sh shard) {
	filter := !opt.Filter.Empty()
	for i := from; i < s.NumSockets(); i++ {
		sk := s.Socket(i)
		if !isPeerSocket(sk) || ct.skips(s, sk) {
			continue
		}
		if sh.n > 1 && remoteShard(sk.Remote.Addr().Unmap(), sh.n) != sh.i || filter && !opt.Filter.Match(sk, s.Procs) {
			continue
		}
		k := classify(sk, lt)
		ai, ok := pa.index[k]
		if !ok {
			ai = pa.accs.add(peerAcc{key: k})
			pa.index[k] = ai
			if a := pa.accs.at(ai); seed == nil || !seed(k, a) {
				a.local = sk.Local.Addr().Unmap()
			} else if len(a.peer.Processes) > smallProcs {
				indexPeerProcs(a, ai, pa.procIdx)
			}
		}
		a := pa.accs.at(ai)
		if k.listener < 0 && !a.mixed && sk.Local.Addr().Unmap() != a.local {
			a.mixed = true
		}
		a.peer.States[sk.State]++
		a.peer.Total++
		if !s.Attributed {
			continue
		}
		for _, pid := range ownersOf(sk, true) {
			j, ok := findProc(a, ai, pid, pa.procIdx)
			if !ok {
				pp := PeerProcess{PID: pid, Name: UnknownName, Inferred: pid != 0}
				if pid != 0 {
					pp.Name = procName(pid, s.Procs)
				}
				j = addProc(a, ai, pp, pa.procIdx, &pa.slab)
			}
			pp := &a.peer.Processes[j]
			if sk.OwnerInferred && pp.Group == 0 {
				pp.Group = groupSize(s, pid)
			}
			pp.Sockets++
			if !sk.OwnerInferred {
				pp.Inferred = false
			}
		}
	}
}

// finish completes the rows (texts, processes in order) and returns them
// sorted.
func (pa *peerAccum) finish(snap *Snapshot, opt Options) []*peerAcc {
	ptrs := make([]*peerAcc, pa.accs.n)
	for i := range int32(pa.accs.n) {
		a := pa.accs.at(i)
		ptrs[i] = a
		a.peer.key = a.key
		a.peer.Key.Remote = a.key.remote
		a.peer.Loopback = a.key.remote.Addr().IsLoopback()
		if a.key.listener >= 0 {
			a.peer.Key.Listener = snap.Listeners[a.key.listener].Addr
			a.peer.Direction, a.peer.Local = "in", snap.Listeners[a.key.listener].Local
			if a.carried != nil {
				a.peer.Remote = a.carried.remote
			} else {
				a.peer.Remote = a.key.remote.Addr().String()
			}
		} else {
			a.peer.Direction = "out"
			if a.carried != nil {
				a.peer.Remote, a.peer.Local = a.carried.remote, a.carried.localText
			} else {
				a.peer.Remote, a.peer.Local = a.key.remote.String(), a.local.String()
			}
			if a.mixed {
				a.peer.Local = "*"
			}
		}
		if a.peer.Processes == nil {
			a.peer.Processes = []PeerProcess{}
		}
		slices.SortFunc(a.peer.Processes, func(x, y PeerProcess) int {
			if c := cmp.Compare(y.Sockets, x.Sockets); c != 0 {
				return c
			}
			return cmp.Compare(x.PID, y.PID)
		})
	}
	// Keys are unique, so the full tie-break makes an unstable sort
	// deterministic; sorting pointers moves 8 bytes instead of a Peer.
	slices.SortFunc(ptrs, func(x, y *peerAcc) int { return comparePeers(opt.Sort, &x.peer, &y.peer) })
	return ptrs
}

// comparePeers is the order of the peer list: by the sort key, then
// total (largest first), direction, remote and local (a peer's key, so
// the order is total).
func comparePeers(key SortKey, x, y *Peer) int {
	if c := key.compare(&x.States, x.Total, &y.States, y.Total); c != 0 {
		return c
	}
	if c := cmp.Compare(y.Total, x.Total); c != 0 {
		return c
	}
	if c := cmp.Compare(x.Direction, y.Direction); c != 0 {
		return c
	}
	if c := x.key.remote.Compare(y.key.remote); c != 0 {
		return c
	}
	return cmp.Compare(x.Local, y.Local)
}

// peerBase is the peer rows of a partial sample's carried sockets alone,
// complete and sorted, for one carriedTallies, sort key, resolution of
// their local endpoints to listeners and naming of their processes: the
// partial polls of one full dump take the rows no fresh socket adds to
// as they are, so that a poll's peer work follows what changed, not the
// 90k sockets carried (and their thousands of peers) again. Read-only
// once made.
type peerBase struct {
	ct    *carriedTallies
	sort  SortKey
	rows  []Peer
	meta  []peerMeta        // aligned with rows
	index map[peerKey]int32 // into rows, by key as made (listener indices of then)
	// listeners are Snapshot.Listeners' addresses when made; locals
	// the carried sockets' local endpoints that resolved to one, with
	// its index then.
	listeners []netip.AddrPort
	locals    map[netip.AddrPort]int
	// names is every listed process's name and group when made.
	names map[int32]procNaming
}

// peerMeta is what a row's accumulator held beyond the row.
type peerMeta struct {
	local   netip.Addr
	mixed   bool
	carried *peerTally
}

type procNaming struct {
	name  string
	group int
}

// newPeerBase makes the carried sockets' rows (nil with a filter: the
// lists then tally every socket).
func newPeerBase(snap *Snapshot, s *source.Sample, lt listenTable, opt Options, ct *carriedTallies) *peerBase {
	if !opt.Filter.Empty() {
		return nil
	}
	pa := newPeerAccum(len(ct.out) + len(ct.onListenPort))
	pa.addCarried(ct, s, lt)
	ptrs := pa.finish(snap, opt)
	b := &peerBase{
		ct: ct, sort: opt.Sort,
		rows: make([]Peer, len(ptrs)),
		meta: make([]peerMeta, len(ptrs)),
		// The accumulators' index, by then of no other use, becomes
		// the rows' (its keys are theirs): no second map of every peer.
		index:     pa.index,
		listeners: make([]netip.AddrPort, len(snap.Listeners)),
		locals:    map[netip.AddrPort]int{},
		names:     map[int32]procNaming{},
	}
	// named: pids already in b.names, by pid modulo its size (the rows'
	// processes are a few, each in thousands of rows).
	var named [8]int32
	for i, a := range ptrs {
		b.rows[i] = a.peer
		b.meta[i] = peerMeta{local: a.local, mixed: a.mixed, carried: a.carried}
		b.index[a.key] = int32(i)
		for _, pp := range a.peer.Processes {
			slot := &named[uint32(pp.PID)%uint32(len(named))]
			if *slot == pp.PID && pp.PID != 0 {
				continue
			}
			if _, ok := b.names[pp.PID]; !ok {
				b.names[pp.PID] = namingOf(s, pp.PID)
			}
			*slot = pp.PID
		}
	}
	for i := range snap.Listeners {
		b.listeners[i] = snap.Listeners[i].Addr
	}
	for local, resolved := range ct.resolved {
		if resolved {
			b.locals[local], _ = lt.lookup(local)
		}
	}
	return b
}

func namingOf(s *source.Sample, pid int32) procNaming {
	n := procNaming{name: UnknownName, group: groupSize(s, pid)}
	if pid != 0 {
		n.name = procName(pid, s.Procs)
	}
	return n
}

// validFor reports whether b's rows stand for ct's sockets in this
// snapshot: the same tallies, sort key and process names, and each
// carried local endpoint resolving to a listener at the same address
// (its index may have moved: remap[then] is its index now).
func (b *peerBase) validFor(ct *carriedTallies, opt Options, s *source.Sample, snap *Snapshot, lt listenTable) ([]int, bool) {
	if b == nil || b.ct != ct || b.sort != opt.Sort || !opt.Filter.Empty() {
		return nil, false
	}
	for pid, n := range b.names {
		if namingOf(s, pid) != n {
			return nil, false
		}
	}
	remap := make([]int, len(b.listeners))
	for i := range remap {
		remap[i] = -1
	}
	for local, then := range b.locals {
		now, ok := lt.lookup(local)
		if !ok || snap.Listeners[now].Addr != b.listeners[then] || remap[then] >= 0 && remap[then] != now {
			return nil, false
		}
		remap[then] = now
	}
	return remap, true
}

// identity is the remap of listener indices that did not move.
func identity(n int) []int {
	r := make([]int, n)
	for i := range r {
		r[i] = i
	}
	return r
}

// buildPeersOnBase lists the peers from b's rows and s.Sockets[from:]:
// the rows fresh sockets add to, and the fresh sockets' new peers, are
// tallied and sorted, then merged with the untouched rows, already in
// order: each fresh row's place is found by a binary search and the
// untouched rows between are copied in runs, not compared one by one
// (the carried sockets' peers are thousands, the fresh rows a few).
func buildPeersOnBase(snap *Snapshot, s *source.Sample, lt listenTable, opt Options, b *peerBase, remap []int, from int) {
	snap.peerBase = b
	back := make([]int, len(snap.Listeners)) // index now -> then
	for i := range back {
		back[i] = -1
	}
	moved := false
	for then, now := range remap {
		if now >= 0 {
			back[now] = then
		}
		moved = moved || now != then
	}
	var touched []int32 // rows fresh sockets add to
	pa := newPeerAccum(16)
	pa.addSockets(s, lt, opt, from, b.ct, func(k peerKey, a *peerAcc) bool {
		then := k
		if k.listener >= 0 {
			if then.listener = back[k.listener]; then.listener < 0 {
				return false
			}
		}
		r, ok := b.index[then]
		if !ok {
			return false
		}
		touched = append(touched, r)
		a.peer = b.rows[r]
		a.peer.Processes = slices.Clone(a.peer.Processes)
		m := &b.meta[r]
		a.local, a.mixed, a.carried = m.local, m.mixed, m.carried
		return true
	}, shard{})
	slices.Sort(touched)
	ptrs := pa.finish(snap, opt)
	snap.Peers = make([]Peer, 0, len(b.rows)-len(touched)+len(ptrs))
	// rows appends b.rows[r:to] but the touched ones.
	r, t := 0, 0
	rows := func(to int) {
		for r < to {
			end := to
			if t < len(touched) && int(touched[t]) < end {
				end = int(touched[t])
			}
			at := len(snap.Peers)
			snap.Peers = append(snap.Peers, b.rows[r:end]...)
			if moved {
				for i := at; i < len(snap.Peers); i++ {
					if p := &snap.Peers[i]; p.key.listener >= 0 {
						p.key.listener = remap[p.key.listener]
					}
				}
			}
			r = end
			if t < len(touched) && int(touched[t]) == r {
				r++
				t++
			}
		}
	}
	for _, a := range ptrs {
		// Before the first row it sorts before (the rows are in
		// comparePeers order: the predicate is false, then true).
		k := r + sort.Search(len(b.rows)-r, func(i int) bool { return comparePeers(opt.Sort, &a.peer, &b.rows[r+i]) < 0 })
		rows(k)
		snap.Peers = append(snap.Peers, a.peer)
	}
	rows(len(b.rows))
}

// indexPeerProcs enters a peer's processes in procIdx, when its list
// grows past smallProcs.
func indexPeerProcs(a *peerAcc, ai int32, procIdx map[peerProcKey]int) {
	a.indexed = true
	for j := range a.peer.Processes {
		procIdx[peerProcKey{ai, a.peer.Processes[j].PID}] = j
	}
}

var unknownOwner = []int32{0}

// buildProcesses tallies s.Sockets[from:] and, when ct is not nil, the
// carried sockets s.Sockets[:from] from ct.
func buildProcesses(snap *Snapshot, s *source.Sample, opt Options, ct *carriedTallies, from int) {
	if !s.Attributed {
		return
	}
	rows := map[int32]*ProcessRow{}
	if ct != nil {
		for pid, t := range ct.procs {
			r := newProcessRow(pid, s.Procs)
			rows[pid] = r
			r.States = t.states
			r.Total = t.total
			if t.anyInferred {
				r.Group = groupSize(s, pid)
			}
		}
	}
	for i := from; i < s.NumSockets(); i++ {
		sk := s.Socket(i)
		if ct.skips(s, sk) || !opt.Filter.Empty() && !opt.Filter.Match(sk, s.Procs) {
			continue
		}
		for _, pid := range ownersOf(sk, true) {
			r := rows[pid]
			if r == nil {
				r = newProcessRow(pid, s.Procs)
				rows[pid] = r
			}
			r.States[sk.State]++
			r.Total++
			if sk.OwnerInferred && r.Group == 0 {
				r.Group = groupSize(s, pid)
			}
		}
	}
	snap.Processes = sortedProcessRows(rows, opt.Sort)
}

// groupSize is the size of the inferred owner group pid stands for (0 when
// it stands for itself alone).
func groupSize(s *source.Sample, pid int32) int {
	if n := len(s.Groups[pid]); n > 1 {
		return n
	}
	return 0
}

// ownersOf returns the pids a socket is counted under: its owners, or pid 0
// when it has none or the sample is not attributed.
func ownersOf(sk *source.Socket, attributed bool) []int32 {
	if !attributed || len(sk.Owners) == 0 {
		return unknownOwner
	}
	return sk.Owners
}

// newProcessRow starts an empty row for pid: "unknown" for pid 0, "?" for a
// process whose details could not be read.
func newProcessRow(pid int32, procs map[int32]*source.Process) *ProcessRow {
	r := &ProcessRow{PID: pid, Name: UnknownName}
	if pid == 0 {
		return r
	}
	r.Key.PID = pid
	r.Name, r.FDs = "?", -1
	if p := procs[pid]; p != nil {
		r.Key.Start = p.Start
		r.Name, r.Cmdline, r.User = p.Name, p.Cmdline, p.User
		r.FDs, r.FDLimit = p.FDs, p.FDLimit
	}
	return r
}

// sortedProcessRows lists rows by the sort key, then total (largest
// first), then pid; pids are unique, so the order is deterministic.
func sortedProcessRows(rows map[int32]*ProcessRow, key SortKey) []ProcessRow {
	list := make([]ProcessRow, 0, len(rows))
	for _, r := range rows {
		list = append(list, *r)
	}
	slices.SortFunc(list, func(x, y ProcessRow) int {
		if c := key.compare(&x.States, x.Total, &y.States, y.Total); c != 0 {
			return c
		}
		if c := cmp.Compare(y.Total, x.Total); c != 0 {
			return c
		}
		return cmp.Compare(x.PID, y.PID)
	})
	return list
}

func buildRates(snap *Snapshot, prev *Snapshot) {
	if prev == nil {
		return
	}
	dt := snap.Time.Sub(prev.Time)
	if dt <= 0 {
		return
	}
	snap.Interval = dt
	sec := dt.Seconds()
	snap.Rates = make(map[string]Rate, len(snap.Counters))
	for k, v := range snap.Counters {
		if pv, ok := prev.Counters[k]; ok {
			snap.Rates[k] = Rate(float64(v-pv) / sec)
		}
	}
	for _, st := range source.AllStates {
		snap.StateRates[st] = Rate(float64(snap.States[st]-prev.States[st]) / sec)
	}
	if now, ok := opens(snap.Counters); ok {
		if then, ok := opens(prev.Counters); ok {
			snap.Churn = Rate(float64(now-then) / sec)
		}
	}
}

// opens is ActiveOpens+PassiveOpens, false unless both counters are there.
func opens(c map[string]int64) (int64, bool) {
	a, okA := c["ActiveOpens"]
	p, okP := c["PassiveOpens"]
	return a + p, okA && okP
}
