package incidents

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

func TestMain(m *testing.M) {
	RunChild() // the population's processes are this test binary again
	os.Exit(m.Run())
}

// pollInterval is the refresh interval of the simulated tcptop.
const pollInterval = 500 * time.Millisecond

// standTimeout bounds how long a population may take to stand.
const standTimeout = 30 * time.Second

// poll is one refresh: the sample and what both analyzers made of it.
type poll struct {
	n      int // post-stand poll number (0 before the population stood)
	sample *source.Sample
	watch  *model.Snapshot
	fresh  *model.Snapshot // nil before the population stood
}

// newPopulation makes the scenario's namespaces with a random name.
func newPopulation(t *testing.T, name string) *Population {
	t.Helper()
	if err := CheckEnv(); err != nil {
		t.Skip(err)
	}
	sc, err := Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	p, err := New(sc, Options{Namespace: "tcptop-inc-" + hex.EncodeToString(rnd[:]), MaxLife: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		t0 := time.Now()
		if err := p.Close(); err != nil {
			t.Errorf("close population: %v", err)
		}
		t.Logf("cleanup took %v", time.Since(t0).Round(time.Millisecond))
	})
	return p
}

// observe builds the scenario while a simulated tcptop polls its namespace
// every pollInterval: one analyzer watching from before the population
// started ("already open"), one created when it stood ("opened during the
// incident"). It returns every poll, ending with `after` polls taken after
// the population stood.
func observe(t *testing.T, p *Population, after int) []poll {
	t.Helper()
	k, err := source.Open(source.Options{Netns: p.Netns, Attribute: true})
	if err != nil {
		t.Fatalf("open %s: %v", p.Netns, err)
	}
	t.Cleanup(func() { k.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), standTimeout+10*time.Second)
	defer cancel()

	watch := model.NewAnalyzer(model.DefaultThresholds())
	var fresh *model.Analyzer
	type result struct {
		err  error
		took time.Duration
	}
	stood := make(chan result, 1)
	go func() {
		t0 := time.Now()
		sctx, scancel := context.WithTimeout(ctx, standTimeout)
		defer scancel()
		err := p.Start(sctx)
		stood <- result{err, time.Since(t0)}
	}()
	var polls []poll
	post := 0
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for post < after {
		if fresh == nil {
			select {
			case r := <-stood:
				if r.err != nil {
					t.Fatalf("%s did not stand: %v", p.Scenario.Name, r.err)
				}
				t.Logf("%s stood after %v", p.Scenario.Name, r.took.Round(time.Millisecond))
				fresh = model.NewAnalyzer(model.DefaultThresholds())
			default:
			}
		}
		s, err := k.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		pl := poll{sample: s, watch: watch.Next(s, model.Options{})}
		if fresh != nil {
			post++
			pl.n = post
			pl.fresh = fresh.Next(s, model.Options{})
		}
		polls = append(polls, pl)
		t.Logf("poll %d (%s): %s", len(polls), stage(pl), describe(pl.watch))
		if pl.fresh != nil && !sameFindings(pl.watch.Findings, pl.fresh.Findings) {
			t.Logf("   fresh analyzer: %s", findingsLine(pl.fresh.Findings))
		}
		if post == after {
			break
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("%s: %v", p.Scenario.Name, ctx.Err())
		}
	}
	if last := polls[len(polls)-1].watch; testing.Verbose() {
		for _, f := range last.Findings {
			t.Logf("last refresh: %s %s [%s]\n\t%s", f.Severity, f.Rule, f.Subject, joinTexts(f.Evidence, "\n\t"))
		}
	}
	select {
	case err := <-p.Failed():
		t.Errorf("a child failed: %v", err)
	default:
	}
	return polls
}

func stage(pl poll) string {
	if pl.n == 0 {
		return "building"
	}
	return fmt.Sprintf("stood, refresh %d", pl.n)
}

// describe sums up a snapshot: the state counts that matter and the findings.
func describe(s *model.Snapshot) string {
	var parts []string
	for _, st := range []source.State{source.Established, source.SynSent, source.TimeWait, source.CloseWait, source.FinWait2, source.Listen} {
		if n := s.States.Get(st); n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", st, n))
		}
	}
	return strings.Join(parts, " ") + " | " + findingsLine(s.Findings)
}

func findingsLine(fs []model.Finding) string {
	if len(fs) == 0 {
		return "no findings"
	}
	var b []string
	for _, f := range fs {
		b = append(b, fmt.Sprintf("%s %s [%s] %q", f.Severity, f.Rule, f.Subject, f.Title))
	}
	return strings.Join(b, "; ")
}

func sameFindings(a, b []model.Finding) bool {
	return slices.EqualFunc(a, b, func(x, y model.Finding) bool {
		return x.Rule == y.Rule && x.Severity == y.Severity && SameSubject(x.Subject, y.Subject)
	})
}

