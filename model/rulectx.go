package model

import (
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/tcptop/tcptop/source"
)

// ruleCtx is what every rule reads: the snapshot, the history (ending with
// this poll's Point), the thresholds, and per-poll tallies that several
// rules share, computed once over the whole sample, ignoring the filter.
type ruleCtx struct {
	snap *Snapshot
	s    *source.Sample
	th   *Thresholds
	hist []Point // oldest first; the last is this poll's
	// point is this poll's Point.
	point Point

	// Tallies over the sample.
	closeWait map[cwKey]*cwAcc
	synSent   map[netip.AddrPort]*synAcc
	// queuedClosed counts, per listener index, CLOSE_WAIT sockets still in
	// its accept queue (inode 0: no process ever accepted them).
	queuedClosed map[int]int
	// timeWaitIn counts, per listener index, TIME_WAIT sockets of
	// connections that came in to it (this host closed first as server).
	timeWaitIn map[int]int
	local      map[netip.Addr]bool // addresses of this host seen in the sample
	// fresh is where the sockets other than a partial sample's carried
	// ESTABLISHED ones start (0: all are).
	fresh int
}

// cwKey is who holds CLOSE_WAIT sockets: the processes sharing one
// listening socket (a pre-fork pool: listener set), or one process.
type cwKey struct {
	listener netip.AddrPort
	pid      int32
}

// cwAcc tallies one holder's CLOSE_WAIT sockets, each counted once
// however many processes share it.
type cwAcc struct {
	n, persisted int
	// stale counts the sockets in CLOSE_WAIT for at least close-wait-age.
	stale int
	// kernelAged counts the sockets whose age the kernel gave (tcp_info).
	kernelAged int
	oldest     time.Duration
	ageKnown   bool
	peers      map[netip.Addr]int
	// pids counts the sockets each process holds (a pool's workers).
	pids map[int32]int
}

type synAcc struct {
	n, stuck, maxRetrans int
	owners               map[int32]int
}

// newRuleCtx tallies the sample. hist is the history before this poll;
// hot keeps the carried sockets' share of hotDestinationOwners between
// polls (nil: not kept).
func newRuleCtx(snap *Snapshot, hist []Point, th *Thresholds, hot **hotCarried) *ruleCtx {
	s := snap.Sample
	c := &ruleCtx{
		snap: snap, s: s, th: th,
		closeWait:    map[cwKey]*cwAcc{},
		queuedClosed: map[int]int{},
		timeWaitIn:   map[int]int{},
		synSent:      map[netip.AddrPort]*synAcc{},
		local:        map[netip.Addr]bool{},
	}
	p := Point{
		Time:       snap.Time,
		States:     snap.States,
		PortsInUse: snap.Ephemeral.InUse,
		counters:   snap.Counters,
		dests:      make(map[DestKey]int, len(snap.Ephemeral.Destinations)),
		closeWait:  map[cwKey]int{},
		synSent:    map[netip.AddrPort]int{},
		full:       map[netip.AddrPort]bool{},
		near:       map[netip.AddrPort]bool{},
	}
	for _, d := range snap.Ephemeral.Destinations {
		p.dests[d.Key] = d.InUse
	}
	for i := range snap.Listeners {
		l := &snap.Listeners[i]
		if l.Full {
			p.full[l.Addr] = true
		}
		if l.Full || (l.Backlog > 0 && l.Fill >= th.AcceptFill) {
			p.near[l.Addr] = true
		}
		if l.Queue > 0 || l.SynRecv > 0 {
			if p.listen == nil {
				p.listen = map[netip.AddrPort]listenPoint{}
			}
			p.listen[l.Addr] = listenPoint{queue: l.Queue, synRecv: uint32(l.SynRecv)}
		}
	}
	staleAge := time.Duration(th.CloseWaitAgeSec * float64(time.Second))
	from := 0
	if ct := snap.carried; ct != nil {
		// The carried sockets are ESTABLISHED: only their local
		// addresses matter here.
		for _, a := range ct.local {
			c.local[a] = true
		}
		if ct.carriedFirst(s) {
			from = ct.n
		}
	}
	c.fresh = from
	// The hot destinations' owners are another walk of the sockets,
	// writing only their own map, the cache and c.fresh (which the loop
	// below does not read): on a big table it runs beside the loop.
	var wg sync.WaitGroup
	hotOwners := func() { p.destOwners = c.hotDestinationOwners(hot) }
	par := parallelBuild(s.NumSockets() - from)
	if par {
		wg.Go(hotOwners)
	}
	var last netip.Addr
	for i := from; i < s.NumSockets(); i++ {
		sk := s.Socket(i)
		// Few distinct local addresses: skip the map for a repeat.
		if a := sk.Local.Addr(); a != last {
			last = a
			if a = a.Unmap(); !a.IsUnspecified() {
				c.local[a] = true
			}
		}
		switch sk.State {
		case source.TimeWait:
			if idx, ok := snap.lt.lookup(sk.Local); ok {
				c.timeWaitIn[idx]++
			}
		case source.CloseWait:
			if sk.Inode == 0 {
				// Never accepted: the client closed while it waited in a
				// full accept queue. The accept-queue rule's business,
				// not a leak (no process ever held it).
				if idx, ok := snap.lt.lookup(sk.Local); ok {
					c.queuedClosed[idx]++
				}
				continue
			}
			owners := ownersOf(sk, s.Attributed)
			k := c.closeWaitHolder(sk, owners)
			acc := c.closeWait[k]
			if acc == nil {
				acc = &cwAcc{peers: map[netip.Addr]int{}, pids: map[int32]int{}}
				c.closeWait[k] = acc
			}
			acc.n++
			acc.peers[sk.Remote.Addr().Unmap()]++
			for _, pid := range owners {
				acc.pids[pid]++
			}
			if snap.seenBefore(sk) {
				acc.persisted++
			}
			if sk.Info != nil {
				acc.kernelAged++
			}
			if age, ok := snap.SocketAge(sk); ok {
				acc.ageKnown = true
				acc.oldest = max(acc.oldest, age)
				if age >= staleAge {
					acc.stale++
				}
			}
		case source.SynSent:
			r := netip.AddrPortFrom(sk.Remote.Addr().Unmap(), sk.Remote.Port())
			acc := c.synSent[r]
			if acc == nil {
				acc = &synAcc{owners: map[int32]int{}}
				c.synSent[r] = acc
			}
			acc.n++
			if sk.Retrans > 0 || snap.seenBefore(sk) {
				acc.stuck++
			}
			acc.maxRetrans = max(acc.maxRetrans, int(sk.Retrans))
			for _, pid := range ownersOf(sk, s.Attributed) {
				acc.owners[pid]++
			}
			p.synSent[r]++
		}
	}
	for k, acc := range c.closeWait {
		p.closeWait[k] = acc.n
	}
	if par {
		wg.Wait()
	} else {
		hotOwners()
	}
	c.point = p
	c.hist = append(hist[:len(hist):len(hist)], p)
	return c
}

