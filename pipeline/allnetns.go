package pipeline

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

// AllConfig is what an AllPoller is made of.
type AllConfig struct {
	// Machine is shared by every namespace reader (one /proc scan per
	// round); its ProcRoot is where processes and their namespaces are
	// found.
	Machine *source.Machine
	// Labels are where the runtimes' files are read (zero: defaults).
	Labels source.LabelRoots
	// Thresholds tune each namespace's findings (zero: defaults).
	Thresholds model.Thresholds
	// Options are the starting filter and sort.
	Options model.Options
	// Budget is the CPU the full dumps of one refresh may take, as a
	// fraction of the interval (0.08 when 0); see Scheduler.
	Budget float64
	// MaxAge bounds how old any namespace's detail gets (10 s when 0).
	MaxAge time.Duration
	// EveryPoll dumps every namespace at every poll, budget or not (for
	// --once and --check, which judge every namespace fully).
	EveryPoll bool
	// Interval is the expected time between polls, for the budget (1 s
	// when 0; the measured spacing once polls run).
	Interval time.Duration
}

// AllPoller polls every network namespace of the machine: at each poll it
// discovers them (source.Discovery), reads every one's vital signs, and
// runs the full dumps the Scheduler picks, each through the namespace's
// own Poller (its Analyzer keeps that namespace's history, rates and
// ages). The result is a model.Overview; Next returns the focused
// namespace's snapshot with it (for the monitor).
//
// Concurrency is Poller's: Poll and Next are serialised; Latest,
// SetOptions, Focus and Options are safe from any goroutine.
type AllPoller struct {
	cfg   AllConfig
	disc  source.Discovery
	lab   *source.Labeler
	sched Scheduler

	mu       sync.Mutex // serialises Poll; guards the fields below
	nss      map[source.NamespaceID]*nsState
	prev     *model.Overview
	lastPoll time.Time

	opt    atomic.Pointer[model.Options]
	focus  atomic.Pointer[string]
	latest atomic.Pointer[model.Overview]
}

// nsState is what the AllPoller keeps of one namespace.
type nsState struct {
	found   source.FoundNamespace
	ns      *source.Namespace // owned here until k takes it over
	k       *source.Kernel
	p       *Poller
	noEntry bool
	labels  source.Labels
	labPIDs []int32

	detail     *model.Snapshot
	detailTime time.Time
	detailErr  error

	seen       time.Time     // when discovery first found it
	vitals     source.Vitals // this poll's (Time zero: unreadable)
	dumpVitals source.Vitals // those of the poll of its last dump
}

// quiet reports that the namespace's vital signs are those of its last
// dump: no socket opened, closed or changed between ESTABLISHED and
// another state, no overflow, no reset. Its detail still stands as far
// as the kernel's counters tell; it is dumped when due, not as filler.
func (s *nsState) quiet() bool {
	a, b := &s.vitals, &s.dumpVitals
	if a.Time.IsZero() || b.Time.IsZero() || !a.OK || !b.OK {
		return false
	}
	if a.InUse4 != b.InUse4 || a.InUse6 != b.InUse6 || a.TimeWait != b.TimeWait || a.CurrEstab != b.CurrEstab {
		return false
	}
	for _, c := range quietCounters {
		if a.Counters[c] != b.Counters[c] {
			return false
		}
	}
	return true
}

// empty reports that the namespace held no socket at its last dump and
// its vital signs still count none, with nothing opened since (quiet).
func (s *nsState) empty() bool {
	return s.detail != nil && s.detail.Total == 0 && s.detail.Sample != nil && s.detail.Sample.NumSockets() == 0 &&
		s.vitals.Total() == 0 && s.quiet()
}

// quietCounters are the counters that must not move for a namespace to
// be quiet: opens, failed opens, resets and the listeners' troubles.
var quietCounters = []string{"ActiveOpens", "PassiveOpens", "AttemptFails", "EstabResets",
	"ListenOverflows", "ListenDrops", "TCPAbortOnData", "TCPAbortOnClose", "TCPTimeWaitOverflow"}

