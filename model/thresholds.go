package model

import (
	"fmt"
	"strconv"
	"strings"
)

// Default thresholds of the findings rules. Each can be changed with
// --threshold NAME=VALUE (see ThresholdNames).
const (
	// DefaultPortsWarn and DefaultPortsCrit: share of the usable ephemeral
	// range in use, overall or by one destination.
	DefaultPortsWarn = 0.60
	DefaultPortsCrit = 0.85
	// DefaultProberTimeWait: TIME_WAIT sockets between two local endpoints
	// on listening ports before the local-prober rule fires...
	DefaultProberTimeWait = 50
	// DefaultProberRatio: ...and how many times the LISTEN count they must be.
	DefaultProberRatio = 10.0
	// DefaultAcceptFill: accept-queue fill (queue/backlog) counted as near full.
	DefaultAcceptFill = 0.90
	// DefaultTimeWaitBuckets: TIME_WAIT count as a share of tcp_max_tw_buckets.
	DefaultTimeWaitBuckets = 0.80
	// DefaultCloseWait: CLOSE_WAIT sockets one process (or a pool sharing
	// a listening socket) holds, each for at least DefaultCloseWaitAgeSec,
	// before it is called a leak; DefaultCloseWaitCrit makes it critical.
	DefaultCloseWait     = 10
	DefaultCloseWaitCrit = 200
	// DefaultCloseWaitAgeSec: how long a socket must have been in
	// CLOSE_WAIT (first seen by cookie) to count toward a leak. A server
	// that closes a second or two after the peer's FIN is slow, not leaking.
	DefaultCloseWaitAgeSec = 5
	// DefaultFDWarn: open files as a share of RLIMIT_NOFILE that makes a
	// CLOSE_WAIT leak critical.
	DefaultFDWarn = 0.80
	// DefaultSynSent: stuck SYN_SENT sockets (SYN retransmitted, or seen in
	// two polls) to one peer.
	DefaultSynSent     = 10
	DefaultSynSentCrit = 100
	// DefaultGrowthWindowSec: how far back growth rates look, in seconds.
	DefaultGrowthWindowSec = 10
)

// Thresholds tune the findings rules.
type Thresholds struct {
	PortsWarn, PortsCrit     float64
	ProberTimeWait           int
	ProberRatio              float64
	AcceptFill               float64
	TimeWaitBuckets          float64
	CloseWait, CloseWaitCrit int
	CloseWaitAgeSec          float64
	FDWarn                   float64
	SynSent, SynSentCrit     int
	GrowthWindowSec          float64
}

// DefaultThresholds returns the defaults above.
func DefaultThresholds() Thresholds {
	return Thresholds{
		PortsWarn: DefaultPortsWarn, PortsCrit: DefaultPortsCrit,
		ProberTimeWait: DefaultProberTimeWait, ProberRatio: DefaultProberRatio,
		AcceptFill:      DefaultAcceptFill,
		TimeWaitBuckets: DefaultTimeWaitBuckets,
		CloseWait:       DefaultCloseWait, CloseWaitCrit: DefaultCloseWaitCrit,
		CloseWaitAgeSec: DefaultCloseWaitAgeSec,
		FDWarn:          DefaultFDWarn,
		SynSent:         DefaultSynSent, SynSentCrit: DefaultSynSentCrit,
		GrowthWindowSec: DefaultGrowthWindowSec,
	}
}

// thresholdSpec describes one tunable threshold.
type thresholdSpec struct {
	name, help string
	fraction   bool // a share in (0, 1]; else a positive number
	f          func(*Thresholds) *float64
	i          func(*Thresholds) *int
}

