package model

import (
	"cmp"
	"slices"
)

// buildListenerDrops gives each listener its drops rate since prev: by
// the LISTEN socket's cookie, so a restarted listener (a new socket, its
// counter from 0) is not taken for the old one. A listener prev did not
// have, while prev knew other listeners' drops, was created since: all of
// its drops are the interval's. Without prev, or when prev knew no
// listener's drops, the rate stays unknown.
func buildListenerDrops(snap, prev *Snapshot) {
	if prev == nil {
		return
	}
	sec := snap.Time.Sub(prev.Time).Seconds()
	if sec <= 0 {
		return
	}
	then := map[uint64]uint64{}
	for i := range prev.Listeners {
		if l := &prev.Listeners[i]; l.Drops != nil && l.cookie != 0 {
			then[l.cookie] = *l.Drops
		}
	}
	if len(then) == 0 {
		return
	}
	for i := range snap.Listeners {
		l := &snap.Listeners[i]
		if l.Drops == nil {
			continue
		}
		old, ok := then[l.cookie]
		if ok && old > *l.Drops {
			continue // not the same counter: leave it unknown
		}
		r := Rate(float64(*l.Drops-old) / sec)
		l.DropsPerSec = &r
	}
}

// keepListenerDrops copies the drops rates of snap's listeners onto n's,
// rebuilt from the same sample (so in the same order) without a previous
// snapshot.
func keepListenerDrops(n, snap *Snapshot) {
	if len(n.Listeners) != len(snap.Listeners) {
		return
	}
	for i := range n.Listeners {
		if n.Listeners[i].cookie == snap.Listeners[i].cookie {
			n.Listeners[i].DropsPerSec = snap.Listeners[i].DropsPerSec
		}
	}
}

// ListenerDropsKnown reports whether this snapshot knows each listener's
// own drops rate (Listener.DropsPerSec): then a rise of TcpExt
// ListenOverflows/ListenDrops can be put on the listeners that dropped,
// instead of inferred from which one looked full.
func (s *Snapshot) ListenerDropsKnown() bool {
	for i := range s.Listeners {
		if s.Listeners[i].DropsPerSec != nil {
			return true
		}
	}
	return false
}

// DroppingListeners are the listeners that dropped SYNs or handshakes
// since the previous snapshot (DropsPerSec > 0), most first; nil when none
// did or when the rates are unknown.
func (s *Snapshot) DroppingListeners() []*Listener {
	var out []*Listener
	for i := range s.Listeners {
		if r := s.Listeners[i].DropsPerSec; r != nil && *r > 0 {
			out = append(out, &s.Listeners[i])
		}
	}
	slices.SortStableFunc(out, func(a, b *Listener) int { return cmp.Compare(*b.DropsPerSec, *a.DropsPerSec) })
	return out
}
