package record

import "math/bits"

// cookieTab maps socket cookies (never 0) to places: an index's maps
// (base, rest). It does what a map[uint64]int32 did, three to four times
// faster to fill (~7 ns a cookie instead of ~26 at 100k, the cost that
// made a full frame and the first partial frame after it the dearest of
// the dump schedule, issue 18): open addressing with linear probing over
// one array, a cookie and its place side by side (one cache miss a
// look-up), at most two thirds full. The kernel hands out cookies from a
// counter, so they are close to sequential, which a Fibonacci hash
// spreads evenly.
//
// reset sizes the table for a frame and clears only what that frame
// uses: the array keeps the largest size it had, so a table that held a
// full dump's 100k cookies costs the partial polls' ~10k after it only
// what they use.
type cookieTab struct {
	s []cookieSlot // len: this frame's size; cap: the largest
	n int          // distinct cookies
}

type cookieSlot struct {
	ck  uint64 // 0: empty
	pos int32
}

// reset empties t and sizes it for up to need cookies.
func (t *cookieTab) reset(need int) {
	size := need + need/2 + 16
	if cap(t.s) < size {
		t.s = make([]cookieSlot, size)
	} else {
		t.s = t.s[:size]
		clear(t.s)
	}
	t.n = 0
}

// home is where cookie ck's probe starts: its Fibonacci hash scaled to
// the table's size.
func (t *cookieTab) home(ck uint64) int {
	hi, _ := bits.Mul64(ck*0x9E3779B97F4A7C15, uint64(len(t.s)))
	return int(hi)
}

// put sets ck's place (ck != 0); the table must have room (reset's need).
func (t *cookieTab) put(ck uint64, pos int32) {
	for i := t.home(ck); ; {
		s := &t.s[i]
		if s.ck == ck {
			s.pos = pos
			return
		}
		if s.ck == 0 {
			s.ck, s.pos = ck, pos
			t.n++
			return
		}
		if i++; i == len(t.s) {
			i = 0
		}
	}
}

// get is ck's place (false for 0, never put).
func (t *cookieTab) get(ck uint64) (int32, bool) {
	if ck == 0 || len(t.s) == 0 {
		return 0, false
	}
	for i := t.home(ck); ; {
		s := &t.s[i]
		if s.ck == ck {
			return s.pos, true
		}
		if s.ck == 0 {
			return 0, false
		}
		if i++; i == len(t.s) {
			i = 0
		}
	}
}