// NewAll returns an AllPoller that has not polled yet.
func NewAll(cfg AllConfig) *AllPoller {
	if cfg.Thresholds == (model.Thresholds{}) {
		cfg.Thresholds = model.DefaultThresholds()
	}
	if cfg.Budget <= 0 {
		cfg.Budget = 0.08
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	a := &AllPoller{
		cfg:   cfg,
		disc:  source.Discovery{ProcRoot: cfg.Machine.ProcRoot()},
		lab:   source.NewLabeler(cfg.Machine.ProcRoot(), cfg.Labels),
		sched: Scheduler{Budget: cfg.Budget, MaxAge: cfg.MaxAge},
		nss:   map[source.NamespaceID]*nsState{},
	}
	opt := cfg.Options
	a.opt.Store(&opt)
	empty := ""
	a.focus.Store(&empty)
	return a
}

// Options returns the current options.
func (a *AllPoller) Options() model.Options { return *a.opt.Load() }

// SetOptions replaces the options (every namespace's and the overview's)
// from the next poll on.
func (a *AllPoller) SetOptions(o model.Options) { a.opt.Store(&o) }

// Focus makes the namespace with the key (model.NamespaceRow.Key) the one
// dumped every poll and returned by Next; "" focuses the host namespace.
func (a *AllPoller) Focus(key string) { a.focus.Store(&key) }

// Focused returns the focused namespace's key ("" for the host's).
func (a *AllPoller) Focused() string { return *a.focus.Load() }

// Latest returns the last overview (nil before the first poll).
func (a *AllPoller) Latest() *model.Overview { return a.latest.Load() }

// Close releases every namespace's handles.
func (a *AllPoller) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, s := range a.nss {
		s.close()
		delete(a.nss, id)
	}
}

func (s *nsState) close() {
	if s.k != nil {
		s.k.Close()
		s.k = nil
	} else if s.ns != nil {
		s.ns.Close()
	}
	s.ns = nil
}

// namespace returns the state's open namespace.
func (s *nsState) namespace() *source.Namespace {
	if s.k != nil {
		return s.k.Netns()
	}
	return s.ns
}

// Next polls once and returns the focused namespace's snapshot, with
// the overview in its Overview field. Before the focused namespace was
// ever dumped (it cannot be entered), the host's is returned; with none
// at all, an error.
func (a *AllPoller) Next(ctx context.Context) (*model.Snapshot, error) {
	ov, err := a.Poll(ctx)
	if err != nil {
		return nil, err
	}
	key := a.Focused()
	r := ov.Row(key)
	if r == nil || key == "" {
		r = ov.HostRow()
	}
	if r == nil || r.Detail == nil {
		for i := range ov.All() {
			if d := ov.All()[i].Detail; d != nil {
				r = &ov.All()[i]
				break
			}
		}
	}
	if r == nil || r.Detail == nil {
		return nil, errors.New("no network namespace could be read")
	}
	snap := *r.Detail
	snap.Overview = ov
	return &snap, nil
}

