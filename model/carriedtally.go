package model

import (
	"net/netip"
	"slices"
	"time"

	"github.com/tcptop/tcptop/source"
)

// The carried ESTABLISHED sockets' share of a snapshot (issue 18, model
// work proportional to change). A partial sample (source.Sample.Partial)
// holds first the last full dump's ESTABLISHED sockets, the same ones at
// every partial poll until the next full dump, then this poll's dump of
// every other state. Their contributions to the peers, the processes and
// the set of local addresses are tallied once, at the first partial poll
// after a full dump, and the snapshots of the later partial polls reuse
// them (Snapshot.carried, read-only once built), tallying only the fresh
// sockets. The result is identical to tallying every socket: what depends
// on this poll (the listener a socket came in through, process names,
// inferred groups) is resolved at each poll from the tallies' keys.

// carriedTallies is what the carried sockets contribute, as of one full
// dump.
type carriedTallies struct {
	full       time.Time // Partial.FullTime
	n          int       // Partial.Carried: s.Sockets[:n] are the carried ones
	attributed bool
	// ports are the ports with a listener when it was built, ascending:
	// a socket on any other port is outgoing as long as the set stays
	// the same.
	ports []uint16
	// resolved: the distinct local endpoints of onListenPort's keys, and
	// whether each resolved to a listener (what validFor checks).
	resolved map[netip.AddrPort]bool
	// out: sockets on no listener's port (outgoing, listener -1).
	out map[peerKey]*peerTally
	// onListenPort: sockets on a listener's port, by remote (its port 0
	// when the socket resolved to a listener) and local endpoint; which
	// listener they go to is looked up each poll.
	onListenPort map[candKey]*peerTally
	procs        map[int32]*procTally
	local        []netip.Addr // distinct local addresses, unmapped, specified
	// eph is the carried sockets' share of Snapshot.Ephemeral (nil: not
	// tallied, the sample's ports are unknown).
	eph *carriedPorts
	// spread: made from a full sample, they are its n ESTABLISHED
	// sockets wherever they are in it (the ones the partial samples
	// after it carry first), not its first n; its other sockets are
	// tallied one by one (skips).
	spread bool
}

// skips reports whether a build of s tallying the sockets one by one
// leaves sk to t: an ESTABLISHED socket of the full sample t was made
// from. (A partial sample carries them first: a build starts after them.)
func (t *carriedTallies) skips(s *source.Sample, sk *source.Socket) bool {
	return t != nil && t.spread && s.Partial == nil && sk.State == source.Established
}

// carriedFirst reports whether s holds t's sockets first (s.Sockets[:n]):
// a partial sample does; the full sample spread tallies were made from
// holds them anywhere.
func (t *carriedTallies) carriedFirst(s *source.Sample) bool {
	return !t.spread || s.Partial != nil
}

// carriedPorts is the carried sockets' ephemeral ports, for one port
// range and set of reserved ports.
type carriedPorts struct {
	low, high int
	reserved  []source.PortRange
	used      [65536 / 64]uint64 // the ports they hold
	inUse     int                // how many
	// dests: the outgoing ones per destination, with its texts.
	dests map[destKey]*carriedDest
}

type carriedDest struct {
	n               int
	localIP, remote string
}

// portsFor returns the carried ports tallied with sc's range and
// reserved ports, or nil.
func (t *carriedTallies) portsFor(sc *source.Sysctls) *carriedPorts {
	if t == nil || t.eph == nil || !sc.PortRangeParsed {
		return nil
	}
	e := t.eph
	if e.low != sc.PortLow || e.high != sc.PortHigh || !slices.Equal(e.reserved, sc.Reserved) {
		return nil
	}
	return e
}

type candKey struct {
	remote   netip.AddrPort // unmapped
	local    netip.AddrPort
	resolved bool // lt.lookup(local) found a listener
}

type peerTally struct {
	states StateCounts
	total  int
	local  netip.Addr // the first socket's local IP (unmapped)
	mixed  bool       // some socket's local IP differs
	procs  []ppTally
	// remote is Peer.Remote of the peer this tally goes to; localText
	// is local's text.
	remote, localText string
}

