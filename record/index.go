package record

import (
	"slices"

	"github.com/tcptop/tcptop/source"
)

// index finds a stream's previous sockets by cookie: a cookie's last
// position in them (what a frame's references point at).
//
// It is kept in two parts so that a partial poll (issue 18's schedule,
// source.Kernel.ReadPartial) costs what changed rather than what it
// carries: base indexes the first nBase sockets, the ESTABLISHED ones a
// partial poll carried from the last full dump, and is kept from frame to
// frame while the next one starts with the same cookies at the same
// places; rest indexes the sockets after them and is rebuilt every frame.
// A carried socket is then matched without a map: by comparing its cookie
// with the previous frame's at the same place; and any other socket is
// first tried at the place after the last one referenced (a dump keeps
// the kernel's hash order from poll to poll). The references, and so
// the bytes, are exactly those of a single map of every cookie's last
// position: a place is taken without a look-up only where that map would
// have given it (self, restUnique), and everything else is looked up as
// before. What a carried socket shadows (sh) is carried over from the
// socket it matched, so only new sockets are looked up for it. And when a
// partial frame carries the very slice the previous one did (between two
// full dumps, source.Sample.Carried), its carried sockets are not even
// read one by one: each is matched with itself but for the few places
// the index lists as exceptions (matchCarried).
type index struct {
	base  cookieTab // cookies of socks[:nBase] → last position among them
	nBase int
	// lastIn[i] (i < nBase): socks[i]'s cookie is not 0 and i is its last
	// position in base; self[i]: and it is not in rest either, so the
	// whole index gives i for it.
	lastIn, self []bool
	// rest: cookies of socks[nBase:] → last position; spare is the table
	// the next frame's rest is built in (reused, not reallocated; reset
	// clears only what a frame uses, so one that held a full dump's 100k
	// cookies costs the partial polls' ~10k after it only theirs).
	rest, spare cookieTab
	used        []bool // this frame: which previous sockets are referenced

	// restUnique: no cookie is twice in rest, so every place from nBase
	// on is its cookie's last (found without a map, when the socket at the
	// place guessed has the cookie).
	restUnique, nextUnique bool
	// sh[r] is the place in base of the cookie of socks[nBase+r] (-1:
	// none): the carried sockets that a socket after them shadows (one
	// that left ESTABLISHED since the full dump is in both). nextSh is
	// the next frame's, carried over from sh for the sockets matched.
	sh, nextSh []int32

	// What match learnt of the frame, for commit: its carried count and
	// whether base still serves.
	nb   int
	keep bool

	// notLast lists, ascending, the places i < nBase where lastIn[i] is
	// false (cookie 0, or a cookie again later in the prefix): with the
	// shadowed places (sh), the only carried sockets the fast path
	// (matchCarried) does not take as themselves.
	notLast []int32
	// selfDone: the places i < selfDone with self[i] are referenced by
	// the socket at the same place (the fast path does not mark them in
	// used one by one).
	selfDone int
	// tmPos and tmExp are the places, ascending, and expiries of the
	// carried sockets whose timer runs, of the carried slice starting at
	// tmOf with tmN sockets (kept while partial frames share it): what the
	// fast path needs of them, without reading 90k sockets a frame.
	tmPos []int32
	tmExp []uint32
	tmOf  *source.Socket
	tmN   int
	// cwInfo: the carried slice at cwOf, of cwN sockets, holds a
	// CLOSE_WAIT socket with tcp_info (agesInfo).
	cwInfo bool
	cwOf   *source.Socket
	cwN    int
}

// selfAt tells whether the index gives place k for socks[k]'s cookie
// (not 0).
func (x *index) selfAt(k int) bool {
	if k < x.nBase {
		return x.self[k]
	}
	return x.restUnique
}

// isUsed tells whether previous socket k is referenced already in this
// frame.
func (x *index) isUsed(k int32) bool {
	return x.used[k] || (int(k) < x.selfDone && x.self[k])
}

// lookup is a cookie's last position among the previous sockets.
func (x *index) lookup(cookie uint64) (int32, bool) {
	if j, ok := x.rest.get(cookie); ok {
		return j, true
	}
	return x.base.get(cookie)
}

