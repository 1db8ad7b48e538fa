package record

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/tcptop/tcptop/source"
)

// partialCases are sequences of the partial dump schedule, plain and with
// what could trip the carried prefix's fast path: cookies 0, a cookie
// twice in the prefix, a prefix that changed although the sample says it
// is carried (values, a cookie, the order), a carried count past the
// sockets.
var partialCases = []struct {
	name   string
	mutate func(poll int, s *source.Sample)
}{
	{"plain", nil},
	{"cookie 0", func(poll int, s *source.Sample) {
		s.Sockets[3].Cookie, s.Sockets[len(s.Sockets)-2].Cookie = 0, 0
	}},
	{"duplicate in prefix", func(poll int, s *source.Sample) {
		s.Sockets[10].Cookie = s.Sockets[20].Cookie
		s.Sockets[30] = s.Sockets[5]
	}},
	{"duplicate after the prefix", func(poll int, s *source.Sample) {
		n := len(s.Sockets)
		if poll%5 != 2 {
			s.Sockets[n-5].Cookie = s.Sockets[n-50].Cookie
		}
		if poll%7 == 3 {
			s.Sockets[n-9] = s.Sockets[n-8]
		}
	}},
	{"prefix changes", func(poll int, s *source.Sample) {
		if s.Partial == nil {
			return
		}
		switch poll % 4 {
		case 0:
			s.Sockets[7].Cookie += 1 << 40
		case 1:
			s.Sockets[8].RecvQ += 100
			s.Sockets[9].Expires += 5
		case 2:
			s.Sockets[11], s.Sockets[12] = s.Sockets[12], s.Sockets[11]
		case 3:
			s.Partial = &source.Partial{FullTime: s.Partial.FullTime, Carried: s.Partial.Carried - 1}
		}
	}},
	{"carried past the end", func(poll int, s *source.Sample) {
		if s.Partial != nil && poll%3 == 0 {
			s.Partial = &source.Partial{FullTime: s.Partial.FullTime, Carried: len(s.Sockets) + 1}
		}
	}},
}

func partialSamples(mutate func(int, *source.Sample)) []*source.Sample {
	q := newPartialSeq(3000, 200, 600, 9)
	var out []*source.Sample
	for poll := range 45 {
		s := q.next()
		if mutate != nil {
			// The cases change sockets by their place in the one list
			// (the carried ones too, which a live sample never does):
			// on a copy, put apart again after.
			s.Carried, s.Sockets = nil, slices.Clone(s.Flat())
			mutate(poll, s)
			if p := s.Partial; p != nil && p.Carried > 0 && p.Carried <= len(s.Sockets) && poll%2 == 0 {
				n := p.Carried
				s.Carried, s.Sockets = s.Sockets[:n:n], s.Sockets[n:]
			}
		}
		// One counter: the encoder writes a map's keys in Go's map
		// order, which would make the digest below vary.
		s.Counters = map[string]int64{"ActiveOpens": s.Counters["ActiveOpens"]}
		out = append(out, s)
	}
	return out
}

// The index refers each socket to the same previous socket, and counts
// the same shifts, as the single map of every cookie's last position the
// encoder had before (refMatch, kept here as the reference): so a frame's
// bytes do not depend on the carried prefix's fast path or the guesses.
func TestMatchAsFlatIndex(t *testing.T) {
	for _, tc := range partialCases {
		t.Run(tc.name, func(t *testing.T) {
			var c codec
			c.reset()
			p := &stream{}
			var prev []source.Socket
			fast := 0
			for i, s := range partialSamples(tc.mutate) {
				got := c.match(p, s)
				want, shift := refMatch(prev, s.Flat())
				if !slices.Equal(got, want) {
					t.Fatalf("poll %d: references differ", i)
				}
				if got := c.shift.best(); got != shift {
					t.Fatalf("poll %d: shift %d, want %d", i, got, shift)
				}
				fast += p.nBase
				p.socks, prev = sockList{s.Carried, s.Sockets}, s.Flat()
				p.commit(s)
			}
			if fast == 0 {
				t.Fatal("the carried prefix was never indexed apart: this tests nothing")
			}
		})
	}
}