type ppTally struct {
	pid                      int32
	sockets                  int
	anyInferred, allInferred bool
}

// peerProcess is the PeerProcess of t's sockets alone, named as in s
// (through names, when not nil).
func (t *ppTally) peerProcess(s *source.Sample, names *nameCache) PeerProcess {
	pp := PeerProcess{PID: t.pid, Name: UnknownName, Sockets: t.sockets, Inferred: t.pid != 0 && t.allInferred}
	if t.pid != 0 {
		pp.Name = names.name(t.pid, s.Procs)
	}
	if t.anyInferred {
		pp.Group = groupSize(s, t.pid)
	}
	return pp
}

// nameCache remembers the names of a few processes, by pid modulo its
// size: the carried sockets' thousands of peers are held by a few
// processes, each named once, not by a map access per peer.
type nameCache struct {
	pid   [8]int32 // 0: empty slot
	names [8]string
}

// name is procName(pid, procs) for pid != 0 (a nil cache: no cache).
func (c *nameCache) name(pid int32, procs map[int32]*source.Process) string {
	if c == nil {
		return procName(pid, procs)
	}
	i := uint32(pid) % uint32(len(c.pid))
	if c.pid[i] != pid {
		c.pid[i], c.names[i] = pid, procName(pid, procs)
	}
	return c.names[i]
}

type procTally struct {
	states      StateCounts
	total       int
	anyInferred bool
}

// carriedFor returns the carried sockets' tallies for s (reused from
// from's when they are still valid, else computed) and how many sockets
// at the start of s.Sockets they stand for; nil, 0 when s is not a
// partial sample or a filter is set (the lists then tally every socket).
// known is knownEstablished's answer for s and from (from's tallies are
// of s's full dump and s carries their sockets); estab as for build.
func carriedFor(s *source.Sample, from *Snapshot, lt listenTable, opt Options, known, estab int) (*carriedTallies, int) {
	p := s.Partial
	if n := len(s.Carried); p == nil && n > 0 && opt.Filter.Empty() {
		// A full sample whose ESTABLISHED sockets the source put first
		// and apart (a reader on the dump schedule: the partial samples
		// after it carry that very slice). They are tallied now, once,
		// as the first partial poll would, and this build walks only
		// the others: the first poll of a monitor at 100k no longer
		// walks 90k sockets for its lists and again for the tallies.
		var like *carriedTallies
		if from != nil {
			like = from.carried
		}
		return newCarriedTallies(s, lt, s.Time, n, false, like), n
	}
	if p == nil && opt.Filter.Empty() && from != nil && from.Sample != nil && from.Sample.Partial != nil {
		// A full dump in a stream of partial ones: its ESTABLISHED
		// sockets are tallied as the partial polls after it will carry
		// them, and this build's lists are made from those tallies (so
		// the first partial poll does not tally them again). Not for a
		// stream of full dumps alone, nor --once: there the tallies
		// would serve one build.
		n := 0
		for i := range s.NumSockets() {
			if s.Socket(i).State == source.Established {
				n++
			}
		}
		if n == 0 {
			return nil, 0
		}
		return newCarriedTallies(s, lt, s.Time, n, true, from.carried), 0
	}
	if p == nil || !opt.Filter.Empty() || p.Carried <= 0 || p.Carried > s.NumSockets() {
		return nil, 0
	}
	if known > 0 {
		// knownEstablished checked from's tallies against s (known is
		// their n, p.Carried).
		if t := from.carried; t.attributed == s.Attributed && t.validFor(lt) {
			return t, t.n
		}
	}
	if known == 0 && estab < p.Carried {
		for i := range p.Carried {
			if s.Socket(i).State != source.Established {
				return nil, 0 // not the layout ReadPartial makes: tally everything
			}
		}
	}
	var like *carriedTallies
	if from != nil {
		like = from.carried
	}
	return newCarriedTallies(s, lt, p.FullTime, p.Carried, false, like), p.Carried
}

