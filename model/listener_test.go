package model

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/tcptop/tcptop/source"
)

// TestListenerView: the queue and SYN_RECV over the history, the counters'
// increases into the polls it was full (not those before), its incoming
// peers, owners and the somaxconn cap.
func TestListenerView(t *testing.T) {
	ctr := func(over, drops int64) map[string]int64 {
		return map[string]int64{"ListenOverflows": over, "ListenDrops": drops}
	}
	withClient := func(q, bl uint32, syn int) func(b *sb) {
		return func(b *sb) {
			server(q, bl, syn)(b)
			b.add(source.Established, "127.0.0.1:8080", addr("192.0.2.7", 50000), 501, []int32{10}, false)
			b.add(source.Established, "127.0.0.1:9999", addr("192.0.2.8", 50001), 502, []int32{10}, false)
		}
	}
	a := NewAnalyzer(DefaultThresholds())
	var snap *Snapshot
	for _, p := range []poll{
		{sec: 0, build: withClient(0, 8, 0), counters: ctr(100, 100)},
		{sec: 1, build: withClient(3, 8, 1), counters: ctr(104, 104)}, // not full: not counted
		{sec: 2, build: withClient(9, 8, 2), counters: ctr(110, 111)}, // full: +6, +7
		{sec: 3, build: withClient(9, 8, 2), counters: ctr(112, 114)}, // full: +2, +3
		{sec: 4, build: withClient(1, 8, 0), counters: ctr(120, 120)},
	} {
		snap = a.Next(p.sample(), Options{})
	}
	addrL := netip.MustParseAddrPort("127.0.0.1:8080")
	v, ok := snap.ListenerView(addrL)
	if !ok {
		t.Fatal("no listener view")
	}
	if !slices.Equal(v.Queue, []int{0, 3, 9, 9, 1}) || !slices.Equal(v.SynRecv, []int{0, 1, 2, 2, 0}) {
		t.Errorf("queue %v syn %v", v.Queue, v.SynRecv)
	}
	if v.FullPolls != 2 || v.OverflowsWhileFull != 8 || v.DropsWhileFull != 10 || !v.CountersKnown || v.OthersFull != 0 {
		t.Errorf("full %d overflows %d drops %d known %v others %d", v.FullPolls, v.OverflowsWhileFull, v.DropsWhileFull, v.CountersKnown, v.OthersFull)
	}
	if len(v.Peers) != 1 || v.Peers[0].Key.Remote.Addr() != netip.MustParseAddr("192.0.2.7") {
		t.Errorf("peers %+v", v.Peers)
	}
	if v.Somaxconn != 4096 || v.Listener.CappedBySomaxconn || len(v.Listener.Processes) != 1 || v.Listener.Processes[0].PID != 10 {
		t.Errorf("somaxconn %d capped %v owners %v", v.Somaxconn, v.Listener.CappedBySomaxconn, v.Listener.Processes)
	}
	if _, ok := snap.ListenerView(netip.MustParseAddrPort("127.0.0.1:1")); ok {
		t.Error("a view of no listener")
	}
}