// refMatch is the encoder's matching before the split index.
func refMatch(prev, cur []source.Socket) ([]int32, uint32) {
	idx := map[uint64]int32{}
	for i := range prev {
		if prev[i].Cookie != 0 {
			idx[prev[i].Cookie] = int32(i)
		}
	}
	used := make([]bool, len(prev))
	refs := make([]int32, len(cur))
	shifts := map[uint32]int{}
	for i := range cur {
		sk := &cur[i]
		j, ok := idx[sk.Cookie]
		if !ok || sk.Cookie == 0 || used[j] {
			refs[i] = -1
			continue
		}
		used[j] = true
		refs[i] = j
		if o := &prev[j]; o.Timer != 0 && sk.Timer != 0 && o.Expires >= sk.Expires && len(shifts) < 64 {
			shifts[o.Expires-sk.Expires]++
		}
	}
	var shift uint32
	best := 0
	for d, n := range shifts {
		if n > best || (n == best && d < shift) {
			shift, best = d, n
		}
	}
	return refs, shift
}

// The frames of a partial schedule are byte for byte what the encoder
// wrote before the split index and the straight-line tcp_info (the
// digests were taken with that code, commit 9d4570e plus this test's
// sequence): recordings stay the same for the same samples. The
// sequences come from partialSeq (partial_bench_test.go): changing it
// means taking the digests again with that code, not with this one.
func TestFramesAsBefore(t *testing.T) {
	want := map[string]string{
		"plain":                      "dd29e0a4401954fa86d9fd0a9523cc2f237ed111e0b0d38f89cd30d939868b75",
		"cookie 0":                   "eec7558160e948002f2ed3611da3ba4f92e1d78e54de9c1f59b8458bafe83fda",
		"duplicate in prefix":        "631d159879334bc50607e1aa739126e7996b3f9822bcdfceba8f18fce60948dc",
		"duplicate after the prefix": "cc0fa03d4e5a31b633e65ed3709b60538f44905e42cdd8661051324b0cfc632c",
		"prefix changes":             "1be3c98a15505b7051d8606bdd8e63768a4c93291ba1a3494e64508be6db6bdd",
		"carried past the end":       "6447c1363abaf376b9804d8e0306a3592f6217caae23ec861e7072f0bb225526",
	}
	// Format 2 (meta.InfoShift: known CLOSE_WAIT sockets' tcp_info
	// predicted to age) changed the frames that hold such sockets; with
	// that prediction off they are format 1's, byte for byte.
	want2 := map[string]string{
		"plain":                      "7614874f72e50e6673cae0ea638fc06dc936a47aebf590334b1d18a155200e82",
		"cookie 0":                   "1bb5bd9bdbcf479c3afba3fb82a76f451ea225068e30e12d047f950f53e1e9d5",
		"duplicate in prefix":        "fd910ad3989d926dc4968c5165a1fab3357ccb5d279ac0642cb7e1696790e14f",
		"duplicate after the prefix": "91068bdaffa8ec7171a084ee610795516c524f36e3ead4d5efb86d771973389a",
		"prefix changes":             "e5ee747982e58ba71ea72dd0f128875dc91aeb053f7b275b437b17247ca92124",
		"carried past the end":       "e36295a70f55c865114d2d01c32b209d44fd33f9c90e2cd01c136662d7e3d417",
	}
	for _, v1 := range []bool{true, false} {
		for _, tc := range partialCases {
			var c codec
			c.noInfoShift = v1
			var raw []byte
			for i, s := range partialSamples(tc.mutate) {
				if i%20 == 0 { // a key chunk: the codec starts afresh
					c.reset()
				}
				var err error
				if raw, err = c.appendFrame(raw, s); err != nil {
					t.Fatal(err)
				}
			}
			sum := sha256.Sum256(raw)
			w := want2[tc.name]
			if v1 {
				w = want[tc.name]
			}
			if got := hex.EncodeToString(sum[:]); got != w {
				t.Errorf("%s (format 1: %v): frames digest %s, want %s", tc.name, v1, got, w)
			}
		}
	}
}

