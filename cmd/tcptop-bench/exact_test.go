package main

import (
	"encoding/json"
	"testing"
	"time"
)

// TestCheckExactChurn: a count strictly between the ss runs around its
// poll is exact; one outside them is a miss without churn, and within
// the churn's reach (2 sockets a connection over the time between the
// two runs) with it. The case is the one a churn run reported: TIME_WAIT
// sockets of the population expiring en masse while the churn made new
// ones, so the true count rose above the run before and then fell far
// below it.
func TestCheckExactChurn(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 15, 27, 9, 0, time.UTC)
	runs := []ssCount{
		{start: t0.Add(-200 * time.Millisecond), end: t0.Add(-100 * time.Millisecond), states: map[string]int{"TIME_WAIT": 17248, "ESTABLISHED": 90000}},
		{start: t0.Add(600 * time.Millisecond), end: t0.Add(700 * time.Millisecond), states: map[string]int{"TIME_WAIT": 11230, "ESTABLISHED": 90000}},
	}
	doc := func(tw, est int) streamDoc {
		d := streamDoc{Time: t0, States: map[string]int{"TIME_WAIT": tw, "ESTABLISHED": est}, Carried: json.RawMessage(`{}`)}
		d.PollMS.Total = 20
		return d
	}
	docs := []streamDoc{
		doc(17317, 90000), // 69 above the run before
		doc(15000, 90000), // between
		doc(17500, 90000), // 252 above: more than 150/s can make in 0.7 s (210)
		doc(15000, 90003), // ESTABLISHED 3 above two equal counts
	}
	strict := checkExact(docs, runs, 0)
	if strict.bracketed != 4 || strict.within != 1 || strict.withinChurn != 1 {
		t.Errorf("no churn: bracketed %d, within %d, within the churn %d; want 4, 1, 1", strict.bracketed, strict.within, strict.withinChurn)
	}
	churned := checkExact(docs, runs, 150)
	if churned.bracketed != 4 || churned.within != 1 || churned.withinChurn != 3 {
		t.Errorf("150/s: bracketed %d, within %d, within the churn %d; want 4, 1, 3", churned.bracketed, churned.within, churned.withinChurn)
	}
	if churned.partial != 4 || churned.firstMiss == "" {
		t.Errorf("partial %d, first miss %q", churned.partial, churned.firstMiss)
	}
}