// match finds, for each socket of s, the previous socket of p it refers
// to (-1: written whole) and counts the timers' shifts into c.shift.
// commit then makes p's index describe s, once the frame is written.
func (c *codec) match(p *stream, s *source.Sample) []int32 {
	n := s.NumSockets()
	// The carried prefix of this frame, which the next frame's base
	// covers.
	nb := 0
	switch pt := s.Partial; {
	case pt != nil && pt.Carried > 0 && pt.Carried <= n:
		nb = pt.Carried
	case pt == nil && len(s.Carried) > 0:
		// A full sample whose ESTABLISHED sockets were put apart for the
		// partial samples after it (source.Kernel on the dump schedule):
		// indexing them as the base lets the first of those take the
		// fast path. The references are the same either way.
		nb = len(s.Carried)
	}
	// The base can serve s too when s starts with the same cookies as
	// the previous frame, up to the same length (checked below).
	keep := nb > 0 && nb == p.nBase

	x := &p.index
	x.used = resize(x.used, p.socks.len())
	clear(x.used)
	x.selfDone = 0
	refs := c.refs[:0]
	if cap(refs) < n {
		refs = make([]int32, 0, n)
	}
	refs = refs[:n]
	// The cookies after the carried prefix: the next frame's rest.
	next := &x.spare
	next.reset(n - nb)
	c.shift.reset()
	c.infoShift.reset()
	if keep {
		x.nextSh = resize32(x.nextSh, n-nb)
	}
	inserted := 0
	guess := 0 // the place after the last reference: dumps keep their order
	start := 0
	c.fastN = 0
	if keep && c.sameCarried(p, s) {
		guess = c.matchCarried(p, s, refs)
		start, c.fastN, x.selfDone = nb, nb, nb
	}
	for i := start; i < n; i++ {
		sk := s.Socket(i)
		ck := sk.Cookie
		if i < x.nBase && ck != p.socks.at(i).Cookie {
			keep = false
		}
		j := int32(-1)
		if ck != 0 {
			var k int32
			var ok bool
			switch {
			case i < x.nBase && p.socks.at(i).Cookie == ck && x.self[i]:
				// The index would give i (the carried prefix): no map.
				k, ok = int32(i), true
			case guess < p.socks.len() && p.socks.at(guess).Cookie == ck && x.selfAt(guess):
				k, ok = int32(guess), true
			default:
				k, ok = x.lookup(ck)
			}
			if ok && !x.isUsed(k) {
				j = k
			}
			if i >= nb {
				next.put(ck, int32(i))
				inserted++
			}
		}
		refs[i] = j
		if keep && i >= nb {
			// The same base: what this socket shadows is what the one it
			// refers to did; only new ones are looked up.
			switch {
			case j >= int32(x.nBase):
				x.nextSh[i-nb] = x.sh[int(j)-x.nBase]
			case j >= 0:
				x.nextSh[i-nb] = j // found in base, so not shadowed before
			default:
				x.nextSh[i-nb] = x.inBase(ck)
			}
		}
		if j < 0 {
			continue
		}
		x.used[j] = true
		guess = int(j) + 1
		o := p.socks.at(int(j))
		if o.Timer != 0 && sk.Timer != 0 && o.Expires >= sk.Expires {
			c.shift.add(o.Expires - sk.Expires)
		}
		c.infoAge(o, sk)
	}
	c.refs = refs
	x.nb, x.keep = nb, keep
	x.nextUnique = inserted == next.n
	return refs
}

// sameCarried tells whether s carries the very sockets the previous frame
// of p carried, its base covering exactly them: the same slice (the same
// first element and length; a carried slice is read-only and shared
// between the partial samples of one full dump, source.Sample.Carried),
// so the same sockets, unchanged. Then each carried socket is compared
// with itself, which the fast path knows the outcome of without reading
// it. c.noFast turns the fast path off (the tests compare both paths).
func (c *codec) sameCarried(p *stream, s *source.Sample) bool {
	nb := p.nBase
	return !c.noFast && nb > 0 && len(s.Carried) == nb && len(p.socks.carried) == nb &&
		&s.Carried[0] == &p.socks.carried[0] && !p.index.agesInfo(s.Carried)
}

// agesInfo tells whether a carried slice holds a CLOSE_WAIT socket with
// tcp_info, whose info a frame may predict to age (predictsInfo): the
// fast path takes every carried socket as itself, unchanged, so such a
// slice takes the general path. The source carries ESTABLISHED sockets
// only; the answer is kept while frames share the slice.
func (x *index) agesInfo(carried []source.Socket) bool {
	if x.cwOf == &carried[0] && x.cwN == len(carried) {
		return x.cwInfo
	}
	x.cwInfo = false
	for i := range carried {
		if sk := &carried[i]; sk.State == source.CloseWait && sk.Info != nil {
			x.cwInfo = true
			break
		}
	}
	x.cwOf, x.cwN = &carried[0], len(carried)
	return x.cwInfo
}