// fastCases add to partialCases what the fast path for a shared carried
// slice (matchCarried, appendSelf) must get right: a frame shift that is
// not 0, so that carried sockets compared with themselves write their
// running timers' expiries (some below the shift, which predict leaves);
// and carried places shadowed by fresh sockets whose shifts, more than
// the counter's 64 distinct ones, come between the carried sockets' own
// shift-0 adds.
var fastCases = []struct {
	name   string
	mutate func(poll int, s *source.Sample)
}{
	{"shift not 0", func(poll int, s *source.Sample) {
		for i := range s.Sockets {
			if sk := &s.Sockets[i]; sk.State == source.Established {
				sk.Timer, sk.Expires = 0, 0
				if sk.Cookie%8 == 0 {
					sk.Timer, sk.Expires = 2, uint32(sk.Cookie%1500)
				}
			}
		}
	}},
	{"many shifts", func(poll int, s *source.Sample) {
		if s.Partial == nil || s.Partial.Carried < 200 {
			return
		}
		for i := range 200 {
			s.Sockets[i].Timer, s.Sockets[i].Expires = 2, uint32(5000+13*i)
		}
		for k := range 100 {
			tw := s.Sockets[2*k]
			tw.State, tw.Timer, tw.Expires = source.TimeWait, 3, tw.Expires+uint32(k+1)
			s.Sockets = append(s.Sockets, tw)
		}
	}},
}

// carriedSamples are partialSamples(mutate) with their carried prefix
// apart in Carried as the source hands it out: with share, the previous
// sample's very slice when its sockets are the same, else a slice of its
// own in every sample. shared counts the samples given the previous slice.
func carriedSamples(mutate func(int, *source.Sample), share, apart bool) (out []*source.Sample, shared int) {
	out, shared, _ = carriedSamplesApart(mutate, share, apart)
	return out, shared
}

// carriedSamplesApart is carriedSamples, also counting the partial
// samples given a full sample's slice (apart: the first after it).
func carriedSamplesApart(mutate func(int, *source.Sample), share, apart bool) (out []*source.Sample, shared, afterFull int) {
	var prev []source.Socket
	prevFull := false
	for _, s := range partialSamples(mutate) {
		flat := s.Flat()
		p := s.Partial
		if p == nil && apart && share {
			// A full sample with its ESTABLISHED sockets put apart, as
			// source.Kernel does on the dump schedule (partialSeq
			// lists them first): the partial samples after it share
			// them.
			n := 0
			for n < len(flat) && flat[n].State == source.Established {
				n++
			}
			prev, prevFull = slices.Clip(slices.Clone(flat[:n])), true
			s.Carried, s.Sockets = prev, slices.Clone(flat[n:])
			out = append(out, s)
			continue
		}
		if p == nil || p.Carried == 0 || p.Carried > len(flat) {
			s.Carried, s.Sockets, prev = nil, slices.Clone(flat), nil
			out = append(out, s)
			continue
		}
		n := p.Carried
		if share && len(prev) == n && reflect.DeepEqual(prev, flat[:n]) {
			shared++
			if prevFull {
				afterFull++
			}
		} else {
			prev = slices.Clip(slices.Clone(flat[:n]))
		}
		prevFull = false
		s.Carried, s.Sockets = prev, slices.Clone(flat[n:])
		out = append(out, s)
	}
	return out, shared, afterFull
}