// carriedBy reports whether s, a partial sample of t's full dump, starts
// with t's sockets as far as it can be told: tallies made from a partial
// sample were checked then; a full sample's (spread) are checked at the
// first partial poll after it, that its first n sockets are ESTABLISHED
// (once per full dump, not per poll; not at all when the caller found
// estab >= n of them ESTABLISHED).
func (t *carriedTallies) carriedBy(s *source.Sample, from *Snapshot, estab int) bool {
	if !t.spread || from.Sample == nil || from.Sample.Partial != nil || estab >= t.n {
		return true
	}
	for i := range t.n {
		if s.Socket(i).State != source.Established {
			return false
		}
	}
	return true
}

// validFor reports whether every carried socket goes to the same kind of
// peer (incoming through a listener, or outgoing) with this poll's
// listeners as when the tallies were built.
func (t *carriedTallies) validFor(lt listenTable) bool {
	if !slices.Equal(lt.ports, t.ports) {
		return false
	}
	for local, resolved := range t.resolved {
		if _, ok := lt.lookup(local); ok != resolved {
			return false
		}
	}
	return true
}

// newCarriedTallies tallies s.Sockets[:n], or with spread the n
// ESTABLISHED sockets of s, of the full dump at full. like, when not nil,
// is the last full dump's tallies: its maps' sizes size the new ones (a
// map grown from empty to 16k peers rehashed itself a dozen times).
func newCarriedTallies(s *source.Sample, lt listenTable, full time.Time, n int, spread bool, like *carriedTallies) *carriedTallies {
	var hint struct{ out, on, procs int }
	if like != nil {
		hint.out, hint.on, hint.procs = len(like.out), len(like.onListenPort), len(like.procs)
	}
	t := &carriedTallies{
		full: full, n: n, attributed: s.Attributed, spread: spread,
		ports:        slices.Clone(lt.ports),
		resolved:     map[netip.AddrPort]bool{},
		out:          make(map[peerKey]*peerTally, hint.out),
		onListenPort: make(map[candKey]*peerTally, hint.on),
		procs:        make(map[int32]*procTally, hint.procs),
	}
	seen := map[netip.Addr]bool{}
	procAt := map[tallyProc]int{}
	var ppSlab tallySlab
	var procCache recentProcs
	sc := &s.Sysctl
	if sc.PortRangeParsed {
		t.eph = &carriedPorts{low: sc.PortLow, high: sc.PortHigh, reserved: slices.Clone(sc.Reserved), dests: map[destKey]*carriedDest{}}
	}
	var last netip.Addr
	// The last local endpoint looked up among the listeners, and the
	// answer: the carried sockets have few distinct ones.
	var lastLocal, lastResolved netip.AddrPort
	lastIn, looked := false, false
	cands := newCandIndex(hint.on)
	end := n
	if spread {
		end = s.NumSockets()
	}
	for i := range end {
		sk := s.Socket(i)
		if spread && sk.State != source.Established {
			continue
		}
		if a := sk.Local.Addr(); a != last {
			last = a
			if a = a.Unmap(); !a.IsUnspecified() && !seen[a] {
				seen[a] = true
				t.local = append(t.local, a)
			}
		}
		if s.Attributed {
			for _, pid := range ownersOf(sk, true) {
				r := procCache.get(pid, t.procs)
				r.states[sk.State]++
				r.total++
				if sk.OwnerInferred {
					r.anyInferred = true
				}
			}
		}
		if !looked || sk.Local != lastLocal {
			_, lastIn = lt.lookup(sk.Local)
			lastLocal, looked = sk.Local, true
		}
		if e := t.eph; e != nil {
			if !sk.Remote.Addr().IsValid() {
				// Neither a peer nor surely outgoing for the ports
				// (never so for an ESTABLISHED socket): not tallied.
				t.eph = nil
			} else {
				e.add(sk, sc, lastIn)
			}
		}
		if !isPeerSocket(sk) {
			continue
		}
		remote := sk.Remote.Addr().Unmap()
		var pt *peerTally
		if lt.listening(sk.Local.Port()) {
			in := lastIn
			if sk.Local != lastResolved {
				// Few distinct local endpoints: skip the map for a repeat.
				lastResolved = sk.Local
				t.resolved[sk.Local] = in
			}
			k := candKey{remote: netip.AddrPortFrom(remote, sk.Remote.Port()), local: sk.Local, resolved: in}
			if in {
				k.remote = netip.AddrPortFrom(remote, 0)
			}
			fk, fast := cands.key(&k)
			if fast {
				pt = cands.m[fk]
			} else {
				pt = t.onListenPort[k]
			}
			if pt == nil {
				pt = newPeerTally(sk, k.remote, in)
				if s.Attributed {
					pt.procs = ppSlab.take()
				}
				t.onListenPort[k] = pt
				if fast {
					cands.m[fk] = pt
				}
			}
		} else {
			k := peerKey{netip.AddrPortFrom(remote, sk.Remote.Port()), -1}
			if pt = t.out[k]; pt == nil {
				pt = newPeerTally(sk, k.remote, false)
				if s.Attributed {
					pt.procs = ppSlab.take()
				}
				t.out[k] = pt
			}
		}
		pt.add(sk, s.Attributed, procAt)
	}
	return t
}

