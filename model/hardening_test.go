package model

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tcptop/tcptop/source"
)

// TestBacklogZeroListenerIsFull: listen(0) is full with one connection
// waiting (the kernel: queue > backlog). Its fill is 100%, not 0%, and it
// sorts before a listener at half its backlog (issue 20 item 7).
func TestBacklogZeroListenerIsFull(t *testing.T) {
	var b sb
	half := b.add(source.Listen, "127.0.0.1:8080", "0.0.0.0:0", 1, []int32{10}, false)
	half.RecvQ, half.SendQ = 64, 128
	zero := b.add(source.Listen, "127.0.0.1:9090", "0.0.0.0:0", 2, []int32{10}, false)
	zero.RecvQ, zero.SendQ = 1, 0
	idle := b.add(source.Listen, "127.0.0.1:7070", "0.0.0.0:0", 3, []int32{10}, false)
	idle.RecvQ, idle.SendQ = 0, 0
	snap := Build(&source.Sample{Time: t0, Sockets: b.socks, Procs: procs, Attributed: true, Sysctl: sysctls()}, nil, Options{})
	ls := snap.Listeners
	if len(ls) != 3 || ls[0].Local != "127.0.0.1:9090" || ls[0].Fill != 1 || !ls[0].Full {
		t.Fatalf("listeners %+v; want 127.0.0.1:9090 first, fill 1, full", ls)
	}
	if ls[2].Local != "127.0.0.1:7070" || ls[2].Fill != 0 || ls[2].Full {
		t.Errorf("an empty listen(0) queue: %+v", ls[2])
	}
}

// TestFindingsOmittedAreCounted: a rule with more findings than it may
// show (five) says how many were left out, in the snapshot and its JSON,
// and a rebuild keeps the count (issue 20 item 9).
func TestFindingsOmittedAreCounted(t *testing.T) {
	const n = 8
	build := func(b *sb) {
		for i := range n {
			l := b.add(source.Listen, fmt.Sprintf("127.0.0.1:%d", 8000+i), "0.0.0.0:0", uint32(500+i), []int32{10}, false)
			l.RecvQ, l.SendQ = 9, 8
		}
	}
	snap := analyze(DefaultThresholds(), poll{build: build})
	if got := len(byRule(snap, RuleAcceptQueue)); got != 5 {
		t.Fatalf("%d accept-queue findings, want 5", got)
	}
	if got := snap.FindingsOmitted[RuleAcceptQueue]; got != n-5 {
		t.Fatalf("findings_omitted %v, want %s: %d", snap.FindingsOmitted, RuleAcceptQueue, n-5)
	}
	js, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Omitted map[string]int `json:"findings_omitted"`
	}
	if err := json.Unmarshal(js, &back); err != nil || back.Omitted[RuleAcceptQueue] != n-5 {
		t.Errorf("JSON findings_omitted %v (%v)", back.Omitted, err)
	}
	if r := Rebuild(snap, Options{Sort: SortKey{State: source.Listen}}); r.FindingsOmitted[RuleAcceptQueue] != n-5 {
		t.Errorf("rebuild lost the count: %v", r.FindingsOmitted)
	}
	if one := analyze(DefaultThresholds(), poll{build: server(9, 8, 0)}); one.FindingsOmitted != nil {
		t.Errorf("nothing left out, yet findings_omitted %v", one.FindingsOmitted)
	}
}

// preforkSample is a pre-fork server as source reports it: one listener
// held by k workers (pids 1000..), tw TIME_WAIT sockets inferred to the
// group's lead (pid 1000) and est ESTABLISHED spread over the workers.
func preforkSample(k, tw, est int) *source.Sample {
	var b sb
	owners := make([]int32, k)
	ps := map[int32]*source.Process{}
	for i := range owners {
		owners[i] = int32(1000 + i)
		ps[owners[i]] = &source.Process{PID: owners[i], Start: uint64(100 + i), Name: "php-fpm", User: "www"}
	}
	b.add(source.Listen, "0.0.0.0:80", "0.0.0.0:0", 1, owners, false)
	lead := owners[:1:1]
	for i := range tw {
		b.add(source.TimeWait, "10.0.0.1:80", addr(fmt.Sprintf("10.1.%d.%d", i/250%250, i%250+1), 30000+i%30000), 0, lead, true)
	}
	for i := range est {
		b.add(source.Established, "10.0.0.1:80", addr("10.2.0.1", 20000+i), uint32(10+i), owners[i%k:i%k+1], false)
	}
	return &source.Sample{Time: t0, Sockets: b.socks, Procs: ps, Attributed: true, Sysctl: sysctls(),
		Groups: map[int32][]int32{1000: owners}}
}

// TestRebuildLinearInPrefork: with 1000 workers sharing a listener, a
// rebuild (one per keystroke of a filter in the monitor) costs about what
// the same sockets cost held by one process: nothing is per socket ×
// worker (issue 20 item 2: peers searched the owner list per socket ×
// owner).
func TestRebuildLinearInPrefork(t *testing.T) {
	cost := func(k int) time.Duration {
		s := preforkSample(k, 10_000, 5_000)
		snap := Build(s, nil, Options{})
		best := time.Hour
		for range 5 {
			t0 := time.Now()
			Rebuild(snap, Options{Filter: mustFilter(t, "port:80")})
			best = min(best, time.Since(t0))
		}
		return best
	}
	one, many := cost(1), cost(1000)
	t.Logf("rebuild: 1 worker %v, 1000 workers %v", one, many)
	if many > 3*one+20*time.Millisecond {
		t.Errorf("rebuild with 1000 workers %v, with 1 %v: not linear", many, one)
	}
	snap := Build(preforkSample(1000, 10_000, 5_000), nil, Options{})
	for _, p := range snap.Peers {
		if p.Direction == "in" && p.States[source.TimeWait] > 0 {
			for _, pp := range p.Processes {
				if pp.Inferred && (pp.PID != 1000 || pp.Group != 1000) {
					t.Fatalf("peer %s: inferred process %+v, want the lead 1000 with group 1000", p.Remote, pp)
				}
			}
		}
	}
}

func mustFilter(t *testing.T, s string) Filter {
	t.Helper()
	f, err := ParseFilter(s)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