// The fast path writes the bytes the general one does, frame by frame,
// whether the carried slice is shared between samples or not, and its
// references and shift are the single map's (refMatch).
func TestFastPathAsGeneral(t *testing.T) {
	fastFrames := 0
	for _, tc := range append(slices.Clone(partialCases), fastCases...) {
		for _, mode := range []struct{ share, apart bool }{{true, false}, {false, false}, {true, true}} {
			share := mode.share
			samples, shared, afterFull := carriedSamplesApart(tc.mutate, share, mode.apart)
			firstFast := 0
			var fast, slow codec
			slow.noFast = true
			var prev []source.Socket
			n := 0
			for i, s := range samples {
				if i%20 == 0 {
					fast.reset()
					slow.reset()
					prev = nil
				}
				a, err := fast.appendFrame(nil, s)
				if err != nil {
					t.Fatal(err)
				}
				if fast.fastN > 0 {
					n++
				}
				if i > 0 && i%20 != 0 && s.Partial != nil && samples[i-1].Partial == nil && len(s.Carried) > 0 &&
					len(samples[i-1].Carried) == len(s.Carried) && &samples[i-1].Carried[0] == &s.Carried[0] {
					// The first partial frame after a full one whose
					// ESTABLISHED sockets were put apart shares its
					// slice: the fast path from there on.
					if fast.fastN == 0 {
						t.Errorf("%s, poll %d: the first partial frame after a full one with its sockets apart took the general path", tc.name, i)
					}
					firstFast++
				}
				want, shift := refMatch(prev, s.Flat())
				if !slices.Equal(fast.refs, want) || fast.shift.best() != shift {
					t.Fatalf("%s (shared %v), poll %d: references or shift differ from refMatch's", tc.name, share, i)
				}
				b, err := slow.appendFrame(nil, s)
				if err != nil {
					t.Fatal(err)
				}
				if slow.fastN > 0 {
					t.Fatal("noFast did not turn the fast path off")
				}
				if !bytes.Equal(a, b) {
					t.Fatalf("%s (shared %v), poll %d: the fast path wrote other bytes (fast path taken: %v)", tc.name, share, i, fast.fastN > 0)
				}
				prev = s.Flat()
			}
			if !share && n > 0 {
				t.Errorf("%s: the fast path was taken for unshared carried sockets", tc.name)
			}
			if share && shared > 4 && n == 0 {
				t.Errorf("%s: %d samples shared their carried sockets, the fast path was never taken", tc.name, shared)
			}
			if mode.apart && firstFast == 0 && afterFull > 2 {
				t.Errorf("%s: %d partial samples shared a full sample's ESTABLISHED sockets, none took the fast path", tc.name, afterFull)
			}
			fastFrames += n
		}
	}
	if fastFrames == 0 {
		t.Fatal("the fast path was never taken: this tests nothing")
	}
}

// cookieTab gives every cookie's last place, as a map does, at every
// size from empty to a full dump's (probes wrapping round the end too),
// and reset forgets what a larger frame put.
func TestCookieTab(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var tab cookieTab
	for _, n := range []int{0, 1, 5, 100, 3000, 100_000, 40} {
		tab.reset(n)
		want := map[uint64]int32{}
		for i := range n {
			ck := 1 + uint64(rng.IntN(max(1, n)))*uint64(1+rng.IntN(3)) // duplicates
			tab.put(ck, int32(i))
			want[ck] = int32(i)
		}
		if tab.n != len(want) {
			t.Fatalf("%d puts: %d cookies, want %d", n, tab.n, len(want))
		}
		for ck := uint64(0); ck < uint64(4*n+10); ck++ {
			got, ok := tab.get(ck)
			w, wok := want[ck]
			if ok != wok || got != w {
				t.Fatalf("%d puts: cookie %d at %d %v, want %d %v", n, ck, got, ok, w, wok)
			}
		}
	}
}

// searchFrom finds what a binary search over the whole slice finds, from
// any start at or before it.
func TestSearchFrom(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 200 {
		a := make([]int32, rng.IntN(70))
		v := int32(0)
		for i := range a {
			v += int32(rng.IntN(4))
			a[i] = v
		}
		for q := int32(-1); q <= v+1; q++ {
			want, _ := slices.BinarySearch(a, q)
			for from := 0; from <= want; from++ {
				if got := searchFrom(a, from, q); got != want {
					t.Fatalf("searchFrom(%v, %d, %d) = %d, want %d", a, from, q, got, want)
				}
			}
		}
	}
}

