package model

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tcptop/tcptop/source"
)

func TestFindingsOrderAndJSON(t *testing.T) {
	// A CLOSE_WAIT leak (critical: 200 sockets), a full listener (warning)
	// and a listener inside the ephemeral range (info).
	pop := both(leaked(20, 200), server(9, 8, 0), listeners(45000))
	s := analyze(DefaultThresholds(), poll{sec: 0, build: pop}, poll{sec: 3, build: pop}, poll{sec: 6, build: pop})
	var rules []string
	for _, f := range s.Findings {
		rules = append(rules, f.Severity.String()+" "+f.Rule)
	}
	want := "critical close_wait_leak,warning accept_queue_overflow,info listener_in_ephemeral_range"
	if strings.Join(rules, ",") != want {
		t.Fatalf("findings %q, want %q", strings.Join(rules, ","), want)
	}
	if Worst(s.Findings) != Critical || Worst(nil) != 0 {
		t.Errorf("Worst = %v", Worst(s.Findings))
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Findings []Finding `json:"findings"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Findings) != 3 || back.Findings[0].Severity != Critical || back.Findings[0].Subject.PID != 20 ||
		back.Findings[1].Subject.Local != "127.0.0.1:8080" {
		t.Errorf("findings after a JSON round trip: %+v", back.Findings)
	}
	if !strings.Contains(string(b), `"severity":"critical"`) || !strings.Contains(string(b), `"kind":"process"`) {
		t.Errorf("JSON lacks severity or subject kind: %.300s", b)
	}
	// Nothing wrong: an empty array, not null.
	b, _ = json.Marshal(analyze(DefaultThresholds(), poll{build: listeners(8080)}))
	if !strings.Contains(string(b), `"findings":[]`) {
		t.Errorf("quiet snapshot: want \"findings\":[] in %.200s", b)
	}
	// Build alone (no Analyzer) also gives an empty array.
	b, _ = json.Marshal(Build(poll{}.sample(), nil, Options{}))
	if !strings.Contains(string(b), `"findings":[]`) {
		t.Errorf("Build: want \"findings\":[]")
	}
}

func TestSeverityJSON(t *testing.T) {
	for _, s := range []Severity{Info, Warning, Critical} {
		b, _ := json.Marshal(s)
		var back Severity
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Errorf("%v: %s -> %v, %v", s, b, back, err)
		}
	}
	var s Severity
	if err := json.Unmarshal([]byte(`"dire"`), &s); err == nil {
		t.Error("unknown severity accepted")
	}
}

func TestRebuildKeepsFindings(t *testing.T) {
	a := NewAnalyzer(DefaultThresholds())
	p0 := poll{sec: 0, build: both(leaked(20, 12), server(9, 8, 0))}
	p1 := poll{sec: 6, build: both(leaked(20, 12), server(9, 8, 0)), counters: map[string]int64{"ListenOverflows": 3}}
	a.Next(p0.sample(), Options{})
	snap := a.Next(p1.sample(), Options{})
	f, err := ParseFilter("port:9999")
	if err != nil {
		t.Fatal(err)
	}
	r := Rebuild(snap, Options{Filter: f})
	if len(r.Peers) != 0 {
		t.Errorf("filter not applied: %d peers", len(r.Peers))
	}
	if len(r.Findings) != len(snap.Findings) || len(r.Findings) != 2 || len(r.History) != 2 {
		t.Errorf("rebuild: %d findings (had %d), %d history points", len(r.Findings), len(snap.Findings), len(r.History))
	}
	if r.Churn != snap.Churn || r.StateRates != snap.StateRates || len(r.Rates) != len(snap.Rates) || r.Interval != snap.Interval {
		t.Errorf("rebuild changed the rates: churn %v -> %v, interval %v -> %v", snap.Churn, r.Churn, snap.Interval, r.Interval)
	}
	sk := &r.Sample.Sockets[1] // a CLOSE_WAIT socket
	if age, ok := r.SocketAge(sk); !ok || age != 6*time.Second {
		t.Errorf("age after rebuild %v %v, want 6s", age, ok)
	}
}

func TestSocketAge(t *testing.T) {
	a := NewAnalyzer(DefaultThresholds())
	mk := func(sec float64) *source.Sample {
		return poll{sec: sec, build: func(b *sb) {
			tw := b.add(source.TimeWait, "10.0.0.1:41000", "10.0.0.9:80", 0, nil, false)
			tw.Expires = 45000
			b.add(source.Established, "10.0.0.1:41001", "10.0.0.9:80", 5, nil, false)
			b.add(source.CloseWait, "10.0.0.1:41002", "10.0.0.9:80", 6, nil, false)
		}}.sample()
	}
	a.Next(mk(0), Options{})
	snap := a.Next(mk(2.5), Options{})
	socks := snap.Sample.Sockets
	if age, ok := snap.SocketAge(&socks[0]); !ok || age != 15*time.Second {
		t.Errorf("TIME_WAIT with 45 s left: age %v %v, want 15s", age, ok)
	}
	if age, ok := snap.SocketAge(&socks[1]); !ok || age != 2500*time.Millisecond {
		t.Errorf("ESTABLISHED age %v %v, want 2.5s (since first seen)", age, ok)
	}
	if age, ok := snap.SocketAge(&socks[2]); !ok || age != 2500*time.Millisecond {
		t.Errorf("CLOSE_WAIT age %v %v, want 2.5s", age, ok)
	}
	if snap.Watching != 2500*time.Millisecond {
		t.Errorf("Watching %v", snap.Watching)
	}
}

// The first-seen map forgets sockets that are gone and never grows past
// its bound; the history keeps HistoryLen polls and snapshots carry at most
// SparkPoints of them.
func TestAnalyzerBounded(t *testing.T) {
	a := NewAnalyzer(DefaultThresholds())
	a.maxTracked = 50
	s := a.Next(poll{sec: 0, build: leaked(20, 80)}.sample(), Options{})
	if a.Tracked() != 50 || !s.AgesTruncated {
		t.Errorf("tracked %d (truncated %v), want the bound 50", a.Tracked(), s.AgesTruncated)
	}
	s = a.Next(poll{sec: 1, build: leaked(20, 10)}.sample(), Options{})
	if a.Tracked() != 10 || s.AgesTruncated {
		t.Errorf("tracked %d after most sockets left, want 10", a.Tracked())
	}
	for i := range HistoryLen + 20 {
		s = a.Next(poll{sec: float64(2 + i), build: leaked(20, 3)}.sample(), Options{})
	}
	if len(a.ring) != HistoryLen || len(s.History) != SparkPoints {
		t.Errorf("ring %d (want %d), snapshot history %d (want %d)", len(a.ring), HistoryLen, len(s.History), SparkPoints)
	}
	if got := s.Series(source.CloseWait); len(got) != SparkPoints || got[len(got)-1] != 3 {
		t.Errorf("series %v", got[len(got)-3:])
	}
	if !s.History[len(s.History)-1].Time.Equal(s.Time) {
		t.Errorf("history does not end with this poll")
	}
}

// A snapshot's history is not changed by later polls (the UI may still be
// drawing it).
func TestHistoryImmutable(t *testing.T) {
	a := NewAnalyzer(DefaultThresholds())
	var snaps []*Snapshot
	for i := range HistoryLen + 5 {
		snaps = append(snaps, a.Next(poll{sec: float64(i), build: leaked(20, i%7)}.sample(), Options{}))
	}
	for i, s := range snaps {
		last := s.History[len(s.History)-1]
		if !last.Time.Equal(s.Time) || last.States[source.CloseWait] != i%7 {
			t.Fatalf("snapshot %d: history ends at %v with %d CLOSE_WAIT", i, last.Time, last.States[source.CloseWait])
		}
	}
}

func TestThresholdsSet(t *testing.T) {
	th := DefaultThresholds()
	if err := th.Set("close-wait=50, ports-warn=50%,ports-crit=0.9,growth-window=30"); err != nil {
		t.Fatal(err)
	}
	if th.CloseWait != 50 || th.PortsWarn != 0.5 || th.PortsCrit != 0.9 || th.GrowthWindowSec != 30 {
		t.Errorf("%+v", th)
	}
	for _, bad := range []string{"close-wait", "nope=1", "close-wait=0", "close-wait=1.5", "ports-warn=2", "ports-warn=-1", "ports-warn=x", "ports-warn=NaN", "growth-window=1e9"} {
		th := DefaultThresholds()
		err := th.Set(bad)
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("Set(%q) = %v, want a one-line error", bad, err)
		}
	}
	if n := len(ThresholdNames()); n != len(thresholdSpecs) || !strings.HasPrefix(ThresholdNames()[0], "ports-warn=0.6       ephemeral") {
		t.Errorf("ThresholdNames: %q", ThresholdNames())
	}
}

// Numbers are formatted by package format (tested there); these are the
// model's own words.
func TestFormatting(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{plural(1, "socket", "sockets"), "1 socket"}, {plural(1234, "socket", "sockets"), "1,234 sockets"},
		{Subject{Kind: SubjectProcess, PID: 7, Name: "x"}.String(), "x[7]"},
		{Subject{Kind: SubjectPeer, Remote: "10.0.0.1", Local: "0.0.0.0:80", Direction: "in"}.String(), "10.0.0.1 → 0.0.0.0:80"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

// FuzzThresholdsSet: any --threshold value gives thresholds in range or a
// one-line error, never a panic.
func FuzzThresholdsSet(f *testing.F) {
	for _, s := range []string{"close-wait=50", "ports-warn=50%,ports-crit=0.9", "x", "=", ",,", "fd-warn=1e-300", "growth-window=NaN", "syn-sent=-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		th := DefaultThresholds()
		err := th.Set(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		for _, v := range []float64{th.PortsWarn, th.PortsCrit, th.AcceptFill, th.TimeWaitBuckets, th.FDWarn} {
			if !(v > 0 && v <= 1) {
				t.Fatalf("%q: a share out of range: %+v", s, th)
			}
		}
		if th.CloseWait < 1 || th.SynSent < 1 || th.ProberTimeWait < 1 || !(th.GrowthWindowSec > 0) || !(th.ProberRatio > 0) {
			t.Fatalf("%q: %+v", s, th)
		}
	})
}

// The first poll's sockets are all first seen then (their ages known, 0)
// and count as tracked, though the first-seen map is filled only when a
// second poll comes.
func TestFirstPollAges(t *testing.T) {
	a := NewAnalyzer(DefaultThresholds())
	snap := a.Next(poll{sec: 0, build: func(b *sb) {
		b.add(source.Established, "10.0.0.1:41001", "10.0.0.9:80", 5, nil, false)
		b.add(source.CloseWait, "10.0.0.1:41002", "10.0.0.9:80", 6, nil, false)
		tw := b.add(source.TimeWait, "10.0.0.1:41000", "10.0.0.9:80", 0, nil, false)
		tw.Expires = 60000
	}}.sample(), Options{})
	for i := range 2 {
		if age, ok := snap.SocketAge(&snap.Sample.Sockets[i]); !ok || age != 0 {
			t.Errorf("socket %d at the first poll: age %v %v, want 0 true", i, age, ok)
		}
	}
	if n := a.Tracked(); n != 2 {
		t.Errorf("tracked %d after the first poll, want 2 (TIME_WAIT is not)", n)
	}
}
