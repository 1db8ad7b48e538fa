package pipeline

import (
	"cmp"
	"slices"
	"time"
)

// Scheduler decides, each round, which of a set of dumps run, under a CPU
// budget. It is the one dump scheduler: the namespaces of --all-netns are
// its jobs (one per namespace: its full dump), and a masked-dump schedule
// (a cheap dump every round, the full walk every N s) is the same thing
// with two jobs per dump target, each with its own MaxAge.
//
// Each job has a key, a class (Focus: always runs; Urgent: runs before
// the rest, e.g. a namespace with a finding) and the time its detail was
// last refreshed. A round runs:
//
//  1. every Focus job;
//  2. every job whose detail would be older than its MaxAge by the next
//     round (the staleness bound is a promise: it runs even over budget);
//  3. jobs never run, then Urgent jobs, then the rest, oldest detail
//     first, while the sum of their estimated costs fits the budget left;
//     a Quiet routine job (nothing changed since its last run, as far as
//     cheaper signs tell) is not run to fill the budget, only when due.
//
// A job never run is due once it has waited MaxAge since it was first
// offered (Job.Since): no detail stays missing longer than old detail may
// get, however many jobs appear at once.
//
// A job's cost is estimated from its own past runs (an exponentially
// weighted mean of Done's durations); a job never run costs Guess. A job
// that does not fit is skipped, not the whole round: smaller ones behind
// it may fit. At least one non-focus job runs per round when any is
// waiting, so the rest always advance.
//
// A Scheduler is not safe for concurrent use: one poll loop plans a
// round, runs it and reports each job's cost with Done.
type Scheduler struct {
	// Budget is the CPU the dumps of a round may take, as a fraction of
	// the round's interval (0.10: 100 ms a second).
	Budget float64
	// MaxAge bounds how old any job's detail may get (10 s when 0); a
	// Job's own MaxAge overrides it.
	MaxAge time.Duration
	// Guess is the cost assumed for a job never run (5 ms when 0).
	Guess time.Duration
	// Lazy runs only Focus jobs and jobs that are due (or never run):
	// no budget filling and no forced advance. The dump schedule is
	// lazy: its cheap dump runs every round outside the scheduler, the
	// full one only when due or asked for.
	Lazy bool

	est map[string]time.Duration
}

// Class orders jobs within a round.
type Class uint8

// Job classes, most pressing last.
const (
	// Routine jobs run in turn, oldest detail first.
	Routine Class = iota
	// Urgent jobs run before routine ones (a namespace with a finding).
	Urgent
	// Focus jobs run every round (what the operator is looking at).
	Focus
)

// Job is one dump the scheduler may run this round.
type Job struct {
	// Key names the job across rounds (a namespace, a namespace and a
	// dump kind).
	Key string
	// Class orders it.
	Class Class
	// Last is when its detail was last refreshed (zero: never).
	Last time.Time
	// MaxAge overrides the Scheduler's MaxAge for this job (0: keep it).
	MaxAge time.Duration
	// Since is when the job was first offered: a job never run (Last
	// zero) is due MaxAge after it (zero: never forced).
	Since time.Time
	// Quiet says nothing changed since its last run as far as cheaper
	// signs tell (a namespace's vital signs): a Routine one runs only
	// when due.
	Quiet bool
}

// Plan returns the keys of the jobs to run in the round starting at now,
// the next one due interval later, in the order to run them.
func (s *Scheduler) Plan(now time.Time, interval time.Duration, jobs []Job) []string {
	maxAge := s.MaxAge
	if maxAge <= 0 {
		maxAge = 10 * time.Second
	}
	budget := time.Duration(s.Budget * float64(interval))
	var run []string
	var rest []Job
	for _, j := range jobs {
		age := maxAge
		if j.MaxAge > 0 {
			age = j.MaxAge
		}
		switch {
		case j.Class == Focus:
			run = append(run, j.Key)
			budget -= s.cost(j.Key)
		case j.Last.IsZero() && len(jobs) == 1:
			run = append(run, j.Key)
			budget -= s.cost(j.Key)
		case !j.Last.IsZero() && now.Add(interval).Sub(j.Last) > age,
			j.Last.IsZero() && !j.Since.IsZero() && now.Add(interval).Sub(j.Since) > age:
			// Due: by the next round it would be too old (or still
			// missing after as long).
			run = append(run, j.Key)
			budget -= s.cost(j.Key)
		default:
			rest = append(rest, j)
		}
	}
	if s.Lazy {
		return run
	}
	slices.SortStableFunc(rest, func(a, b Job) int {
		// Never run first (no detail at all beats old detail), then by
		// class, then oldest detail first.
		if an, bn := a.Last.IsZero(), b.Last.IsZero(); an != bn {
			if an {
				return -1
			}
			return 1
		}
		if a.Class != b.Class {
			return cmp.Compare(b.Class, a.Class)
		}
		return a.Last.Compare(b.Last)
	})
	forced := false
	nonFocus := len(run) - countFocus(jobs)
	for _, j := range rest {
		if j.Quiet && j.Class == Routine && !j.Last.IsZero() {
			continue
		}
		c := s.cost(j.Key)
		if c <= budget || (!forced && nonFocus == 0) {
			run = append(run, j.Key)
			budget -= c
			forced = true
		}
	}
	return run
}

func countFocus(jobs []Job) int {
	n := 0
	for _, j := range jobs {
		if j.Class == Focus {
			n++
		}
	}
	return n
}

// Done records what a job's run cost.
func (s *Scheduler) Done(key string, took time.Duration) {
	if s.est == nil {
		s.est = map[string]time.Duration{}
	}
	if old, ok := s.est[key]; ok {
		took = (3*old + took) / 4
	}
	s.est[key] = took
}

// Forget drops a job that will not come back (a namespace gone).
func (s *Scheduler) Forget(key string) { delete(s.est, key) }

// Cost is the scheduler's estimate of a job's cost.
func (s *Scheduler) Cost(key string) time.Duration { return s.cost(key) }

func (s *Scheduler) cost(key string) time.Duration {
	if c, ok := s.est[key]; ok {
		return c
	}
	if s.Guess > 0 {
		return s.Guess
	}
	return 5 * time.Millisecond
}