// add is buildEphemeral's tally of one carried socket; incoming: it came
// in through a listener.
// candIndex finds onListenPort's tallies while they are made, by a key
// without pointers (no zone): hashing candKey (two netip.AddrPort, each
// with its zone's pointer) and comparing it was most of a full poll's
// tally of 80k incoming sockets.
type candIndex struct {
	m      map[fastCand]*peerTally
	locals []netip.AddrPort // fastCand.local indexes these
	last   int              // locals[last] was the last one used
}

type fastCand struct {
	addr     [16]byte
	port     uint16
	local    uint16 // into candIndex.locals
	is4      bool
	resolved bool
}

// maxCandLocals bounds candIndex.locals: the local endpoints of sockets
// on a listener's port are a few (the listeners' own).
const maxCandLocals = 64

func newCandIndex(hint int) *candIndex {
	return &candIndex{m: make(map[fastCand]*peerTally, hint), last: -1}
}

// key returns k's fast key, false when k has none (a zone, or a local
// endpoint past the first maxCandLocals): such keys are found in
// onListenPort itself (a key is either always fast or never).
func (c *candIndex) key(k *candKey) (fastCand, bool) {
	a := k.remote.Addr()
	if a.Zone() != "" {
		return fastCand{}, false
	}
	if c.last < 0 || c.locals[c.last] != k.local {
		c.last = slices.Index(c.locals, k.local)
		if c.last < 0 {
			if len(c.locals) == maxCandLocals {
				// Past a few, a search of them per change of
				// endpoint would cost more than the map.
				return fastCand{}, false
			}
			c.locals = append(c.locals, k.local)
			c.last = len(c.locals) - 1
		}
	}
	return fastCand{addr: a.As16(), port: k.remote.Port(), local: uint16(c.last), is4: a.Is4(), resolved: k.resolved}, true
}

func (e *carriedPorts) add(sk *source.Socket, sc *source.Sysctls, incoming bool) {
	port := int(sk.Local.Port())
	if port < sc.PortLow || port > sc.PortHigh || source.IsReserved(sc.Reserved, port) {
		return
	}
	if e.used[port/64]&(1<<(port%64)) == 0 {
		e.used[port/64] |= 1 << (port % 64)
		e.inUse++
	}
	if sk.State == source.Listen || sk.Remote.Port() == 0 || incoming {
		return
	}
	k := destKey{sk.Local.Addr().Unmap(), netip.AddrPortFrom(sk.Remote.Addr().Unmap(), sk.Remote.Port())}
	d := e.dests[k]
	if d == nil {
		d = &carriedDest{localIP: k.local.String(), remote: k.remote.String()}
		e.dests[k] = d
	}
	d.n++
}

