// Package pipeline owns the poll pipeline: a Poller reads samples from a
// source.Reader and turns each into a Snapshot through the one
// model.Analyzer, with the current options. Every front end polls through
// a Poller (the monitor, --once, the text and JSON streams, --check, and
// later the exporter and the recorder), so the previous snapshot that
// rates, growth and ages are computed against lives in one place: inside
// the Analyzer.
//
// # Concurrency
//
// One writer: whoever calls Next or Stream. Calls to Next are serialised
// by a mutex, so a second caller waits for the poll in flight instead of
// overlapping it, but one poll loop is the intended use.
//
// Any number of readers: Latest and Stats never wait for a poll in flight
// (Latest is an atomic pointer, Stats a short critical section). Options,
// SetOptions and Rebuild are safe from any goroutine too; SetOptions
// applies from the next poll on and never waits for the one in flight.
//
// Snapshots are immutable once returned: neither the Poller nor the
// Analyzer modifies them afterwards, and callers must not either. A
// snapshot may therefore be handed to any number of goroutines.
package pipeline

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

// Config is what a Poller is made of.
type Config struct {
	// Reader produces the samples: the kernel, or a recording.
	Reader source.Reader
	// Thresholds tune the findings; the zero value means
	// model.DefaultThresholds().
	Thresholds model.Thresholds
	// Options are the starting filter and sort.
	Options model.Options
	// FullEvery turns on the dump schedule for a Reader that can read
	// partially (source.Kernel): each poll dumps every state but
	// ESTABLISHED and counts ESTABLISHED from the kernel's counter, exact;
	// the full dump runs every FullEvery, and at every poll while a
	// filter is set or SetDetail(true) (a drill-down). 0: every poll is
	// a full dump.
	FullEvery time.Duration
	// FullQuiet, when longer than FullEvery, is how old the full dump may
	// get while the kernel's counters show that no socket became
	// ESTABLISHED or left it since (source.Partial.Unchanged): the
	// carried sockets are then exactly the ESTABLISHED ones, and only
	// their queues, timers and owners age. The first poll that sees a
	// change makes FullEvery the bound again.
	FullQuiet time.Duration
}

// PartialReader is a Reader that can also read a sample whose
// ESTABLISHED sockets are carried from its last full Read
// (source.Kernel.ReadPartial).
type PartialReader interface {
	source.Reader
	ReadPartial(ctx context.Context) (*source.Sample, error)
	// FullTime is when the last full Read ran (zero: never).
	FullTime() time.Time
}

// Stats describes the polls so far.
type Stats struct {
	// Polls counts the polls that completed (read and analysed, or
	// failed); a poll cut short by its context ending is not counted.
	Polls uint64
	// Errors counts the polls whose read failed.
	Errors uint64
	// LastErr is the last counted poll's error: nil once a poll succeeds.
	LastErr error
	// LastPoll is when the last counted poll started.
	LastPoll time.Time
	// LastTook is how long it took (read and analysis).
	LastTook time.Duration
}

// Poller owns a Reader, the Analyzer and the current options. See the
// package documentation for who may call what concurrently.
type Poller struct {
	r source.Reader

	// mu serialises Next: the Analyzer is used by one poll at a time.
	mu sync.Mutex
	an *model.Analyzer

	opt    atomic.Pointer[model.Options]
	latest atomic.Pointer[model.Snapshot]

	statsMu sync.Mutex
	stats   Stats

	// The dump schedule (FullEvery > 0): one job, the full dump, due
	// every FullEvery, every poll while detail is wanted.
	fullEvery time.Duration
	fullQuiet time.Duration
	sched     Scheduler
	detail    atomic.Bool
	lastPoll  time.Time
	// unchanged: the last sample was a full one, or a partial one that
	// carried exactly the ESTABLISHED sockets (source.Partial.Unchanged).
	unchanged bool
	// rbMu serialises Rebuild; rbSnap and rbOpt are what the last one
	// rebuilt, rbOut its result.
	rbMu   sync.Mutex
	rbSnap *model.Snapshot
	rbOpt  *model.Options
	rbOut  *model.Snapshot
}

// New returns a Poller that has not polled yet.
func New(cfg Config) *Poller {
	th := cfg.Thresholds
	if th == (model.Thresholds{}) {
		th = model.DefaultThresholds()
	}
	p := &Poller{r: cfg.Reader, an: model.NewAnalyzer(th), fullEvery: cfg.FullEvery, fullQuiet: cfg.FullQuiet, sched: Scheduler{Lazy: true}}
	opt := cfg.Options
	p.opt.Store(&opt)
	return p
}