// closeWaitHolder is who holds a CLOSE_WAIT socket: when it came in
// through a listening socket several processes share (a pre-fork server:
// php-fpm, apache, gunicorn workers), that pool as one holder; else its
// first owner (pid 0 when unknown). A socket shared by several processes
// counts once either way.
func (c *ruleCtx) closeWaitHolder(sk *source.Socket, owners []int32) cwKey {
	if idx, ok := c.snap.lt.lookup(sk.Local); ok {
		if l := &c.snap.Listeners[idx]; len(l.Processes) > 1 {
			return cwKey{listener: l.Addr}
		}
	}
	return cwKey{pid: slices.Min(owners)}
}

// hotDestinationOwners records who holds sockets to the destinations at
// half the ports-warn threshold or more (usually none, so no extra pass):
// connections shorter than a poll are rarely caught, so the ephemeral rule
// looks back through the history for the last poll that saw an owner.
// The carried sockets of a partial sample (Snapshot.carried) are walked
// once per full dump and set of hot destinations, kept in *cache: a full
// poll whose tallies the partial polls after it take over (spread) keeps
// its ESTABLISHED sockets' share apart in the same walk, so that the
// first partial poll does not walk the 90k carried sockets again.
func (c *ruleCtx) hotDestinationOwners(cache **hotCarried) map[DestKey]map[int32]int {
	e := &c.snap.Ephemeral
	hot := map[DestKey]bool{}
	for _, d := range e.Destinations {
		if d.Fraction < c.th.PortsWarn/2 || len(hot) == 3 {
			break
		}
		hot[d.Key] = true
	}
	if len(hot) == 0 || !c.s.Attributed {
		return nil
	}
	out := map[DestKey]map[int32]int{}
	from := 0
	ct := c.snap.carried
	switch {
	case ct != nil && ct.carriedFirst(c.s) && cache != nil:
		hc := *cache
		if hc == nil || hc.ct != ct || !hc.sameHot(hot) {
			hc = &hotCarried{ct: ct, hot: hot, owners: map[DestKey]map[int32]int{}}
			destOwners(c.s, 0, ct.n, hot, hc.owners, nil, nil)
			*cache = hc
		}
		addOwners(out, hc.owners)
		from = ct.n
	case ct != nil && cache != nil:
		// The full sample ct was made from: its ESTABLISHED sockets
		// (those ct skips) are what the partial polls after it carry.
		hc := &hotCarried{ct: ct, hot: hot, owners: map[DestKey]map[int32]int{}}
		destOwners(c.s, 0, c.s.NumSockets(), hot, out, ct, hc.owners)
		addOwners(out, hc.owners)
		*cache = hc
		c.fresh = 0
		return out
	}
	c.fresh = from
	destOwners(c.s, from, c.s.NumSockets(), hot, out, nil, nil)
	return out
}

