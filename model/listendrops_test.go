package model

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tcptop/tcptop/source"
)

// TestListenerDrops: each listener's own drops give a rate from the
// second snapshot on, by socket: the full one drops, the idle one reads 0,
// a restarted listener (new cookie) counts from its new counter, a
// listener whose drops were not read has none; Rebuild keeps the rates;
// JSON has drops_per_sec only where known.
func TestListenerDrops(t *testing.T) {
	sample := func(at time.Duration, fullDrops uint32, fullCookie uint64, withDrops bool) *source.Sample {
		var b sb
		b.add(source.Listen, "127.0.0.1:7000", "0.0.0.0:0", 1, nil, false)
		b.add(source.Listen, "127.0.0.1:7001", "0.0.0.0:0", 2, nil, false)
		b.add(source.Listen, "127.0.0.1:7002", "0.0.0.0:0", 3, nil, false)
		full, idle, unread := &b.socks[0], &b.socks[1], &b.socks[2]
		full.RecvQ, full.SendQ, full.Cookie = 2, 1, fullCookie
		idle.SendQ, idle.Cookie = 1, 200
		unread.SendQ, unread.Cookie = 1, 300
		if withDrops {
			full.Drops, full.DropsKnown = fullDrops, true
			idle.DropsKnown = true
		}
		return &source.Sample{Time: t0.Add(at), Host: "h", Netns: "default", Sockets: b.socks, Sysctl: sysctls()}
	}
	byLocal := func(s *Snapshot, local string) *Listener {
		for i := range s.Listeners {
			if s.Listeners[i].Local == local {
				return &s.Listeners[i]
			}
		}
		t.Fatalf("no listener %s", local)
		return nil
	}
	rate := func(l *Listener) float64 {
		if l.DropsPerSec == nil {
			return -1
		}
		return float64(*l.DropsPerSec)
	}
	a := NewAnalyzer(DefaultThresholds())
	s1 := a.Next(sample(0, 10, 100, true), Options{})
	if l := byLocal(s1, "127.0.0.1:7000"); l.Drops == nil || *l.Drops != 10 || l.DropsPerSec != nil {
		t.Errorf("first snapshot: drops %v rate %v, want 10 and unknown", l.Drops, l.DropsPerSec)
	}
	s2 := a.Next(sample(2*time.Second, 30, 100, true), Options{})
	if r := rate(byLocal(s2, "127.0.0.1:7000")); r != 10 {
		t.Errorf("full listener: %v drops/s, want 10", r)
	}
	if r := rate(byLocal(s2, "127.0.0.1:7001")); r != 0 {
		t.Errorf("idle listener: %v drops/s, want 0", r)
	}
	if l := byLocal(s2, "127.0.0.1:7002"); l.Drops != nil || l.DropsPerSec != nil {
		t.Errorf("a listener whose drops were not read: %v, %v; want both absent", l.Drops, l.DropsPerSec)
	}
	if d := s2.DroppingListeners(); len(d) != 1 || d[0].Local != "127.0.0.1:7000" || !s2.ListenerDropsKnown() {
		t.Errorf("DroppingListeners %v", d)
	}
	// Rebuilt (a new sort) from the same sample: the same rates.
	if r := rate(byLocal(Rebuild(s2, Options{Sort: SortKey{State: source.TimeWait}}), "127.0.0.1:7000")); r != 10 {
		t.Errorf("rebuilt: %v drops/s, want 10", r)
	}
	// Restarted: a new socket whose counter starts again.
	s3 := a.Next(sample(3*time.Second, 4, 101, true), Options{})
	if r := rate(byLocal(s3, "127.0.0.1:7000")); r != 4 {
		t.Errorf("restarted listener: %v drops/s, want 4 (its new counter)", r)
	}
	// A dump that did not read them: unknown again, and nothing in JSON.
	s4 := a.Next(sample(4*time.Second, 0, 101, false), Options{})
	if s4.ListenerDropsKnown() || s4.DroppingListeners() != nil {
		t.Errorf("drops unread, yet known")
	}
	j, _ := json.Marshal(s4.Listeners)
	if strings.Contains(string(j), "drops") {
		t.Errorf("unknown drops in JSON: %s", j)
	}
	j, _ = json.Marshal(s2.Listeners)
	if !strings.Contains(string(j), `"drops":30,"drops_per_sec":10`) || !strings.Contains(string(j), `"drops":0,"drops_per_sec":0`) {
		t.Errorf("JSON: %s", j)
	}
}