// Next reads one sample and runs it through the Analyzer with the current
// options. Calls are serialised: safe from any goroutine, never
// overlapping. On success the snapshot also becomes Latest; on a failed
// read Latest keeps the last good snapshot.
func (p *Poller) Next(ctx context.Context) (*model.Snapshot, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	start := time.Now()
	sample, err := p.read(ctx, start)
	if err != nil {
		if ctx.Err() == nil {
			p.record(start, err)
		}
		return nil, err
	}
	prev := p.latest.Load()
	snap := p.an.Next(sample, p.Options())
	model.ApplyPartial(snap, prev) // exact ESTABLISHED count, old parts marked
	p.latest.Store(snap)
	p.record(start, nil)
	return snap, nil
}

// read takes this poll's sample: a full one, or with the dump schedule
// a partial one unless the full dump is due (Scheduler, job "full") or
// detail is wanted.
func (p *Poller) read(ctx context.Context, now time.Time) (*source.Sample, error) {
	pr, ok := p.r.(PartialReader)
	if !ok || p.fullEvery <= 0 {
		return p.r.Read(ctx)
	}
	interval := time.Second
	if !p.lastPoll.IsZero() {
		if d := now.Sub(p.lastPoll); d > 0 && d < p.fullEvery {
			interval = d
		}
	}
	p.lastPoll = now
	job := Job{Key: "full", MaxAge: p.fullEvery, Last: pr.FullTime()}
	if p.unchanged && p.fullQuiet > p.fullEvery {
		job.MaxAge = p.fullQuiet
	}
	if p.detail.Load() || !p.Options().Filter.Empty() {
		job.Class = Focus
	}
	read := pr.ReadPartial
	if run := p.sched.Plan(now, interval, []Job{job}); len(run) > 0 {
		read = pr.Read
	}
	s, err := read(ctx)
	// Right after a full dump the carried sockets are the ESTABLISHED
	// ones by definition; the next (partial) poll tells whether that
	// still holds, and the one after it goes by what it told.
	p.unchanged = err == nil && (s.Partial == nil || s.Partial.Unchanged)
	return s, err
}

// SetDetail asks for a full dump at every poll while on (the monitor
// shows per-socket detail: a drill-down), with the dump schedule.
func (p *Poller) SetDetail(on bool) { p.detail.Store(on) }

// record counts a completed poll.
func (p *Poller) record(start time.Time, err error) {
	took := time.Since(start)
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	p.stats.Polls++
	if err != nil {
		p.stats.Errors++
	}
	p.stats.LastErr, p.stats.LastPoll, p.stats.LastTook = err, start, took
}

// Options returns the current options.
func (p *Poller) Options() model.Options { return *p.opt.Load() }

// SetOptions replaces the options; the next poll uses them. It does not
// wait for a poll in flight (that one keeps the options it started with).
func (p *Poller) SetOptions(o model.Options) { p.opt.Store(&o) }

// Rebuild returns s rebuilt with the current options (a new sort or
// filter, without a poll): model.Rebuild, which keeps the poll's rates,
// findings, history and ages.
//
// Rebuilds are coalesced: they run one at a time, and a call for the
// snapshot and options the last one rebuilt returns its result. So a
// burst of calls (the monitor rebuilds on every keystroke of a filter,
// each in its own goroutine) costs at most two rebuilds at once in
// memory, not one per keystroke running concurrently (issue 20: 1.17 GB
// and 200% CPU after typing a filter with a pre-fork server).
func (p *Poller) Rebuild(s *model.Snapshot) *model.Snapshot {
	p.rbMu.Lock()
	defer p.rbMu.Unlock()
	opt := p.opt.Load()
	if s == p.rbSnap && opt == p.rbOpt {
		return p.rbOut
	}
	out := model.Rebuild(s, *opt)
	out.KeepCarried(s) // the dump schedule's exact ESTABLISHED count
	p.rbSnap, p.rbOpt, p.rbOut = s, opt, out
	return out
}

// Latest returns the snapshot of the last successful poll (nil before
// the first). It never waits: a poll in flight does not block it.
func (p *Poller) Latest() *model.Snapshot { return p.latest.Load() }

// Stats returns the poll counts and the last poll's outcome.
func (p *Poller) Stats() Stats {
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	return p.stats
}

// Stream polls every interval and emits each snapshot until count
// snapshots were emitted (0: no limit) or ctx ends, which ends the stream
// without an error. Ticks that fall behind are skipped, so polls never
// overlap. A read error ends the stream with that error. An emit error
// ends it too and is returned as is, except a broken pipe (EPIPE: the
// reader of a pipe went away, as with `tcptop | head`), which ends the
// stream quietly.
func (p *Poller) Stream(ctx context.Context, interval time.Duration, count int, emit func(*model.Snapshot) error) error {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for n := 0; count == 0 || n < count; n++ {
		if n > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-ticker.C:
			}
		}
		snap, err := p.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if err := emit(snap); err != nil {
			if errors.Is(err, syscall.EPIPE) {
				return nil
			}
			return err
		}
	}
	return nil
}