var thresholdSpecs = []thresholdSpec{
	{name: "ports-warn", help: "ephemeral ports used, overall or to one destination", fraction: true, f: func(t *Thresholds) *float64 { return &t.PortsWarn }},
	{name: "ports-crit", help: "... critical", fraction: true, f: func(t *Thresholds) *float64 { return &t.PortsCrit }},
	{name: "prober-time-wait", help: "TIME_WAIT between local ends on a listening port", i: func(t *Thresholds) *int { return &t.ProberTimeWait }},
	{name: "prober-ratio", help: "... and this many times the LISTEN sockets", f: func(t *Thresholds) *float64 { return &t.ProberRatio }},
	{name: "accept-fill", help: "accept queue/backlog counted as nearly full", fraction: true, f: func(t *Thresholds) *float64 { return &t.AcceptFill }},
	{name: "tw-buckets", help: "TIME_WAIT as a share of tcp_max_tw_buckets", fraction: true, f: func(t *Thresholds) *float64 { return &t.TimeWaitBuckets }},
	{name: "close-wait", help: "CLOSE_WAIT sockets of one process or pool, each older than:", i: func(t *Thresholds) *int { return &t.CloseWait }},
	{name: "close-wait-age", help: "... seconds in CLOSE_WAIT (a slower close is a lag)", f: func(t *Thresholds) *float64 { return &t.CloseWaitAgeSec }},
	{name: "close-wait-crit", help: "... critical", i: func(t *Thresholds) *int { return &t.CloseWaitCrit }},
	{name: "fd-warn", help: "open files/RLIMIT_NOFILE: a CLOSE_WAIT leak is critical", fraction: true, f: func(t *Thresholds) *float64 { return &t.FDWarn }},
	{name: "syn-sent", help: "stuck SYN_SENT sockets to one peer", i: func(t *Thresholds) *int { return &t.SynSent }},
	{name: "syn-sent-crit", help: "... critical", i: func(t *Thresholds) *int { return &t.SynSentCrit }},
	{name: "growth-window", help: "seconds of history behind growth rates", f: func(t *Thresholds) *float64 { return &t.GrowthWindowSec }},
}

// ThresholdNames lists "name=default  meaning" for each threshold, for
// --help.
func ThresholdNames() []string {
	d := DefaultThresholds()
	out := make([]string, 0, len(thresholdSpecs))
	for _, s := range thresholdSpecs {
		var v string
		if s.f != nil {
			v = strconv.FormatFloat(*s.f(&d), 'g', -1, 64)
		} else {
			v = strconv.Itoa(*s.i(&d))
		}
		out = append(out, fmt.Sprintf("%-20s %s", s.name+"="+v, s.help))
	}
	return out
}

// Set parses "name=value[,name=value...]" into t. Errors name the bad part
// and list the valid names.
func (t *Thresholds) Set(expr string) error {
	for part := range strings.SplitSeq(expr, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, val, ok := strings.Cut(part, "=")
		if !ok {
			return fmt.Errorf("threshold %q: want NAME=VALUE", part)
		}
		name = strings.TrimSpace(name)
		var spec *thresholdSpec
		for i := range thresholdSpecs {
			if thresholdSpecs[i].name == name {
				spec = &thresholdSpecs[i]
			}
		}
		if spec == nil {
			names := make([]string, len(thresholdSpecs))
			for i, s := range thresholdSpecs {
				names[i] = s.name
			}
			return fmt.Errorf("unknown threshold %q (one of: %s)", name, strings.Join(names, ", "))
		}
		val = strings.TrimSpace(val)
		if spec.i != nil {
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 {
				return fmt.Errorf("threshold %s=%q: want a whole number of at least 1", name, val)
			}
			*spec.i(t) = n
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSuffix(val, "%"), 64)
		if strings.HasSuffix(val, "%") {
			f /= 100
		}
		switch {
		case err != nil || f != f || f <= 0:
			return fmt.Errorf("threshold %s=%q: want a positive number", name, val)
		case spec.fraction && f > 1:
			return fmt.Errorf("threshold %s=%q: want a share between 0 and 1 (or 1%%..100%%)", name, val)
		case !spec.fraction && f > 1e6:
			return fmt.Errorf("threshold %s=%q: too large", name, val)
		}
		*spec.f(t) = f
	}
	return nil
}
