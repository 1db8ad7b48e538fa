package model

import (
	"net/netip"
	"sync"
	"time"
	"unsafe"

	"github.com/tcptop/tcptop/source"
)

// HistoryLen is how many recent polls an Analyzer keeps (5 minutes at the
// default 1 s interval): enough for growth rates and sparklines.
const HistoryLen = 300

// MaxTracked bounds the first-seen map: beyond it new sockets get no age
// (Snapshot.AgesTruncated says so). Only states whose age tells something
// are tracked (see tracked), so even 200k sockets stay well below it in
// practice; the bound is for the pathological case.
const MaxTracked = 250_000

// TimeWaitLen is how long Linux keeps a socket in TIME_WAIT (TCP_TIMEWAIT_LEN,
// fixed at 60 s: tcp_fin_timeout does not change it).
const TimeWaitLen = 60 * time.Second

// Point is what the history keeps of one poll.
type Point struct {
	Time       time.Time
	States     StateCounts
	PortsInUse int

	counters  map[string]int64        // the snapshot's (never modified)
	dests     map[DestKey]int         // top destinations' ports in use
	closeWait map[cwKey]int           // CLOSE_WAIT per holder
	synSent   map[netip.AddrPort]int  // SYN_SENT per remote endpoint
	full      map[netip.AddrPort]bool // listeners whose queue was full
	near      map[netip.AddrPort]bool // listeners at or near their cap
	// listen: each listener's accept queue and SYN_RECV count, only
	// those not both zero (an idle listener costs nothing here).
	listen map[netip.AddrPort]listenPoint
	// destOwners: who held sockets to the hottest destinations (see
	// hotDestinationOwners); nil when none was hot.
	destOwners map[DestKey]map[int32]int
}

// Analyzer turns successive samples into snapshots with findings. Between
// polls it keeps the previous snapshot (for rates), a ring of recent Points
// (for growth and sparklines) and when each socket in a tracked state was
// first seen, by cookie (for ages). It is not safe for concurrent use; the
// snapshots it returns are never modified afterwards.
type Analyzer struct {
	th   Thresholds
	prev *Snapshot
	ring []Point // oldest first, at most HistoryLen
	seen map[uint64]seenAt
	// carried holds, while partial samples carry the same full dump's
	// ESTABLISHED sockets, those sockets' first-seen times, out of seen
	// (see carriedAges).
	carried *carriedAges
	// pending is a poll whose sockets were all new (the first one): its
	// sockets go into seen at the next poll, not at once, so that
	// `--once` never fills a map of every socket it will not look at
	// again; pendingMs and pendingGen are that poll's time and gen.
	pending    *source.Sample
	pendingMs  int64
	pendingGen uint32
	// pendingFrom: pending's sockets before it are in carried already.
	pendingFrom int
	gen         uint32
	// hot is the carried sockets' share of hotDestinationOwners.
	hot   *hotCarried
	start time.Time
	// maxTracked is MaxTracked (a field so a test can make it small).
	maxTracked int
}

type seenAt struct {
	ms  int64 // Unix milliseconds of the poll that first saw the socket
	gen uint32
}

// NewAnalyzer returns an Analyzer with the given thresholds.
func NewAnalyzer(th Thresholds) *Analyzer {
	return &Analyzer{th: th, seen: map[uint64]seenAt{}, maxTracked: MaxTracked}
}

// Thresholds returns the analyzer's thresholds.
func (a *Analyzer) Thresholds() Thresholds { return a.th }

// Next builds the snapshot of s (rates against the previous one), records
// it in the history and attaches the findings. Findings ignore opt: a
// filter narrows the lists, never what is wrong with the machine.
func (a *Analyzer) Next(s *source.Sample, opt Options) *Snapshot {
	t0 := time.Now()
	// The ages first: their check that s carries the last full dump's
	// ESTABLISHED sockets (once per full dump) is the one Build would
	// make again. A full sample carries none (estab is 0): on a big one
	// the ages, which touch the Analyzer's maps and never a snapshot,
	// are taken beside the build.
	var (
		ages      []int64
		truncated bool
		estab     int
		wg        sync.WaitGroup
	)
	if s.Partial == nil && parallelBuild(s.NumSockets()) {
		wg.Go(func() { ages, truncated, _ = a.observeAges(s) })
	} else {
		ages, truncated, estab = a.observeAges(s)
	}
	snap := build(s, a.prev, opt, a.prev, estab)
	wg.Wait()
	if a.start.IsZero() {
		a.start = s.Time
	}
	snap.firstSeen, snap.AgesTruncated = ages, truncated
	c := newRuleCtx(snap, a.ring, &a.th, &a.hot)
	a.ring = append(a.ring, c.point)
	if len(a.ring) > HistoryLen {
		a.ring = append(a.ring[:0:0], a.ring[len(a.ring)-HistoryLen:]...)
	}
	c.hist = a.ring
	snap.History = a.ring[max(0, len(a.ring)-SparkPoints):len(a.ring):len(a.ring)]
	snap.Watching = s.Time.Sub(a.start)
	snap.Thresholds = a.th
	snap.Findings = diagnose(c)
	a.prev = snap
	snap.PollMS.Analyze = ms(time.Since(t0)) - snap.PollMS.Build
	snap.PollMS.Total += snap.PollMS.Analyze
	return snap
}