// addOwners adds the counts of from to out (from is not modified).
func addOwners(out, from map[DestKey]map[int32]int) {
	for id, m := range from {
		o := out[id]
		if o == nil {
			out[id] = maps.Clone(m)
			continue
		}
		for pid, n := range m {
			o[pid] += n
		}
	}
}

// destOwners adds to out the owners of s's sockets from..to-1 to hot
// destinations; those ct skips (a full sample's ESTABLISHED sockets, when
// ct is not nil) to skipped instead.
func destOwners(s *source.Sample, from, to int, hot map[DestKey]bool, out map[DestKey]map[int32]int, ct *carriedTallies, skipped map[DestKey]map[int32]int) {
	// At most three hot destinations: their remote ports rule out most
	// sockets before a key is made and hashed.
	var ports [3]uint16
	np := 0
	for k := range hot {
		if np == len(ports) {
			np = -1
			break
		}
		ports[np] = k.Remote.Port()
		np++
	}
	for i := from; i < to; i++ {
		sk := s.Socket(i)
		if len(sk.Owners) == 0 || sk.State == source.Listen {
			continue
		}
		if np >= 0 {
			p, in := sk.Remote.Port(), false
			for _, hp := range ports[:np] {
				if hp == p {
					in = true
					break
				}
			}
			if !in {
				continue
			}
		}
		id := DestKey{sk.Local.Addr().Unmap(), netip.AddrPortFrom(sk.Remote.Addr().Unmap(), sk.Remote.Port())}
		if !hot[id] {
			continue
		}
		into := out
		if ct.skips(s, sk) {
			into = skipped
		}
		m := into[id]
		if m == nil {
			m = map[int32]int{}
			into[id] = m
		}
		for _, pid := range sk.Owners {
			m[pid]++
		}
	}
}

// hotCarried is the carried sockets' owners per hot destination, for one
// carriedTallies and one set of hot destinations (read-only once made).
type hotCarried struct {
	ct     *carriedTallies
	hot    map[DestKey]bool
	owners map[DestKey]map[int32]int
}

// sameHot reports whether hot is the set hc was made for.
func (hc *hotCarried) sameHot(hot map[DestKey]bool) bool {
	if len(hot) != len(hc.hot) {
		return false
	}
	for k := range hot {
		if !hc.hot[k] {
			return false
		}
	}
	return true
}

// first is the previous poll's Point, if any.
func (c *ruleCtx) previous() (Point, bool) {
	if len(c.hist) < 2 {
		return Point{}, false
	}
	return c.hist[len(c.hist)-2], true
}

// growth is the change per second of f between the oldest Point within
// the growth window and this poll, with the span it covers. ok is false
// without an earlier Point where f is known.
func (c *ruleCtx) growth(f func(p *Point) (float64, bool)) (rate float64, span time.Duration, ok bool) {
	now, okNow := f(&c.hist[len(c.hist)-1])
	if !okNow || len(c.hist) < 2 {
		return 0, 0, false
	}
	window := time.Duration(c.th.GrowthWindowSec * float64(time.Second))
	for i := 0; i < len(c.hist)-1; i++ {
		p := &c.hist[i]
		span = c.snap.Time.Sub(p.Time)
		if span > window || span <= 0 {
			continue
		}
		if then, ok := f(p); ok {
			return (now - then) / span.Seconds(), span, true
		}
	}
	return 0, 0, false
}

// counterRate is a counter's rate since the previous poll, and whether it
// is known.
func (c *ruleCtx) counterRate(name string) (float64, bool) {
	r, ok := c.snap.Rates[name]
	return float64(r), ok
}

// isLocal reports whether an address belongs to this host (loopback, or an
// address some socket here is bound to).
func (c *ruleCtx) isLocal(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || c.local[a]
}

// procLabel names a pid as "name[pid]" ("unknown" for 0).
func (c *ruleCtx) procLabel(pid int32) string {
	if pid == 0 {
		return UnknownName
	}
	return procName(pid, c.s.Procs) + "[" + strconv.Itoa(int(pid)) + "]"
}