// checkFindings asserts the expected findings within the first two polls
// after the population stood, for both analyzers, and no false alarm at
// any poll: every finding at warning or above must be an expected one
// (right rule, right subject) or one of the allowed secondary rules.
func checkFindings(t *testing.T, p *Population, polls []poll) {
	t.Helper()
	exp := p.Expect
	for _, who := range []string{"watching", "fresh"} {
		snaps := func(within int) []*model.Snapshot {
			var out []*model.Snapshot
			for _, pl := range polls {
				s := pl.watch
				if who == "fresh" {
					s = pl.fresh
				}
				if s != nil && pl.n >= 1 && pl.n <= within {
					out = append(out, s)
				}
			}
			return out
		}
		for _, w := range exp.Findings {
			var best model.Severity
			firstAt := 0
			for i, s := range snaps(2) {
				for _, f := range s.Findings {
					if w.Matches(f) {
						best = max(best, f.Severity)
						if firstAt == 0 {
							firstAt = i + 1
						}
					}
				}
			}
			switch {
			case firstAt == 0:
				t.Errorf("%s analyzer: no %s finding on %s within two refreshes", who, w.Rule, w.Subject)
			case best < w.Severity:
				t.Errorf("%s analyzer: %s on %s reached only %s within two refreshes, want %s", who, w.Rule, w.Subject, best, w.Severity)
			default:
				t.Logf("%s analyzer: %s on %s at refresh %d, %s", who, w.Rule, w.Subject, firstAt, best)
			}
		}
	}
	// One report per false alarm (rule and subject), at its first poll.
	type alarm struct {
		first string
		f     model.Finding
		polls int
	}
	var alarms []*alarm
	for i, pl := range polls {
		for _, s := range []*model.Snapshot{pl.watch, pl.fresh} {
			if s == nil {
				continue
			}
			for _, f := range s.Findings {
				if f.Severity < model.Warning || slices.Contains(exp.Allowed, f.Rule) {
					continue
				}
				if slices.ContainsFunc(exp.Findings, func(w Want) bool { return w.Matches(f) }) {
					continue
				}
				j := slices.IndexFunc(alarms, func(a *alarm) bool { return a.f.Rule == f.Rule && SameSubject(a.f.Subject, f.Subject) })
				if j < 0 {
					alarms = append(alarms, &alarm{first: fmt.Sprintf("poll %d (%s)", i+1, stage(pl)), f: f})
					j = len(alarms) - 1
				}
				alarms[j].polls++
			}
		}
	}
	for _, a := range alarms {
		t.Errorf("false alarm or wrong subject, from %s on (%d snapshots): %s %s [%+v] %q\n\tevidence: %s",
			a.first, a.polls, a.f.Severity, a.f.Rule, a.f.Subject, a.f.Title, joinTexts(a.f.Evidence, "\n\t          "))
	}
}

// runScenario builds a scenario, watches it and checks the findings.
func runScenario(t *testing.T, name string) {
	p := newPopulation(t, name)
	polls := observe(t, p, 2)
	checkFindings(t, p, polls)
	checkAdvice(t, polls)
}

func TestEphemeralPorts(t *testing.T)  { runScenario(t, "ephemeral") }
func TestLocalProber(t *testing.T)     { runScenario(t, "prober") }
func TestAcceptQueue(t *testing.T)     { runScenario(t, "accept-queue") }
func TestTimeWaitBuckets(t *testing.T) { runScenario(t, "tw-buckets") }
func TestCloseWaitLeak(t *testing.T)   { runScenario(t, "close-wait") }
func TestSynSentPileup(t *testing.T)   { runScenario(t, "syn-sent") }

// TestAcceptQueueSomaxconn128 is incident 3 at its own numbers: the full
// queue holds 129 connections whose clients closed them, so they sit in
// CLOSE_WAIT inside the accept queue, never accepted by the service.
func TestAcceptQueueSomaxconn128(t *testing.T) { runScenario(t, "accept-queue-128") }

// TestQuietBaselines: an idle namespace and a healthy keep-alive workload
// give no finding at all over several refreshes.
func TestQuietBaselines(t *testing.T) {
	for _, name := range []string{"idle", "healthy"} {
		t.Run(name, func(t *testing.T) {
			p := newPopulation(t, name)
			polls := observe(t, p, 6)
			for i, pl := range polls {
				for _, s := range []*model.Snapshot{pl.watch, pl.fresh} {
					if s != nil && len(s.Findings) > 0 {
						t.Errorf("poll %d (%s): %s", i+1, stage(pl), findingsLine(s.Findings))
					}
				}
			}
			if name == "healthy" {
				last := polls[len(polls)-1].watch
				if got := last.States.Get(source.Established); got < 2*HealthyConns {
					t.Errorf("healthy workload: %d ESTABLISHED, want at least %d", got, 2*HealthyConns)
				}
			}
		})
	}
}

// joinTexts joins findings' lines as the text output prints them.
func joinTexts(ts []model.Text, sep string) string {
	ss := make([]string, len(ts))
	for i, t := range ts {
		ss[i] = t.String()
	}
	return strings.Join(ss, sep)
}
