package model

import (
	"testing"

	"github.com/tcptop/tcptop/source"
)

// TestLocalPortGroups: the ports connect() handed out fold into one row
// placed by the sort; a listening port, a reserved one and one outside
// the range keep their rows; EphemeralPorts lists what was folded.
func TestLocalPortGroups(t *testing.T) {
	p := poll{build: func(b *sb) {
		b.add(source.Listen, "127.0.0.1:8080", "0.0.0.0:0", 1, []int32{10}, false)
		b.add(source.Established, "127.0.0.1:8080", addr("127.0.0.1", 33000), 2, []int32{10}, false)
		for i := range 3 {
			b.add(source.Established, addr("127.0.0.1", 33000+i), "192.0.2.1:443", uint32(10+i), []int32{20}, false)
		}
		b.add(source.TimeWait, addr("127.0.0.1", 33005), "192.0.2.1:443", 0, nil, false)
		b.add(source.Established, addr("127.0.0.1", 40005), "192.0.2.1:443", 30, []int32{30}, false) // reserved
		b.add(source.Established, "127.0.0.1:5000", "192.0.2.1:443", 31, []int32{30}, false)         // below the range
	}}
	snap := Build(p.sample(), nil, Options{})
	rows := snap.LocalPortGroups()
	if len(rows) != 4 {
		t.Fatalf("rows %+v", rows)
	}
	e := rows[0]
	if !e.Ephemeral || e.Port != 0 || e.Ports != 4 || e.Total != 4 || e.States[source.Established] != 3 || e.States[source.TimeWait] != 1 {
		t.Errorf("ephemeral row first with 4 ports, 4 sockets: %+v", e)
	}
	if len(e.Processes) != 2 || e.Processes[0].PID != 0 || e.Processes[1].PID != 20 {
		t.Errorf("ephemeral owners %+v", e.Processes)
	}
	for _, r := range rows[1:] {
		if r.Ephemeral || (r.Port != 8080 && r.Port != 40005 && r.Port != 5000) {
			t.Errorf("row %+v", r)
		}
	}
	if eps := snap.EphemeralPorts(); len(eps) != 4 || eps[0].Port < 33000 {
		t.Errorf("EphemeralPorts %+v", eps)
	}
	// Sorted by TIME_WAIT reversed (fewest first): the group goes last.
	snap = Build(p.sample(), nil, Options{Sort: SortKey{State: source.TimeWait, Reverse: true}})
	if rows := snap.LocalPortGroups(); !rows[len(rows)-1].Ephemeral {
		t.Errorf("reversed: the ephemeral row is not last: %+v", rows)
	}
}

// TestPeersSockets: one pass gives each peer what PeerSockets gives it.
func TestPeersSockets(t *testing.T) {
	snap := Build(poll{build: server(0, 8, 3)}.sample(), nil, Options{})
	got := snap.PeersSockets(snap.Peers)
	for i := range snap.Peers {
		want := snap.PeerSockets(&snap.Peers[i])
		if len(got[i]) != len(want) {
			t.Fatalf("peer %d: %v, want %v", i, got[i], want)
		}
		for j := range want {
			if got[i][j] != want[j] {
				t.Fatalf("peer %d: %v, want %v", i, got[i], want)
			}
		}
	}
	if len(snap.Peers) == 0 {
		t.Fatal("no peers in the fixture")
	}
}
