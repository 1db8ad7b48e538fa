package record

import "github.com/tcptop/tcptop/source"

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
// socket it matched, so only new sockets are looked up for it.
type index struct {
	base  map[uint64]int32 // cookies of socks[:nBase] → last position among them
	nBase int
	// lastIn[i] (i < nBase): socks[i]'s cookie is not 0 and i is its last
	// position in base; self[i]: and it is not in rest either, so the
	// whole index gives i for it.
	lastIn, self []bool
	// rest: cookies of socks[nBase:] → last position; spare is the map the
	// next frame's rest is built in (reused, not reallocated).
	rest, spare map[uint64]int32
	// restHW and spareHW are the most entries each map has held: a map
	// never shrinks, and clearing it costs its size, so one that once
	// held a full dump's 100k cookies is not kept for the partial polls'
	// ~10k after it (see match).
	restHW, spareHW int
	used            []bool // this frame: which previous sockets are referenced

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
}

// selfAt tells whether the index gives place k for socks[k]'s cookie
// (not 0).
func (x *index) selfAt(k int) bool {
	if k < x.nBase {
		return x.self[k]
	}
	return x.restUnique
}

// lookup is a cookie's last position among the previous sockets.
func (x *index) lookup(cookie uint64) (int32, bool) {
	if j, ok := x.rest[cookie]; ok {
		return j, true
	}
	j, ok := x.base[cookie]
	return j, ok
}

// match finds, for each socket of s, the previous socket of p it refers
// to (-1: written whole) and counts the timers' shifts into c.shift.
// commit then makes p's index describe s, once the frame is written.
func (c *codec) match(p *stream, s *source.Sample) []int32 {
	n := s.NumSockets()
	// The carried prefix of this frame, which the next frame's base
	// covers.
	nb := 0
	if pt := s.Partial; pt != nil && pt.Carried > 0 && pt.Carried <= n {
		nb = pt.Carried
	}
	// The base can serve s too when s starts with the same cookies as
	// the previous frame, up to the same length (checked below).
	keep := nb > 0 && nb == p.nBase

	x := &p.index
	x.used = resize(x.used, p.socks.len())
	clear(x.used)
	refs := c.refs[:0]
	if cap(refs) < n {
		refs = make([]int32, 0, n)
	}
	refs = refs[:n]
	next, need := x.spare, n-nb
	if next == nil || x.spareHW > 2*need+4096 || need > 2*x.spareHW+4096 {
		// Made to measure: the cookies after the carried prefix fit
		// without growing it, and a map sized for another schedule's
		// frame goes.
		next, x.spareHW = make(map[uint64]int32, need), 0
	}
	clear(next)
	c.shift.reset()
	if keep {
		x.nextSh = resize32(x.nextSh, n-nb)
	}
	inserted := 0
	guess := 0 // the place after the last reference: dumps keep their order
	for i := range s.NumSockets() {
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
			if ok && !x.used[k] {
				j = k
			}
			if i >= nb {
				next[ck] = int32(i)
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
		if o := p.socks.at(int(j)); o.Timer != 0 && sk.Timer != 0 && o.Expires >= sk.Expires {
			c.shift.add(o.Expires - sk.Expires)
		}
	}
	c.refs = refs
	x.nb, x.keep, x.spare = nb, keep, next
	x.spareHW = max(x.spareHW, len(next))
	x.nextUnique = inserted == len(next)
	return refs
}

// commit makes p's index describe s (the frame match saw), for the next
// frame.
func (x *index) commit(s *source.Sample) {
	n, nb := s.NumSockets(), x.nb
	if !x.keep {
		if x.base == nil && nb > 0 {
			x.base = make(map[uint64]int32, nb)
		}
		clear(x.base)
		cookies := 0
		for i := range nb {
			if ck := s.Socket(i).Cookie; ck != 0 {
				x.base[ck] = int32(i)
				cookies++
			}
		}
		x.lastIn = resize(x.lastIn, nb)
		for i := range nb {
			ck := s.Socket(i).Cookie
			// Without a cookie twice (the rule), no look-up.
			x.lastIn[i] = ck != 0 && (cookies == len(x.base) || x.base[ck] == int32(i))
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
	x.restHW, x.spareHW = x.spareHW, x.restHW
	x.sh, x.nextSh = x.nextSh, x.sh
	x.restUnique = x.nextUnique
}

// recycle is x emptied for another stream, its maps and slices kept.
func (x *index) recycle() index {
	clear(x.base)
	clear(x.rest)
	clear(x.spare)
	return index{base: x.base, rest: x.rest, spare: x.spare, restHW: x.restHW, spareHW: x.spareHW,
		lastIn: x.lastIn[:0], self: x.self[:0], used: x.used[:0], sh: x.sh[:0], nextSh: x.nextSh[:0]}
}

// inBase is the place base gives a cookie (-1: none).
func (x *index) inBase(ck uint64) int32 {
	if k, ok := x.base[ck]; ok && ck != 0 {
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
