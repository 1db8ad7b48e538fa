package main

// The benchmark's exactness check (issue 18): every state count of every
// document of the JSON stream against the ss -tan runs around its poll.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"
)

// streamDoc is what the check reads of one --json document.
type streamDoc struct {
	Time    time.Time       `json:"time"`
	States  map[string]int  `json:"states"`
	Carried json.RawMessage `json:"carried"`
	PollMS  struct {
		Total float64 `json:"total"`
	} `json:"poll_ms"`
}

// ssCount is one ss -tan run of the live window.
type ssCount struct {
	start, end time.Time
	states     map[string]int
}

// exactness is the check's verdict.
type exactness struct {
	bracketed, within int // documents with an ss run before and after; within both counts
	// withinChurn: within both counts widened by what the churn can
	// change between the two ss runs (issue 18: "within the churn
	// between two bracketing ss counts"); the same as within without
	// churn.
	withinChurn       int
	churn             int // connections/s asked of the churn (0: none)
	equal, exactEqual int // of those, the ones whose two ss counts agreed; equal to them
	partial, full     int
	firstMiss         string
}

// readStream decodes NDJSON documents until EOF.
func readStream(r io.Reader) []streamDoc {
	var docs []streamDoc
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 512<<20)
	for sc.Scan() {
		var d streamDoc
		if json.Unmarshal(sc.Bytes(), &d) == nil && d.States != nil {
			docs = append(docs, d)
		}
	}
	return docs
}

// checkExact compares each document's state counts with the last ss run
// that ended before its poll began and the first that began after it
// ended: each count must lie between the two (equal to them when they
// agree). With churn (connections/s), a count may also lie outside them
// by what the churn can change in between: each connection is two
// sockets, one state each at a time, opened (or, 60 s later, leaving
// TIME_WAIT) at that rate, so a count can rise and fall by up to
// 2 x churn x the time between the two runs, and both within one
// interval (TIME_WAIT expiring en masse while new ones come).
func checkExact(docs []streamDoc, runs []ssCount, churn int) exactness {
	e := exactness{churn: churn}
	for _, d := range docs {
		if len(d.Carried) > 0 && string(d.Carried) != "null" {
			e.partial++
		} else {
			e.full++
		}
		end := d.Time.Add(time.Duration(d.PollMS.Total * float64(time.Millisecond)))
		var before, after *ssCount
		for i := range runs {
			if !runs[i].end.After(d.Time) {
				before = &runs[i]
			}
			if after == nil && runs[i].start.After(end) {
				after = &runs[i]
			}
		}
		if before == nil || after == nil {
			continue
		}
		e.bracketed++
		slack := int(math.Ceil(2 * float64(churn) * after.start.Sub(before.end).Seconds()))
		ok, okChurn, same := true, true, true
		names := map[string]bool{}
		for k := range before.states {
			names[k] = true
		}
		for k := range after.states {
			names[k] = true
		}
		for k := range d.States {
			names[k] = true
		}
		for k := range names {
			b, a, got := before.states[k], after.states[k], d.States[k]
			if a != b {
				same = false
			}
			if got < min(a, b)-slack || got > max(a, b)+slack {
				okChurn = false
			}
			if got < min(a, b) || got > max(a, b) {
				ok = false
				if e.firstMiss == "" {
					e.firstMiss = fmt.Sprintf("%s at %s: %s %d, ss %d before and %d after", map[bool]string{true: "partial poll", false: "full poll"}[len(d.Carried) > 0 && string(d.Carried) != "null"],
						d.Time.UTC().Format("15:04:05.000"), k, got, b, a)
				}
			}
		}
		if ok {
			e.within++
		}
		if okChurn {
			e.withinChurn++
		}
		if same {
			e.equal++
			if ok {
				e.exactEqual++
			}
		}
	}
	return e
}
