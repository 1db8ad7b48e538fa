package pipeline

import (
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestSchedulerPlan(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	sec := time.Second
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	fixed := func(costs map[string]time.Duration) *Scheduler {
		s := &Scheduler{Budget: 0.1, MaxAge: 10 * sec}
		for k, c := range costs {
			s.Done(k, c)
		}
		return s
	}
	tests := []struct {
		name  string
		s     *Scheduler
		jobs  []Job
		want  []string
		check func(t *testing.T, got []string)
	}{
		{
			name: "focus always runs, even over budget",
			s:    fixed(map[string]time.Duration{"f": 500 * time.Millisecond, "a": 10 * time.Millisecond}),
			jobs: []Job{{Key: "a", Last: ago(2 * sec)}, {Key: "f", Class: Focus, Last: ago(sec)}},
			// a still runs: one non-focus job per round keeps the rest moving.
			want: []string{"f", "a"},
		},
		{
			name: "due by the next round runs over budget",
			s:    fixed(map[string]time.Duration{"old": 300 * time.Millisecond, "new": 10 * time.Millisecond}),
			jobs: []Job{{Key: "new", Last: ago(sec)}, {Key: "old", Last: ago(9500 * time.Millisecond)}},
			want: []string{"old"},
		},
		{
			name: "a job's own MaxAge",
			s:    fixed(map[string]time.Duration{"a": 300 * time.Millisecond, "b": 300 * time.Millisecond}),
			jobs: []Job{{Key: "a", Last: ago(1500 * time.Millisecond), MaxAge: 2 * sec}, {Key: "b", Last: ago(5 * sec)}},
			want: []string{"a"},
		},
		{
			name: "never run first, then urgent, then oldest, within budget",
			s: fixed(map[string]time.Duration{"u": 30 * time.Millisecond, "r1": 30 * time.Millisecond,
				"r2": 30 * time.Millisecond, "n": 30 * time.Millisecond}),
			jobs: []Job{{Key: "r1", Last: ago(3 * sec)}, {Key: "r2", Last: ago(5 * sec)},
				{Key: "u", Class: Urgent, Last: ago(sec)}, {Key: "n"}},
			want: []string{"n", "u", "r2"},
		},
		{
			name: "a job that does not fit is skipped, a smaller one behind it runs",
			s: fixed(map[string]time.Duration{"big": 90 * time.Millisecond, "small": 5 * time.Millisecond,
				"mid": 20 * time.Millisecond}),
			jobs: []Job{{Key: "mid", Last: ago(5 * sec)}, {Key: "big", Last: ago(4 * sec)}, {Key: "small", Last: ago(3 * sec)}},
			want: []string{"mid", "small"},
		},
		{
			name: "quiet routine jobs are not filler, but run when due; quiet urgent ones are",
			s: fixed(map[string]time.Duration{"q": time.Millisecond, "qdue": time.Millisecond, "busy": time.Millisecond,
				"qurgent": time.Millisecond}),
			jobs: []Job{{Key: "q", Last: ago(5 * sec), Quiet: true}, {Key: "qdue", Last: ago(9500 * time.Millisecond), Quiet: true},
				{Key: "busy", Last: ago(sec)}, {Key: "qurgent", Class: Urgent, Last: ago(sec), Quiet: true}},
			want: []string{"qdue", "qurgent", "busy"},
		},
		{
			name: "a job never run is due MaxAge after it appeared",
			s:    fixed(map[string]time.Duration{"x": 500 * time.Millisecond, "y": 500 * time.Millisecond, "z": 500 * time.Millisecond}),
			jobs: []Job{{Key: "x", Since: ago(9500 * time.Millisecond)}, {Key: "y", Since: ago(sec)}, {Key: "z", Since: ago(sec)}},
			// x is due; y would be forced only if no other non-focus ran.
			want: []string{"x"},
		},
		{
			name: "one job never run, alone: runs at once",
			s:    &Scheduler{Budget: 0.001},
			jobs: []Job{{Key: "only"}},
			want: []string{"only"},
		},
		{
			name: "100 namespaces, 10 ms each, 8% budget: 8 a round, oldest first",
			s: func() *Scheduler {
				s := &Scheduler{Budget: 0.08}
				for i := range 100 {
					s.Done(strconv.Itoa(i), 10*time.Millisecond)
				}
				return s
			}(),
			jobs: func() []Job {
				var js []Job
				for i := range 100 {
					js = append(js, Job{Key: strconv.Itoa(i), Last: ago(time.Duration(i) * 50 * time.Millisecond)})
				}
				return js
			}(),
			want: []string{"99", "98", "97", "96", "95", "94", "93", "92"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.s.Plan(now, sec, tc.jobs)
			if !slices.Equal(got, tc.want) {
				t.Errorf("Plan = %v, want %v", got, tc.want)
			}
		})
	}
}

// Run round after round, 100 namespaces at 10 ms a dump and an 8% budget
// (8 a round) never leave any detail older than MaxAge, and none missing
// past MaxAge after they appeared.
func TestSchedulerKeepsEveryJobFresh(t *testing.T) {
	s := &Scheduler{Budget: 0.08, MaxAge: 10 * time.Second}
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	last := map[string]time.Time{}
	for round := range 120 {
		now := start.Add(time.Duration(round) * time.Second)
		var jobs []Job
		for i := range 100 {
			k := strconv.Itoa(i)
			j := Job{Key: k, Last: last[k], Since: start, Class: Routine}
			if i < 30 {
				j.Class = Urgent // a third have findings
			}
			if i == 7 {
				j.Class = Focus
			}
			jobs = append(jobs, j)
		}
		for _, k := range s.Plan(now, time.Second, jobs) {
			last[k] = now
			s.Done(k, 10*time.Millisecond)
		}
		if round < 11 {
			continue
		}
		for i := range 100 {
			k := strconv.Itoa(i)
			if age := now.Sub(last[k]); last[k].IsZero() || age > 10*time.Second {
				t.Fatalf("round %d: job %s last run %v ago (never: %v)", round, k, age, last[k].IsZero())
			}
		}
		if !last["7"].Equal(now) {
			t.Fatalf("round %d: the focus did not run", round)
		}
	}
}