// matchCarried is match for the carried prefix of s when sameCarried:
// the references, shifts, and used places of the general loop, with only
// the exceptions looked at one by one. A carried socket i whose cookie
// the whole index gives i for (self[i]) refers to itself, as the general
// loop finds, unless an earlier socket took i (a duplicate cookie: then
// it is an exception too, a stolen place); itself it adds shift 0 when its
// timer runs, counted by run with addN in the order the general loop adds
// them, for the counter is order-dependent. The exceptions, not self, are
// matched as in the general loop. It lists the places it matched one by
// one in c.exc, for appendFrame, and returns the place after the last
// reference (the guess).
func (c *codec) matchCarried(p *stream, s *source.Sample, refs []int32) int {
	x := &p.index
	nb := x.nBase
	x.timers(s.Carried)
	// The exceptions: notLast and the shadowed places (sh), ascending,
	// once each (a cookie twice among the previous fresh sockets shadows
	// one place twice). They are apart: a shadowed place is its cookie's
	// last in the prefix.
	sh := c.shScratch[:0]
	for _, k := range x.sh {
		if k >= 0 {
			sh = append(sh, k)
		}
	}
	slices.Sort(sh)
	sh = slices.Compact(sh)
	c.shScratch = sh
	exc := c.exc[:0]
	stolen, si := c.stolen[:0], 0 // stolen[si:] are still ahead
	guess, cur := 0, 0
	t := 0 // tmPos[t:] are the running timers at cur and after
	nl := x.notLast
	for {
		e := nb
		switch {
		case len(nl) > 0 && (len(sh) == 0 || nl[0] < sh[0]):
			e = int(nl[0])
		case len(sh) > 0:
			e = int(sh[0])
		}
		if si < len(stolen) && int(stolen[si]) < e {
			e = int(stolen[si])
		}
		if e > cur {
			for i := cur; i < e; i++ {
				refs[i] = int32(i)
			}
			end := searchFrom(x.tmPos, t, int32(e))
			c.shift.addN(0, end-t)
			t = end
			guess = e
		}
		if e == nb {
			break
		}
		if t < len(x.tmPos) && int(x.tmPos[t]) == e {
			t++
		}
		// e leaves whichever lists hold it (one: they are apart).
		if len(nl) > 0 && int(nl[0]) == e {
			nl = nl[1:]
		}
		if len(sh) > 0 && int(sh[0]) == e {
			sh = sh[1:]
		}
		if si < len(stolen) && int(stolen[si]) == e {
			si++
		}
		x.selfDone = e
		exc = append(exc, int32(e))
		sk := &s.Carried[e]
		j := int32(-1)
		if ck := sk.Cookie; ck != 0 {
			// As the general loop finds it (its shortcuts give what the
			// look-up gives; for a stolen place, e itself).
			if k, ok := x.lookup(ck); ok && !x.isUsed(k) {
				j = k
			}
		}
		refs[e] = j
		cur = e + 1
		if j < 0 {
			continue
		}
		x.used[j] = true
		guess = int(j) + 1
		if int(j) > e && int(j) < nb && x.self[j] {
			// j is a self place not reached yet: it is an exception now.
			at, _ := slices.BinarySearch(stolen[si:], j)
			stolen = slices.Insert(stolen, si+at, j)
		}
		o := p.socks.at(int(j))
		if o.Timer != 0 && sk.Timer != 0 && o.Expires >= sk.Expires {
			c.shift.add(o.Expires - sk.Expires)
		}
		c.infoAge(o, sk)
	}
	c.exc, c.stolen = exc, stolen
	return guess
}

// timers makes tmPos and tmExp describe carried, unless they already do.
func (x *index) timers(carried []source.Socket) {
	if x.tmOf == &carried[0] && x.tmN == len(carried) {
		return
	}
	x.tmPos, x.tmExp = x.tmPos[:0], x.tmExp[:0]
	for i := range carried {
		if sk := &carried[i]; sk.Timer != 0 {
			x.tmPos = append(x.tmPos, int32(i))
			x.tmExp = append(x.tmExp, sk.Expires)
		}
	}
	x.tmOf, x.tmN = &carried[0], len(carried)
}

// searchFrom is the first i >= from with a[i] >= v (len(a): none), a
// ascending: galloping from from, since the runs between two exceptions
// are short (a few dozen timers) and come in order.
func searchFrom(a []int32, from int, v int32) int {
	lo, step := from, 1
	for lo+step-1 < len(a) && a[lo+step-1] < v {
		lo += step
		step *= 2
	}
	hi := min(lo+step-1, len(a))
	i, _ := slices.BinarySearch(a[lo:hi], v)
	return lo + i
}