// SparkPoints is how many recent Points a snapshot carries in History.
const SparkPoints = 120

// Rebuild returns snap rebuilt with other options (a new sort or filter),
// keeping its findings, history, ages and rates: rates do not depend on the
// options, and they stay those computed against the Analyzer's previous
// snapshot (the one previous snapshot there is), whatever a front end did
// with the snapshots in between (a paused monitor drops some).
func Rebuild(snap *Snapshot, opt Options) *Snapshot {
	n := build(snap.Sample, nil, opt, snap, 0)
	n.Findings, n.History, n.Watching = snap.Findings, snap.History, snap.Watching
	n.FindingsOmitted = snap.FindingsOmitted
	n.Thresholds = snap.Thresholds
	n.Rates, n.StateRates, n.Churn, n.Interval = snap.Rates, snap.StateRates, snap.Churn, snap.Interval
	n.firstSeen, n.AgesTruncated = snap.firstSeen, snap.AgesTruncated
	n.EBPF = snap.EBPF // its rates are the poll's
	keepListenerDrops(n, snap)
	attachEBPF(n)
	n.PollMS.Analyze = snap.PollMS.Analyze
	n.PollMS.Total += n.PollMS.Analyze
	n.Netns, n.Overview = snap.Netns, snap.Overview // --all-netns: its label and the overview
	return n
}

// tracked reports whether a state's sockets get a first-seen time. Not
// TIME_WAIT (its timer gives its age), not LISTEN. ESTABLISHED is (the
// socket lists sort by age): 100k of them cost ~4 MB in the map.
func tracked(st source.State) bool {
	switch st {
	case source.Established, source.SynSent, source.SynRecv, source.FinWait1, source.FinWait2,
		source.Close, source.CloseWait, source.LastAck, source.Closing:
		return true
	}
	return false
}

// observeAges updates the first-seen map from s and returns this poll's
// view of it, which later polls never modify: a slice aligned with
// s.Sockets (Unix ms; 0: not tracked), not a map: filling a map of every
// ESTABLISHED socket each poll was a good part of a poll's cost. The
// ESTABLISHED sockets' times are kept apart from seen (carriedAges): a
// full sample's in the order a partial sample carries them, so that the
// partial polls after it copy them in and look up only the fresh sockets,
// and the next full poll finds them there; seen holds the other tracked
// states' sockets, a few thousand, not the 90k ESTABLISHED moved in and
// out of it at every full dump. estab is how many sockets at the start
// of s were found to be the carried ESTABLISHED ones of its full dump
// (0: none, or not checked).
func (a *Analyzer) observeAges(s *source.Sample) (view []int64, truncated bool, estab int) {
	a.enterPending()
	a.gen++
	now := s.Time.UnixMilli()
	view = make([]int64, s.NumSockets())
	if len(a.seen) == 0 && a.carried == nil && s.Partial == nil {
		// Nothing seen before: every tracked socket is new, first seen
		// now, unless there are more than the bound.
		n := 0
		for i := range s.NumSockets() {
			if sk := s.Socket(i); tracked(sk.State) && sk.Cookie != 0 {
				view[i] = now
				n++
			}
		}
		if n <= a.maxTracked {
			a.pending, a.pendingMs, a.pendingGen, a.pendingFrom = s, now, a.gen, 0
			if c := len(s.Carried); c > 0 {
				// The source put the ESTABLISHED sockets apart: the
				// partial polls after this one carry them. Their times
				// go straight into carriedAges, not through seen (a map
				// of 90k filled at the next poll, then emptied of them
				// again by carriedAgesFor).
				ca := newCarriedAges(s.Time, c)
				for i := range c {
					if sk := s.Socket(i); tracked(sk.State) && sk.Cookie != 0 {
						ca.add(sk.Cookie, now)
					} else {
						ca.add(sk.Cookie, 0)
					}
				}
				a.carried, a.pendingFrom = ca, c
			}
			return view, false, 0
		}
		clear(view)
	}
	if s.Partial == nil {
		return view, a.observeFull(s, now, view), 0
	}
	from, nc := 0, 0
	var carried *carriedAges
	if ca := a.carriedAgesFor(s, now); ca != nil {
		from, nc, carried = ca.n, ca.count, ca
		copy(view, ca.ms)
	}
	for i := from; i < s.NumSockets(); i++ {
		sk := s.Socket(i)
		if !tracked(sk.State) || sk.Cookie == 0 {
			continue
		}
		e, ok := a.seen[sk.Cookie]
		if !ok {
			if ms, in := carried.lookup(sk.Cookie); in {
				// Carried as ESTABLISHED and dumped now in another
				// state: the carried time stands (and keeps it).
				view[i] = ms
				continue
			}
			if len(a.seen)+nc >= a.maxTracked {
				truncated = true
				continue
			}
			e.ms = now
		}
		e.gen = a.gen
		a.seen[sk.Cookie] = e
		view[i] = e.ms
	}
	a.sweep()
	return view, truncated, from
}