// tallyProc finds a process in a peer tally's list while it is built.
type tallyProc struct {
	pt  *peerTally
	pid int32
}

// newPeerTally starts the tally of the peer at remote (incoming through
// a listener when in) with sk, its first socket.
func newPeerTally(sk *source.Socket, remote netip.AddrPort, in bool) *peerTally {
	pt := &peerTally{local: sk.Local.Addr().Unmap()}
	if in {
		pt.remote = remote.Addr().String()
	} else {
		pt.remote, pt.localText = remote.String(), pt.local.String()
	}
	return pt
}

func (pt *peerTally) add(sk *source.Socket, attributed bool, procAt map[tallyProc]int) {
	if sk.Local.Addr().Unmap() != pt.local {
		pt.mixed = true
	}
	pt.states[sk.State]++
	pt.total++
	if !attributed {
		return
	}
	for _, pid := range ownersOf(sk, true) {
		j, ok := pt.findProc(pid, procAt)
		if !ok {
			j = len(pt.procs)
			pt.procs = append(pt.procs, ppTally{pid: pid, allInferred: true})
			switch {
			case len(pt.procs) > smallProcs+1:
				procAt[tallyProc{pt, pid}] = j
			case len(pt.procs) == smallProcs+1:
				for i := range pt.procs {
					procAt[tallyProc{pt, pt.procs[i].pid}] = i
				}
			}
		}
		pp := &pt.procs[j]
		pp.sockets++
		if sk.OwnerInferred {
			pp.anyInferred = true
		} else {
			pp.allInferred = false
		}
	}
}

// tallySlab hands out the peer tallies' room for a first process from a
// few large arrays instead of an allocation per peer (a list that grows
// past one is moved by append as usual).
type tallySlab []ppTally

// take returns an empty list with room for one process.
func (sl *tallySlab) take() []ppTally {
	if len(*sl) == cap(*sl) {
		*sl = make([]ppTally, 0, 1024)
	}
	l := len(*sl)
	*sl = (*sl)[:l+1]
	return (*sl)[l : l : l+1]
}

// findProc returns where pid is in pt's processes: most peers have one
// or two, searched; a longer list (a peer of a pre-fork server has one
// entry per worker) is in procAt.
func (pt *peerTally) findProc(pid int32, procAt map[tallyProc]int) (int, bool) {
	if len(pt.procs) <= smallProcs {
		for j := range pt.procs {
			if pt.procs[j].pid == pid {
				return j, true
			}
		}
		return 0, false
	}
	j, ok := procAt[tallyProc{pt, pid}]
	return j, ok
}

// recentProcs finds a process's tally among the few last used before
// the map: the carried sockets' owners are a few processes, each with
// thousands of them.
type recentProcs struct {
	pid [4]int32
	t   [4]*procTally
	n   int // next slot to replace
}

func (c *recentProcs) get(pid int32, procs map[int32]*procTally) *procTally {
	for i := range c.t {
		if c.t[i] != nil && c.pid[i] == pid {
			return c.t[i]
		}
	}
	r := procs[pid]
	if r == nil {
		r = &procTally{}
		procs[pid] = r
	}
	c.pid[c.n], c.t[c.n] = pid, r
	c.n = (c.n + 1) % len(c.t)
	return r
}

// peerTallies calls f with each carried peer tally and the key it has
// with this poll's listeners.
func (t *carriedTallies) peerTallies(lt listenTable, f func(peerKey, *peerTally)) {
	for k, pt := range t.out {
		f(k, pt)
	}
	// Few distinct local endpoints: the last one's listener serves
	// the keys after it on the same one.
	var last netip.AddrPort
	lastIdx, looked := 0, false
	for k, pt := range t.onListenPort {
		pk := peerKey{k.remote, -1}
		if k.resolved {
			if !looked || k.local != last {
				lastIdx, _ = lt.lookup(k.local)
				last, looked = k.local, true
			}
			pk.listener = lastIdx
		}
		f(pk, pt)
	}
}
