package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

var errDump = errors.New("sock_diag dump: EPERM")

// replay is a Reader that plays sampleAt(0), sampleAt(1), ... one per
// read, failing the reads listed in fail. It is safe for concurrent use
// so that a test can catch a Poller reading from two goroutines at once.
type replay struct {
	mu   sync.Mutex
	n    int
	fail map[int]bool
}

func (r *replay) Read(ctx context.Context) (*source.Sample, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	i := r.n
	r.n++
	if r.fail[i] {
		return nil, errDump
	}
	return sampleAt(i), nil
}

// blocking is a Reader whose reads wait for their context to end.
type blocking struct{}

func (blocking) Read(ctx context.Context) (*source.Sample, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

var t0 = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

// sampleAt is poll i, i seconds after t0: nginx (pid 10) serves a growing
// number of clients and piles up TIME_WAIT to 192.0.2.10:443, php-fpm
// (pid 20) leaks CLOSE_WAIT to redis, counters rise at uneven rates. By
// total, 192.0.2.10:443 and nginx lead; by CLOSE_WAIT, redis and php-fpm.
func sampleAt(i int) *source.Sample {
	var socks []source.Socket
	add := func(st source.State, l, r string, inode uint32, owners ...int32) *source.Socket {
		lp, rp := netip.MustParseAddrPort(l), netip.MustParseAddrPort(r)
		socks = append(socks, source.Socket{State: st, Local: lp, Remote: rp, Inode: inode, Owners: owners,
			Cookie: uint64(lp.Port())<<16 | uint64(rp.Port())})
		return &socks[len(socks)-1]
	}
	add(source.Listen, "0.0.0.0:80", "0.0.0.0:0", 1, 10)
	for c := range 2 + i%3 {
		add(source.Established, "10.0.0.1:80", fmt.Sprintf("10.0.0.5:%d", 50000+c), uint32(100+c), 10)
	}
	for c := range 5 + 2*i {
		tw := add(source.TimeWait, fmt.Sprintf("10.0.0.1:%d", 33000+c), "192.0.2.10:443", 0)
		tw.Expires = uint32(30000 + c*100)
	}
	for c := range 1 + i/2 {
		add(source.CloseWait, fmt.Sprintf("127.0.0.1:%d", 35000+c), "127.0.0.1:6379", uint32(200+c), 20)
	}
	return &source.Sample{
		Time: t0.Add(time.Duration(i) * time.Second), Host: "web1", Netns: "default",
		Sockets: socks, Attributed: true,
		Procs: map[int32]*source.Process{
			10: {PID: 10, Name: "nginx", Cmdline: "nginx: worker process", User: "www-data"},
			20: {PID: 20, Name: "php-fpm", Cmdline: "php-fpm: pool www", User: "www-data"},
		},
		Sysctl: source.Sysctls{PortLow: 32768, PortHigh: 60999, PortRangeParsed: true, Somaxconn: 128,
			Raw: map[string]string{"net.ipv4.ip_local_port_range": "32768 60999", "net.core.somaxconn": "128"}},
		Counters: map[string]int64{
			"ActiveOpens": int64(100 + 7*i*i), "PassiveOpens": int64(50 + 3*i),
			"ListenOverflows": int64(i * i), "ListenDrops": int64(i * i), "RetransSegs": int64(1000 + 13*i),
		},
	}
}

func sortBy(t *testing.T, key string) model.Options {
	t.Helper()
	k, err := model.ParseSortKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return model.Options{Sort: k}
}

func next(t *testing.T, p *Poller) *model.Snapshot {
	t.Helper()
	s, err := p.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sameRates fails unless a and b carry the same rates: the counters', the
// states' and the churn, over the same interval.
func sameRates(t *testing.T, what string, a, b *model.Snapshot) {
	t.Helper()
	if !a.Time.Equal(b.Time) {
		t.Fatalf("%s: comparing polls at %v and %v", what, a.Time, b.Time)
	}
	if !reflect.DeepEqual(a.Rates, b.Rates) || a.StateRates != b.StateRates || a.Churn != b.Churn || a.Interval != b.Interval {
		t.Errorf("%s: rates differ:\n rates %v vs %v\n states %v vs %v\n churn %v vs %v, interval %v vs %v",
			what, a.Rates, b.Rates, a.StateRates, b.StateRates, a.Churn, b.Churn, a.Interval, b.Interval)
	}
}

// TestPauseResortKeepsStreamRates is issue 11's acceptance test: the
// monitor's rates after a pause and a re-sort equal the stream's for the
// same samples, because there is one previous snapshot (the Analyzer's).
//
// stream keeps every snapshot. monitor shows poll 2, is paused while polls
// 3 and 4 come in (their results are dropped), re-sorts the shown
// snapshot, and is resumed at poll 5 with the new sort.
func TestPauseResortKeepsStreamRates(t *testing.T) {
	stream := New(Config{Reader: &replay{}})
	monitor := New(Config{Reader: &replay{}})
	var want []*model.Snapshot
	for range 7 {
		want = append(want, next(t, stream))
	}

	var shown *model.Snapshot
	for i := range 3 {
		shown = next(t, monitor)
		sameRates(t, fmt.Sprintf("poll %d", i), want[i], shown)
	}
	next(t, monitor) // paused: polls 3 and 4 are dropped
	next(t, monitor)
	if shown.Peers[0].Remote != "192.0.2.10:443" {
		t.Fatalf("by total, the TIME_WAIT peer leads: %+v", shown.Peers[0])
	}

	monitor.SetOptions(sortBy(t, "CLOSE_WAIT"))
	resorted := monitor.Rebuild(shown)
	if resorted.Peers[0].Remote != "127.0.0.1:6379" || resorted.Processes[0].Name != "php-fpm" {
		t.Errorf("re-sorted by CLOSE_WAIT: peer %s, process %s first", resorted.Peers[0].Remote, resorted.Processes[0].Name)
	}
	sameRates(t, "poll 2 re-sorted while paused", want[2], resorted)
	if len(resorted.Findings) != len(want[2].Findings) || !reflect.DeepEqual(resorted.History, want[2].History) {
		t.Errorf("the re-sort lost findings or history")
	}

	for i := 5; i < 7; i++ { // resumed
		s := next(t, monitor)
		sameRates(t, fmt.Sprintf("poll %d after resuming", i), want[i], s)
		if s.Peers[0].Remote != "127.0.0.1:6379" {
			t.Errorf("poll %d: the new sort does not hold: %s first", i, s.Peers[0].Remote)
		}
	}
	// The stream's rates are really against the poll before, not zero.
	if want[2].Churn == 0 || want[2].Rates["RetransSegs"] != 13 || want[2].StateRates.Get(source.TimeWait) != 2 {
		t.Errorf("fixture: poll 2 has churn %v, RetransSegs %v/s, TIME_WAIT %+v/s",
			want[2].Churn, want[2].Rates["RetransSegs"], want[2].StateRates.Get(source.TimeWait))
	}
}

func TestSetOptionsAppliesToTheNextPoll(t *testing.T) {
	p := New(Config{Reader: &replay{}, Options: sortBy(t, "CLOSE_WAIT")})
	if s := next(t, p); s.Peers[0].Remote != "127.0.0.1:6379" || s.Sort != "CLOSE_WAIT" {
		t.Errorf("Config.Options: sort %s, %s first", s.Sort, s.Peers[0].Remote)
	}
	f, err := model.ParseFilter("port:443")
	if err != nil {
		t.Fatal(err)
	}
	p.SetOptions(model.Options{Filter: f})
	if p.Options().Filter.String() != "port:443" {
		t.Errorf("Options() = %+v", p.Options())
	}
	s := next(t, p)
	if len(s.Peers) != 1 || s.Peers[0].Remote != "192.0.2.10:443" || len(s.Processes) != 1 || s.Filter != "port:443" {
		t.Errorf("filtered: %d peers, %d processes, filter %q", len(s.Peers), len(s.Processes), s.Filter)
	}
	// A filter narrows the lists, not what is wrong with the machine.
	if s.Total != s.Sample.NumSockets() {
		t.Errorf("total %d of %d sockets", s.Total, s.Sample.NumSockets())
	}
}

func TestStatsAndLatestAfterAnError(t *testing.T) {
	p := New(Config{Reader: &replay{fail: map[int]bool{1: true, 2: true}}})
	if p.Latest() != nil || p.Stats() != (Stats{}) {
		t.Fatalf("before any poll: latest %v, stats %+v", p.Latest(), p.Stats())
	}
	good := next(t, p)
	if p.Latest() != good {
		t.Error("Latest is not the poll's snapshot")
	}
	for range 2 {
		if s, err := p.Next(context.Background()); !errors.Is(err, errDump) || s != nil {
			t.Fatalf("failed read: %v, %v", s, err)
		}
	}
	st := p.Stats()
	if st.Polls != 3 || st.Errors != 2 || !errors.Is(st.LastErr, errDump) || st.LastPoll.IsZero() || st.LastTook < 0 {
		t.Errorf("after two failures: %+v", st)
	}
	if p.Latest() != good {
		t.Error("a failed poll replaced the last good snapshot")
	}
	s := next(t, p)
	if st := p.Stats(); st.Polls != 4 || st.Errors != 2 || st.LastErr != nil || p.Latest() != s {
		t.Errorf("after recovering: %+v", st)
	}
	// Rates span the failed polls: against the last good snapshot.
	if s.Interval != 3*time.Second {
		t.Errorf("interval %v, want 3s (polls 1 and 2 failed)", s.Interval)
	}

	// A poll cut short by its context is the caller's doing: not an error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if st := p.Stats(); st.Polls != 4 || st.Errors != 2 || st.LastErr != nil {
		t.Errorf("a cancelled poll was counted: %+v", st)
	}
}

func TestZeroThresholdsAreTheDefaults(t *testing.T) {
	if New(Config{Reader: &replay{}}).an.Thresholds() != model.DefaultThresholds() {
		t.Error("zero thresholds")
	}
	th := model.DefaultThresholds()
	th.CloseWait = 1
	if New(Config{Reader: &replay{}, Thresholds: th}).an.Thresholds() != th {
		t.Error("thresholds not passed on")
	}
}

func TestStreamCount(t *testing.T) {
	p := New(Config{Reader: &replay{}})
	var got []*model.Snapshot
	err := p.Stream(context.Background(), time.Millisecond, 3, func(s *model.Snapshot) error {
		got = append(got, s)
		return nil
	})
	if err != nil || len(got) != 3 || p.Stats().Polls != 3 || p.Latest() != got[2] {
		t.Fatalf("count 3: %v, %d snapshots, %+v", err, len(got), p.Stats())
	}
	if !got[2].Time.Equal(t0.Add(2*time.Second)) || got[1].Interval != time.Second {
		t.Errorf("snapshots out of order: %v, interval %v", got[2].Time, got[1].Interval)
	}
}

func TestStreamEndsWithItsContext(t *testing.T) {
	p := New(Config{Reader: &replay{}})
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := p.Stream(ctx, time.Millisecond, 0, func(*model.Snapshot) error {
		if n++; n == 2 {
			cancel()
		}
		return nil
	})
	if err != nil || n != 2 {
		t.Errorf("cancelled after 2: %v, %d emitted", err, n)
	}
	// Cancelled while a read waits: no error, nothing counted.
	p = New(Config{Reader: blocking{}})
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.Stream(ctx, time.Millisecond, 0, func(*model.Snapshot) error { return nil }); err != nil || p.Stats().Polls != 0 {
		t.Errorf("cancelled during a read: %v, %+v", err, p.Stats())
	}
}

func TestStreamErrors(t *testing.T) {
	p := New(Config{Reader: &replay{}})
	n := 0
	err := p.Stream(context.Background(), time.Millisecond, 5, func(*model.Snapshot) error {
		n++
		return fmt.Errorf("write stdout: %w", syscall.EPIPE)
	})
	if err != nil || n != 1 {
		t.Errorf("EPIPE: %v after %d emits, want a quiet end after 1", err, n)
	}
	errFull := errors.New("no space left on device")
	err = p.Stream(context.Background(), time.Millisecond, 5, func(*model.Snapshot) error { return errFull })
	if err != errFull {
		t.Errorf("emit error: %v, want it as is", err)
	}
	p = New(Config{Reader: &replay{fail: map[int]bool{1: true}}})
	n = 0
	err = p.Stream(context.Background(), time.Millisecond, 5, func(*model.Snapshot) error { n++; return nil })
	if !errors.Is(err, errDump) || n != 1 {
		t.Errorf("read error: %v after %d emits", err, n)
	}
}

// TestStreamSkipsLateTicks: a slow emit does not make polls pile up.
func TestStreamSkipsLateTicks(t *testing.T) {
	p := New(Config{Reader: &replay{}})
	start := time.Now()
	err := p.Stream(context.Background(), 5*time.Millisecond, 4, func(s *model.Snapshot) error {
		if s.Time.Equal(t0) {
			time.Sleep(50 * time.Millisecond) // ten ticks missed
		}
		return nil
	})
	if err != nil || p.Stats().Polls != 4 {
		t.Fatalf("%v, %+v", err, p.Stats())
	}
	// Polls 2..4 each waited for a tick of their own after the slow emit.
	if took := time.Since(start); took < 60*time.Millisecond {
		t.Errorf("4 polls in %v: late ticks were queued, not skipped", took)
	}
}

// TestLatestWithConcurrentReaders runs under -race: many readers of
// Latest and Stats while a Stream polls, as an exporter's scrapes do.
func TestLatestWithConcurrentReaders(t *testing.T) {
	p := New(Config{Reader: &replay{}})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var reads atomic.Int64
	for range 8 {
		wg.Go(func() {
			var last time.Time
			for ctx.Err() == nil {
				s := p.Latest()
				st := p.Stats()
				if s == nil {
					continue
				}
				// Read the whole snapshot: a writer touching it would race.
				n := s.Total
				for _, pr := range s.Peers {
					n -= pr.Total
				}
				_ = n + len(s.Findings) + len(s.History) + int(st.Polls)
				if s.Time.Before(last) {
					t.Errorf("Latest went back in time: %v after %v", s.Time, last)
				}
				last = s.Time
				reads.Add(1)
			}
		})
	}
	emitted := 0
	err := p.Stream(ctx, time.Millisecond, 30, func(*model.Snapshot) error { emitted++; return nil })
	cancel()
	wg.Wait()
	if err != nil || emitted != 30 || reads.Load() == 0 {
		t.Errorf("%v, %d emitted, %d reads", err, emitted, reads.Load())
	}
	// A rebuild from another goroutine reads a snapshot too.
	if r := p.Rebuild(p.Latest()); r.Total != p.Latest().Total {
		t.Error("rebuild")
	}
}

// TestNextIsSerialised: Next from several goroutines never overlaps (the
// race detector would see the Analyzer used twice at once), and each
// snapshot's rates are against the poll just before it.
func TestNextIsSerialised(t *testing.T) {
	p := New(Config{Reader: &replay{}})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 5 {
				s, err := p.Next(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				if !s.Time.Equal(t0) && s.Interval != time.Second {
					t.Errorf("poll at %v: interval %v", s.Time, s.Interval)
				}
			}
		})
	}
	wg.Wait()
	if st := p.Stats(); st.Polls != 20 {
		t.Errorf("%+v", st)
	}
}

// TestRebuildsCoalesce: a burst of concurrent rebuilds of one snapshot
// with the same options (one per keystroke in the monitor) does the work
// once and hands every caller the same result; new options rebuild again
// (issue 20 item 2).
func TestRebuildsCoalesce(t *testing.T) {
	p := New(Config{Reader: &replay{}})
	s := next(t, p)
	p.SetOptions(sortBy(t, "CLOSE_WAIT"))
	const n = 50
	out := make(chan *model.Snapshot, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { out <- p.Rebuild(s) })
	}
	wg.Wait()
	close(out)
	first := <-out
	for r := range out {
		if r != first {
			t.Fatal("two rebuilds of one snapshot with the same options made two snapshots")
		}
	}
	if first.Sort != "CLOSE_WAIT" || first == s {
		t.Fatalf("rebuilt with sort %q", first.Sort)
	}
	p.SetOptions(sortBy(t, "TIME_WAIT"))
	if r := p.Rebuild(s); r == first || r.Sort != "TIME_WAIT" {
		t.Errorf("new options: sort %q, same snapshot %v", r.Sort, r == first)
	}
}