// observeFull is observeAges for a sample that carries nothing: its
// ESTABLISHED sockets' times go into a new carriedAges (in their order,
// which is a later partial sample's), found in the last one or in seen,
// the others' into seen.
func (a *Analyzer) observeFull(s *source.Sample, now int64, view []int64) bool {
	old := a.carried
	a.carried = nil
	// The count the bound is checked against is that of seen as one map
	// of every tracked socket (what a walk of whole samples would hold):
	// the last poll's sockets, then each new one.
	tracking := len(a.seen) + old.size()
	estab := 0
	for i := range s.NumSockets() {
		if s.Socket(i).State == source.Established {
			estab++
		}
	}
	ca := newCarriedAges(s.Time, estab)
	truncated := false
	for i := range s.NumSockets() {
		sk := s.Socket(i)
		est := sk.State == source.Established
		if !tracked(sk.State) || sk.Cookie == 0 {
			if est {
				ca.add(sk.Cookie, 0)
			}
			continue
		}
		ms, known := old.lookup(sk.Cookie)
		if !known {
			var e seenAt
			if e, known = a.seen[sk.Cookie]; known {
				ms = e.ms
			} else {
				// Dumped twice (it moved during the dump): the first
				// one's time.
				ms, known = ca.lookup(sk.Cookie)
			}
		}
		if !known {
			if tracking >= a.maxTracked {
				truncated = true
				if est {
					ca.add(sk.Cookie, 0)
				}
				continue
			}
			tracking++
			ms = now
		}
		view[i] = ms
		if est {
			ca.add(sk.Cookie, ms)
			continue
		}
		a.seen[sk.Cookie] = seenAt{ms: ms, gen: a.gen}
	}
	if truncated || estab == 0 {
		// Not all of them have a time to carry (a later poll may give
		// the missing ones one): they are tracked in seen.
		for i, c := range ca.cookies {
			if ms := ca.ms[i]; ms != 0 {
				a.seen[c] = seenAt{ms: ms, gen: a.gen}
			}
		}
		a.sweep()
		return truncated
	}
	a.carried = ca
	n := len(a.seen)
	for k, e := range a.seen {
		if _, twice := ca.lookup(k); e.gen != a.gen || twice {
			// Gone; or dumped twice, ESTABLISHED and in another state
			// (it moved during the dump): one socket, kept once, in
			// the carried times (as a partial poll would).
			delete(a.seen, k)
		}
	}
	a.shrinkSeen(n)
	return truncated
}

// sweep forgets the sockets this poll did not see.
func (a *Analyzer) sweep() {
	n := len(a.seen)
	for k, e := range a.seen {
		if e.gen != a.gen {
			delete(a.seen, k)
		}
	}
	a.shrinkSeen(n)
}

// shrinkSeen makes seen a map of its size when it has lost most of the
// peak entries it held: a map keeps the room of its peak, and walking it
// (each poll's sweep) costs that room, not its entries. The first poll's
// ESTABLISHED sockets pass through it, then live in the carried times.
func (a *Analyzer) shrinkSeen(peak int) {
	if peak < 4096 || len(a.seen) > peak/8 {
		return
	}
	m := make(map[uint64]seenAt, len(a.seen))
	for k, e := range a.seen {
		m[k] = e
	}
	a.seen = m
}

