package model

import (
	"time"

	"github.com/tcptop/tcptop/source"
)

// Carried says what in a snapshot is older than its poll (the dump
// schedule: every second a dump of every state but ESTABLISHED, the full
// dump every few seconds). Its JSON form is the "carried" object.
type Carried struct {
	// States are the states whose sockets were not dumped in this poll.
	States []string `json:"states"`
	// FullDump is when they were: the peers, processes, ports and
	// per-socket detail of those sockets are from then.
	FullDump time.Time `json:"full_dump"`
	// AgeMS is the snapshot's time less FullDump, in milliseconds.
	AgeMS float64 `json:"age_ms"`
	// Carried is how many of those sockets the lists are built from;
	// states counts them as the kernel does now.
	Carried int `json:"carried"`
	// Unchanged: the kernel's counters show that no socket became
	// ESTABLISHED or left it since FullDump (none opened, the count the
	// same), so the carried sockets are all of them and the peers,
	// processes and ports built from them are right now; only their
	// queues, timers and owners are AgeMS old.
	Unchanged bool `json:"unchanged"`
}

// Age is how old the carried sockets are.
func (c *Carried) Age() time.Duration { return time.Duration(c.AgeMS * float64(time.Millisecond)) }

// ApplyPartial makes a snapshot built from a partial sample
// (source.Sample.Partial: ESTABLISHED sockets carried from the last full
// dump) exact and honest: the ESTABLISHED count becomes the kernel's,
// with the total, its rate against prev (the previous snapshot of the same
// Analyzer) and this poll's history point, and Carried marks what is old.
// It is called once, by the one writer, before the snapshot is shared; a
// snapshot without Partial is left as it is.
func ApplyPartial(snap, prev *Snapshot) {
	s := snap.Sample
	if s == nil || s.Partial == nil {
		return
	}
	p := s.Partial
	est := source.Established
	built := snap.States[est]
	snap.States[est] = p.Established
	snap.Total += p.Established - built
	if prev != nil && snap.Interval > 0 {
		snap.StateRates[est] = Rate(float64(snap.States[est]-prev.States[est]) / snap.Interval.Seconds())
	}
	if n := len(snap.History); n > 0 && snap.History[n-1].Time.Equal(snap.Time) {
		// The Analyzer's own point of this poll: growth and sparklines
		// see the exact count too.
		snap.History[n-1].States[est] = p.Established
	}
	snap.Carried = &Carried{States: []string{est.String()}, FullDump: p.FullTime,
		AgeMS: float64(snap.Time.Sub(p.FullTime).Milliseconds()), Carried: p.Carried, Unchanged: p.Unchanged}
}

// KeepCarried copies what ApplyPartial made exact from the snapshot a
// rebuild started from (a new sort or filter re-aggregates the same
// sample, which would count the carried sockets again).
func (snap *Snapshot) KeepCarried(from *Snapshot) {
	if from == nil || from.Carried == nil {
		return
	}
	est := source.Established
	snap.Total += from.States[est] - snap.States[est]
	snap.States[est] = from.States[est]
	snap.StateRates[est] = from.StateRates[est]
	snap.Carried = from.Carried
}