// A redacted partial sample carries one redacted slice as long as the
// samples share theirs, and its frames are those of the same samples
// redacted with nothing carried.
func TestRedactShared(t *testing.T) {
	samples, _ := carriedSamples(nil, true, false)
	ra, rb := NewRedactorKey([]byte("k")), NewRedactorKey([]byte("k"))
	var ca, cb codec
	ca.reset()
	cb.reset()
	var last *source.Socket
	shared, fast := 0, 0
	for i, s := range samples {
		a := ra.Sample(s)
		flat := *s
		flat.Carried, flat.Sockets = nil, s.Flat()
		b := rb.Sample(&flat)
		if !reflect.DeepEqual(a.Flat(), b.Flat()) {
			t.Fatalf("poll %d: the redacted sockets differ", i)
		}
		if len(a.Carried) > 0 && &a.Carried[0] == last {
			shared++
		}
		if len(a.Carried) > 0 {
			last = &a.Carried[0]
		}
		fa, err := ca.appendFrame(nil, a)
		if err != nil {
			t.Fatal(err)
		}
		if ca.fastN > 0 {
			fast++
		}
		fb, err := cb.appendFrame(nil, b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fa, fb) {
			t.Fatalf("poll %d: the frames differ", i)
		}
	}
	if shared == 0 || fast == 0 {
		t.Fatalf("redacted samples shared their carried sockets %d times, fast path %d: want both", shared, fast)
	}
}

// TestInfoShiftRoundTrip: the partial schedule's frames (known CLOSE_WAIT
// sockets whose tcp_info tcptop ages by the time between polls, and the
// cases' odd prefixes) decode to every field of every socket, tcp_info
// included, and format 2's prediction makes them smaller than format 1's.
func TestInfoShiftRoundTrip(t *testing.T) {
	for _, tc := range partialCases {
		size := map[bool]int{}
		for _, v1 := range []bool{true, false} {
			var enc, dec codec
			enc.noInfoShift = v1
			predicted := 0
			for i, s := range partialSamples(tc.mutate) {
				if i%20 == 0 {
					enc.reset()
					dec.reset()
				}
				raw, err := enc.appendFrame(nil, s)
				if err != nil {
					t.Fatal(err)
				}
				size[v1] += len(raw)
				if enc.frameInfoShift != 0 {
					predicted++
				}
				got, err := dec.readFrame(&cursor{b: raw})
				if err != nil {
					t.Fatalf("%s poll %d: %v", tc.name, i, err)
				}
				want := s.Flat()
				if len(got.Sockets) != len(want) {
					t.Fatalf("%s poll %d: %d sockets, want %d", tc.name, i, len(got.Sockets), len(want))
				}
				for j := range want {
					g, w := got.Sockets[j], want[j]
					if !infoEqual(g.Info, w.Info) {
						t.Fatalf("%s (format 1: %v) poll %d socket %d (%v): tcp_info %+v, want %+v", tc.name, v1, i, j, w.State, g.Info, w.Info)
					}
					g.Info, w.Info = nil, nil
					if !reflect.DeepEqual(g, w) {
						t.Fatalf("%s poll %d socket %d: %+v, want %+v", tc.name, i, j, g, w)
					}
				}
			}
			if v1 != (predicted == 0) {
				t.Fatalf("%s (format 1: %v): %d frames with an InfoShift", tc.name, v1, predicted)
			}
		}
		if size[false] >= size[true] {
			t.Errorf("%s: format 2's frames are %d bytes, format 1's %d", tc.name, size[false], size[true])
		}
		t.Logf("%s: %d bytes raw, %d without the prediction", tc.name, size[false], size[true])
	}
}