// enterPending enters the pending poll's sockets in seen, as that poll
// would have.
func (a *Analyzer) enterPending() {
	s := a.pending
	if s == nil {
		return
	}
	a.pending = nil
	if len(a.seen) == 0 {
		a.seen = make(map[uint64]seenAt, s.NumSockets()-a.pendingFrom)
	}
	for i := a.pendingFrom; i < s.NumSockets(); i++ {
		if sk := s.Socket(i); tracked(sk.State) && sk.Cookie != 0 {
			a.seen[sk.Cookie] = seenAt{ms: a.pendingMs, gen: a.pendingGen}
		}
	}
}

// carriedAges are the first-seen times of a full sample's ESTABLISHED
// sockets, in their order: what the partial samples after it carry
// (source.Sample.Partial: they are s.Sockets[:n], the same at every
// partial poll until the next full dump). They are the same at each of
// those polls, so they are kept once, out of Analyzer.seen, and not
// walked again; read-only once made.
type carriedAges struct {
	full time.Time
	n    int
	// checked: a partial sample's first n sockets were found to be
	// these (cookies), in this order.
	checked bool
	cookies []uint64
	ms      []int64 // aligned with cookies (0: no cookie, or not tracked)
	count   int     // how many distinct cookies have a time
	// slots index ms by cookie: open addressing, linear probing,
	// index+1 (0: empty); far cheaper to fill than a map of 90k.
	slots []int32
	mask  uint64
}

// newCarriedAges makes room for the times of n sockets.
func newCarriedAges(full time.Time, n int) *carriedAges {
	size := 16
	for size < 2*n {
		size *= 2
	}
	return &carriedAges{full: full, n: n, cookies: make([]uint64, 0, n), ms: make([]int64, 0, n),
		slots: make([]int32, size), mask: uint64(size - 1)}
}

// add appends the next socket's cookie and time (0: none); a cookie that
// comes twice keeps its first time in the index.
func (ca *carriedAges) add(cookie uint64, ms int64) {
	ca.cookies = append(ca.cookies, cookie)
	ca.ms = append(ca.ms, ms)
	if ms == 0 || cookie == 0 {
		return
	}
	for j := hashCookie(cookie) & ca.mask; ; j = (j + 1) & ca.mask {
		v := ca.slots[j]
		if v == 0 {
			ca.slots[j] = int32(len(ca.cookies))
			ca.count++
			return
		}
		if ca.cookies[v-1] == cookie {
			return
		}
	}
}

// hashCookie spreads socket cookies (often sequential) over the slots.
func hashCookie(c uint64) uint64 {
	c ^= c >> 33
	c *= 0xff51afd7ed558ccd
	c ^= c >> 33
	return c
}

// lookup returns the time kept for a cookie (nil: none).
func (ca *carriedAges) lookup(c uint64) (int64, bool) {
	if ca == nil {
		return 0, false
	}
	for j := hashCookie(c) & ca.mask; ; j = (j + 1) & ca.mask {
		v := ca.slots[j]
		if v == 0 {
			return 0, false
		}
		if ca.cookies[v-1] == c {
			return ca.ms[v-1], true
		}
	}
}

// size is how many sockets have a time in ca (nil: 0).
func (ca *carriedAges) size() int {
	if ca == nil {
		return 0
	}
	return ca.count
}

// matches reports whether s carries ca's sockets: the same full dump, and
// (checked once) the same sockets in the same order.
func (ca *carriedAges) matches(s *source.Sample) bool {
	p := s.Partial
	if p == nil || !ca.full.Equal(p.FullTime) || ca.n != p.Carried || p.Carried > s.NumSockets() {
		return false
	}
	if !ca.checked {
		for i := range ca.n {
			if sk := s.Socket(i); sk.State != source.Established || sk.Cookie != ca.cookies[i] {
				return false
			}
		}
		ca.checked = true
	}
	return true
}

