package main

// The benchmark's exactness check (issue 18): every state count of every
// document of the JSON stream against the ss -tan runs around its poll.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
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
// agree).
func checkExact(docs []streamDoc, runs []ssCount) exactness {
	var e exactness
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
		ok, same := true, true
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
		if same {
			e.equal++
			if ok {
				e.exactEqual++
			}
		}
	}
	return e
}