// Poll discovers the namespaces, reads their vital signs, runs the
// scheduled dumps and returns the overview. Only a failed discovery is an
// error: a namespace that cannot be entered or dumped is a marked row.
func (a *AllPoller) Poll(ctx context.Context) (*model.Overview, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := time.Now()
	interval := a.cfg.Interval
	if !a.lastPoll.IsZero() {
		if d := now.Sub(a.lastPoll); d > 0 && d < 10*interval {
			interval = d
		}
	}
	a.lastPoll = now
	found, unreadable, err := a.disc.Discover()
	if err != nil {
		return nil, err
	}
	a.sync(found)
	focus := a.Focused()
	if focus == "" {
		for _, f := range found {
			if f.Init {
				focus = f.ID.String()
			}
		}
	}

	// Vital signs of every namespace, then the dumps the schedule picks.
	inputs := make([]model.NamespaceInput, 0, len(found))
	vitals := make(map[source.NamespaceID]source.Vitals, len(found))
	var jobs []Job
	for _, f := range found {
		s := a.nss[f.ID]
		if s == nil {
			continue
		}
		s.vitals = source.Vitals{}
		if v, err := source.VitalsOf(a.cfg.Machine.ProcRoot(), s.namespace(), f.PIDs); err == nil {
			vitals[f.ID] = v
			s.vitals = v
		}
		if s.noEntry {
			continue
		}
		if s.empty() && f.ID.String() != focus {
			// The kernel counts no socket in it, as at its last dump:
			// that dump (of nothing) is what a new one would return.
			s.detailTime = s.vitals.Time
			continue
		}
		j := Job{Key: f.ID.String(), Last: s.detailTime, Since: s.seen, Quiet: s.quiet()}
		switch {
		case j.Key == focus:
			j.Class = Focus
		case s.detail != nil && model.Worst(s.detail.Findings) >= model.Warning:
			j.Class = Urgent
		}
		jobs = append(jobs, j)
	}
	var run []string
	if a.cfg.EveryPoll {
		for _, j := range jobs {
			run = append(run, j.Key)
		}
	} else {
		run = a.sched.Plan(now, interval, jobs)
	}
	byKey := make(map[string]*nsState, len(a.nss))
	for _, s := range a.nss {
		byKey[s.found.ID.String()] = s
	}
	for _, key := range run {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		s := byKey[key]
		t0 := time.Now()
		a.dump(ctx, s)
		a.sched.Done(key, time.Since(t0))
	}

	opt := a.Options()
	for _, f := range found {
		s := a.nss[f.ID]
		if s == nil {
			continue
		}
		v, ok := vitals[f.ID]
		in := model.NamespaceInput{ID: f.ID, Host: f.Init, Processes: len(f.PIDs), Mounts: f.Mounts,
			Labels: s.labels, Vitals: v, VitalsOK: ok && v.OK, NoEntry: s.noEntry,
			Detail: s.detail, DetailTime: s.detailTime, DetailErr: s.detailErr}
		if len(f.Names) > 0 {
			in.NetnsName = f.Names[0]
		}
		inputs = append(inputs, in)
	}
	ov := model.BuildOverview(now, a.cfg.Machine.Host(), inputs, a.prev, opt, focus)
	ov.Unreadable = unreadable
	a.prev = ov
	a.latest.Store(ov)
	return ov, nil
}

// sync opens namespaces seen for the first time, drops those gone, and
// refreshes the labels of those whose processes changed.
func (a *AllPoller) sync(found []source.FoundNamespace) {
	seen := make(map[source.NamespaceID]bool, len(found))
	for _, f := range found {
		seen[f.ID] = true
		s := a.nss[f.ID]
		if s == nil {
			ns, enterErr, err := source.OpenFound(a.cfg.Machine.ProcRoot(), f)
			if err != nil {
				continue // gone between discovery and open: next poll
			}
			s = &nsState{ns: ns, noEntry: enterErr != nil, seen: time.Now()}
			a.nss[f.ID] = s
		}
		s.found = f
		if !samePIDs(s.labPIDs, f.PIDs) {
			// A namespace keeps its name when its new processes name
			// nothing (a debugging shell nsenter'd into a pod).
			if l := a.lab.Label(f.PIDs); l != (source.Labels{}) || len(f.PIDs) == 0 && len(f.Mounts) == 0 {
				s.labels = l
			}
			s.labPIDs = append(s.labPIDs[:0], f.PIDs...)
		}
	}
	for id, s := range a.nss {
		if !seen[id] {
			// No process and no mount leads to it: our handle alone
			// keeps it alive. Let it go.
			s.close()
			a.sched.Forget(id.String())
			delete(a.nss, id)
		}
	}
}

func samePIDs(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// dump runs one namespace's full poll through its own Poller, opening its
// reader the first time.
func (a *AllPoller) dump(ctx context.Context, s *nsState) {
	if s.k == nil {
		k, err := a.cfg.Machine.Reader(s.ns, source.ReadOptions{})
		s.ns = nil // Reader took it over (and closed it on failure)
		if err != nil {
			s.detailErr = err
			s.noEntry = true
			// Keep a handle for the vital signs.
			if ns, _, oerr := source.OpenFound(a.cfg.Machine.ProcRoot(), s.found); oerr == nil {
				s.ns = ns
			}
			return
		}
		s.k = k
		s.p = New(Config{Reader: k, Thresholds: a.cfg.Thresholds, Options: a.Options()})
	}
	s.p.SetOptions(a.Options())
	snap, err := s.p.Next(ctx)
	if err != nil {
		s.detailErr = err
		return
	}
	if n := s.labels.Name(); n != "" {
		// The Poller's own snapshot stays as it was: label a copy.
		c := *snap
		c.Netns = n
		snap = &c
	}
	s.detail, s.detailTime, s.detailErr = snap, snap.Time, nil
	s.dumpVitals = s.vitals
}
