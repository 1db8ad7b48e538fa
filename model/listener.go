package model

import (
	"net/netip"
	"slices"
)

// listenPoint is what the history keeps of one listener at one poll.
type listenPoint struct {
	queue, synRecv uint32
}

// ListenerView is one listener's drill-down: its queue over the history,
// what the namespace's overflow counters did while it was full, who
// connects to it and who owns it.
type ListenerView struct {
	Listener Listener
	// Queue and SynRecv are the accept queue's length and the SYN_RECV
	// count at each poll of the snapshot's History, oldest first.
	Queue, SynRecv []int
	// FullPolls counts the polls of the History at which the queue was
	// full.
	FullPolls int
	// OverflowsWhileFull and DropsWhileFull add up the TcpExt
	// ListenOverflows and ListenDrops increases into the polls at which
	// this listener was full. The counters are the namespace's: they are
	// this listener's as far as no other listener was full then.
	OverflowsWhileFull, DropsWhileFull int64
	// CountersKnown: the History has those counters.
	CountersKnown bool
	// OthersFull counts the polls at which this listener and another one
	// were full together (the counters cannot tell them apart there).
	OthersFull int
	// Peers are the incoming peers connecting to the listener, largest
	// first (the snapshot's peer order).
	Peers []Peer
	// Somaxconn is net.core.somaxconn (0 when unknown): the cap on every
	// backlog. Listener.CappedBySomaxconn says whether this one equals it.
	Somaxconn int
}

// ListenerView returns the drill-down of the listener at addr (as in
// Listener.Addr), false when the snapshot has no such listener.
func (snap *Snapshot) ListenerView(addr netip.AddrPort) (ListenerView, bool) {
	i := slices.IndexFunc(snap.Listeners, func(l Listener) bool { return l.Addr == addr })
	if i < 0 {
		return ListenerView{}, false
	}
	v := ListenerView{Listener: snap.Listeners[i]}
	if snap.Sample != nil {
		v.Somaxconn = snap.Sample.Sysctl.Somaxconn
	}
	for j := range snap.Peers {
		if snap.Peers[j].Key.Listener == addr {
			v.Peers = append(v.Peers, snap.Peers[j])
		}
	}
	h := snap.History
	v.Queue, v.SynRecv = make([]int, len(h)), make([]int, len(h))
	for j := range h {
		p := &h[j]
		lp := p.listen[addr]
		v.Queue[j], v.SynRecv[j] = int(lp.queue), int(lp.synRecv)
		if !p.full[addr] {
			continue
		}
		v.FullPolls++
		if len(p.full) > 1 {
			v.OthersFull++
		}
		if j == 0 {
			continue
		}
		prev := &h[j-1]
		ov, ok1 := counterDelta(prev, p, "ListenOverflows")
		dr, ok2 := counterDelta(prev, p, "ListenDrops")
		if ok1 && ok2 {
			v.CountersKnown = true
			v.OverflowsWhileFull += ov
			v.DropsWhileFull += dr
		}
	}
	if !v.CountersKnown && len(h) > 1 {
		_, ok := h[len(h)-1].counters["ListenOverflows"]
		v.CountersKnown = ok
	}
	return v, true
}

// counterDelta is a counter's increase from one Point to the next; a
// counter that went down (a namespace recreated) counts nothing.
func counterDelta(prev, p *Point, name string) (int64, bool) {
	a, ok1 := prev.counters[name]
	b, ok2 := p.counters[name]
	if !ok1 || !ok2 {
		return 0, false
	}
	return max(0, b-a), true
}