// carriedAgesFor returns the carried sockets' first-seen times for s, or
// nil when s carries none (or they do not all fit under maxTracked: then
// every socket is observed as one dump). Times kept for another full
// dump go back into seen, so the sockets of this poll find them.
func (a *Analyzer) carriedAgesFor(s *source.Sample, now int64) *carriedAges {
	p := s.Partial
	if ca := a.carried; ca != nil {
		if ca.matches(s) {
			return ca
		}
		a.carried = nil
		a.foldBack(ca)
	}
	if p == nil || p.Carried <= 0 || p.Carried > s.NumSockets() {
		return nil
	}
	for i := range p.Carried {
		if s.Socket(i).State != source.Established {
			return nil
		}
	}
	ca := newCarriedAges(p.FullTime, p.Carried)
	ca.checked = true
	added := 0
	for i := range p.Carried {
		sk := s.Socket(i)
		if sk.Cookie == 0 {
			ca.add(0, 0)
			continue
		}
		if e, ok := a.seen[sk.Cookie]; ok {
			ca.add(sk.Cookie, e.ms)
			continue
		}
		if ms, twice := ca.lookup(sk.Cookie); twice {
			ca.add(sk.Cookie, ms)
			continue
		}
		if len(a.seen)+added >= a.maxTracked {
			a.foldBack(ca)
			return nil
		}
		added++
		ca.add(sk.Cookie, now)
	}
	// Out of seen only now: a socket carried twice finds its time.
	n := len(a.seen)
	for _, c := range ca.cookies {
		delete(a.seen, c)
	}
	a.shrinkSeen(n)
	a.carried = ca
	return ca
}

// foldBack returns carried first-seen times to seen, as of the previous
// poll: the sockets of this one refresh those still there.
func (a *Analyzer) foldBack(ca *carriedAges) {
	for i, c := range ca.cookies {
		if ms := ca.ms[i]; ms != 0 {
			if _, ok := a.seen[c]; !ok {
				a.seen[c] = seenAt{ms: ms, gen: a.gen - 1}
			}
		}
	}
}

// Tracked returns how many sockets have a first-seen time (for tests and
// the memory bound).
func (a *Analyzer) Tracked() int {
	a.enterPending()
	return len(a.seen) + a.carried.size()
}

// SocketAge returns how long a socket has existed as far as tcptop knows,
// and whether that is known. TIME_WAIT: from its timer (exact). Tracked
// states: since the first poll that saw it, so at most the time tcptop has
// been watching (at least tells whether it persisted across polls);
// CLOSE_WAIT with tcp_info: at least the time since the peer's last
// segment.
func (snap *Snapshot) SocketAge(sk *source.Socket) (time.Duration, bool) {
	if sk.State == source.TimeWait {
		left := time.Duration(sk.Expires) * time.Millisecond
		return max(0, TimeWaitLen-left), true
	}
	var age time.Duration
	known := false
	if ms, ok := snap.firstSeenOf(sk); ok && tracked(sk.State) {
		age, known = snap.Time.Sub(time.UnixMilli(ms)), true
	}
	// CLOSE_WAIT: the kernel's time since the peer's last segment (its
	// FIN, or later) is a lower bound of the time in CLOSE_WAIT, known at
	// the first look (see source.ageCloseWait).
	if sk.State == source.CloseWait && sk.Info != nil {
		age, known = max(age, time.Duration(sk.Info.LastAckRecv)*time.Millisecond), true
	}
	return age, known
}

// seenBefore reports whether a tracked socket was already there at an
// earlier poll.
func (snap *Snapshot) seenBefore(sk *source.Socket) bool {
	ms, ok := snap.firstSeenOf(sk)
	return ok && ms < snap.Time.UnixMilli()
}

// firstSeenOf is when the Analyzer first saw sk (Unix ms), for a socket of
// this snapshot's sample: found by its place in the sample when sk points
// into it (the usual case, no lookup), else by its cookie.
func (snap *Snapshot) firstSeenOf(sk *source.Socket) (int64, bool) {
	if snap.Sample == nil || len(snap.firstSeen) == 0 {
		return 0, false
	}
	s := snap.Sample
	if s.NumSockets() == len(snap.firstSeen) {
		carried, fresh := s.Parts()
		for base, socks := range [2][]source.Socket{carried, fresh} {
			if len(socks) == 0 {
				continue
			}
			off := uintptr(unsafe.Pointer(sk)) - uintptr(unsafe.Pointer(&socks[0]))
			if i := off / unsafe.Sizeof(socks[0]); off%unsafe.Sizeof(socks[0]) == 0 && i < uintptr(len(socks)) && &socks[i] == sk {
				ms := snap.firstSeen[base*len(carried)+int(i)]
				return ms, ms != 0
			}
		}
	}
	for i, x := range s.All() {
		if x.Cookie == sk.Cookie && sk.Cookie != 0 && i < len(snap.firstSeen) {
			ms := snap.firstSeen[i]
			return ms, ms != 0
		}
	}
	return 0, false
}

// Series returns a state's count over the snapshot's History, oldest first.
func (snap *Snapshot) Series(st source.State) []int {
	out := make([]int, len(snap.History))
	for i := range snap.History {
		out[i] = snap.History[i].States.Get(st)
	}
	return out
}