// commit makes p's index describe s (the frame match saw), for the next
// frame.
func (x *index) commit(s *source.Sample) {
	n, nb := s.NumSockets(), x.nb
	if !x.keep {
		x.base.reset(nb)
		// The carried sockets' running timers, for the fast path of the
		// frames that will carry the same slice (timers), read in the same
		// pass: 90k sockets read twice cost their cache misses twice.
		tm := nb > 0 && len(s.Carried) == nb
		if tm {
			x.tmPos, x.tmExp = x.tmPos[:0], x.tmExp[:0]
		}
		cookies := 0
		for i := range nb {
			sk := s.Socket(i)
			if ck := sk.Cookie; ck != 0 {
				x.base.put(ck, int32(i))
				cookies++
			}
			if tm && sk.Timer != 0 {
				x.tmPos = append(x.tmPos, int32(i))
				x.tmExp = append(x.tmExp, sk.Expires)
			}
		}
		if tm {
			x.tmOf, x.tmN = &s.Carried[0], nb
		}
		x.lastIn = resize(x.lastIn, nb)
		x.notLast = x.notLast[:0]
		for i := range nb {
			ck := s.Socket(i).Cookie
			// Without a cookie twice (the rule), no look-up.
			x.lastIn[i] = ck != 0 && (cookies == x.base.n || x.inBase(ck) == int32(i))
			if !x.lastIn[i] {
				x.notLast = append(x.notLast, int32(i))
			}
		}
		// What the sockets after the prefix shadow must be looked up.
		x.nextSh = x.nextSh[:0]
		if nb > 0 {
			x.nextSh = resize32(x.nextSh, n-nb)
			for i := nb; i < n; i++ {
				x.nextSh[i-nb] = x.inBase(s.Socket(i).Cookie)
			}
		}
	}
	x.self = resize(x.self, nb)
	copy(x.self, x.lastIn)
	for _, k := range x.nextSh {
		if k >= 0 {
			x.self[k] = false // a later socket has the cookie
		}
	}
	x.nBase = nb
	x.rest, x.spare = x.spare, x.rest
	x.sh, x.nextSh = x.nextSh, x.sh
	x.restUnique = x.nextUnique
}

// recycle is x emptied for another stream, its maps and slices kept.
func (x *index) recycle() index {
	x.base.reset(0)
	x.rest.reset(0)
	x.spare.reset(0)
	return index{base: x.base, rest: x.rest, spare: x.spare,
		lastIn: x.lastIn[:0], self: x.self[:0], used: x.used[:0], sh: x.sh[:0], nextSh: x.nextSh[:0],
		notLast: x.notLast[:0], tmPos: x.tmPos[:0], tmExp: x.tmExp[:0]}
}

// inBase is the place base gives a cookie (-1: none).
func (x *index) inBase(ck uint64) int32 {
	if k, ok := x.base.get(ck); ok {
		return k
	}
	return -1
}

func resize32(b []int32, n int) []int32 {
	if cap(b) < n {
		return make([]int32, n)
	}
	return b[:n]
}

func resize(b []bool, n int) []bool {
	if cap(b) < n {
		return make([]bool, n)
	}
	return b[:n]
}

// shiftCounter counts how far the matched sockets' timers ran down since
// the previous frame, to pick the frame's Shift: the most common, the
// smallest of equals. Like the map it replaces it counts at most 64
// distinct shifts and stops counting once it has seen that many.
type shiftCounter struct {
	d    [64]uint32
	n    [64]int
	k    int // distinct shifts seen
	last int // where the last one was found (most are the same)
}

func (s *shiftCounter) reset() { s.k, s.last = 0, 0 }

func (s *shiftCounter) add(d uint32) {
	if s.k >= len(s.d) {
		return
	}
	if s.last < s.k && s.d[s.last] == d {
		s.n[s.last]++
		return
	}
	for i := range s.k {
		if s.d[i] == d {
			s.n[i]++
			s.last = i
			return
		}
	}
	s.d[s.k], s.n[s.k], s.last = d, 1, s.k
	s.k++
}

// addN is n calls of add(d) (the fast path's carried sockets compared
// with themselves, shift 0 each): the first may be the 64th distinct
// shift, after which add counts nothing more.
func (s *shiftCounter) addN(d uint32, n int) {
	if n <= 0 || s.k >= len(s.d) {
		return
	}
	s.add(d)
	if s.k < len(s.d) {
		s.n[s.last] += n - 1
	}
}

func (s *shiftCounter) best() uint32 {
	var d uint32
	best := 0
	for i := range s.k {
		if s.n[i] > best || (s.n[i] == best && s.d[i] < d) {
			d, best = s.d[i], s.n[i]
		}
	}
	return d
}
