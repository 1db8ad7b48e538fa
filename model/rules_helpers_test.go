package model

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tcptop/tcptop/source"
)

// A rule test is a few polls of hand-built samples fed to a fresh Analyzer;
// the last snapshot's findings are checked.

// poll builds one sample at second sec.
type poll struct {
	sec      float64
	counters map[string]int64
	build    func(b *sb)
	sysctl   func(sc *source.Sysctls)
	noProcs  bool
	procs    map[int32]*source.Process // default: procs
}

func (p poll) sample() *source.Sample {
	var b sb
	if p.build != nil {
		p.build(&b)
	}
	sc := sysctls()
	sc.MaxSynBacklog, sc.TwReuse, sc.Timestamps = 1024, 2, 1
	sc.Raw = map[string]string{
		"net.ipv4.ip_local_port_range":     "32768 60999",
		"net.ipv4.ip_local_reserved_ports": "40000-40009",
		"net.core.somaxconn":               "4096",
		"net.ipv4.tcp_tw_reuse":            "2",
		"net.ipv4.tcp_timestamps":          "1",
		"net.ipv4.tcp_max_tw_buckets":      "131072",
		"net.ipv4.tcp_fin_timeout":         "60",
	}
	if p.sysctl != nil {
		p.sysctl(&sc)
	}
	ctr := map[string]int64{"ListenOverflows": 0, "ListenDrops": 0, "AttemptFails": 0,
		"TCPTimeWaitOverflow": 0, "TWRecycled": 0, "ActiveOpens": 0, "PassiveOpens": 0}
	for k, v := range p.counters {
		ctr[k] = v
	}
	return &source.Sample{
		Time:       t0.Add(time.Duration(p.sec * float64(time.Second))),
		Host:       "testhost",
		Sockets:    b.socks,
		Procs:      cmpOr(p.procs, procs),
		Attributed: !p.noProcs,
		Sysctl:     sc,
		Counters:   ctr,
	}
}

// analyze feeds the polls to a fresh Analyzer with th and returns the last
// snapshot.
func analyze(th Thresholds, polls ...poll) *Snapshot {
	a := NewAnalyzer(th)
	var snap *Snapshot
	for _, p := range polls {
		snap = a.Next(p.sample(), Options{})
	}
	return snap
}

// byRule returns the findings of one rule.
func byRule(s *Snapshot, rule string) []Finding {
	var out []Finding
	for _, f := range s.Findings {
		if f.Rule == rule {
			out = append(out, f)
		}
	}
	return out
}

// want describes the expected findings of one rule.
type want struct {
	n        int // how many findings of the rule
	severity Severity
	subject  Subject
	evidence []string // substrings of the first finding's evidence
	advice   []string // substrings of its advice
	noAdvice []string // substrings its advice must not hold
}

func checkRule(t *testing.T, s *Snapshot, rule string, w want) {
	t.Helper()
	got := byRule(s, rule)
	if len(got) != w.n {
		t.Fatalf("%d %s findings, want %d; all findings:\n%s", len(got), rule, w.n, dumpFindings(s.Findings))
	}
	if w.n == 0 {
		return
	}
	f := got[0]
	if f.Severity != w.severity {
		t.Errorf("severity %v, want %v:\n%s", f.Severity, w.severity, dumpFindings(got))
	}
	if subjectText(f.Subject) != w.subject {
		t.Errorf("subject %+v, want %+v", f.Subject, w.subject)
	}
	checkTypedSubject(t, f.Subject)
	ev, adv := joinTexts(f.Evidence), joinTexts(f.Advice)
	for _, e := range w.evidence {
		if !strings.Contains(ev, e) {
			t.Errorf("evidence lacks %q:\n%s", e, ev)
		}
	}
	for _, a := range w.advice {
		if !strings.Contains(adv, a) {
			t.Errorf("advice lacks %q:\n%s", a, adv)
		}
	}
	for _, a := range w.noAdvice {
		if strings.Contains(adv, a) {
			t.Errorf("advice holds %q:\n%s", a, adv)
		}
	}
	if f.Title.String() == "" || len(f.Evidence) == 0 || len(f.Advice) == 0 {
		t.Errorf("finding lacks a title, evidence or advice: %+v", f)
	}
}

func dumpFindings(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "  %s %s %q subject %+v\n", f.Severity, f.Rule, f.Title, f.Subject)
		for _, e := range f.Evidence {
			fmt.Fprintf(&b, "      %s\n", e)
		}
	}
	return b.String()
}

// subjectText is a subject's JSON fields only (what the tests spell out).
func subjectText(s Subject) Subject {
	return Subject{Kind: s.Kind, Remote: s.Remote, Local: s.Local, Direction: s.Direction, PID: s.PID, Name: s.Name}
}

// checkTypedSubject checks a subject's typed key says what its text says:
// front ends match rows by the key, never by parsing the text.
func checkTypedSubject(t *testing.T, s Subject) {
	t.Helper()
	switch s.Kind {
	case SubjectDestination:
		if s.Dest.Remote.String() != s.Remote || s.Dest.Local.String() != s.Local {
			t.Errorf("destination key %+v does not match %q/%q", s.Dest, s.Local, s.Remote)
		}
	case SubjectPeer:
		if s.Peer.Remote.String() != s.Remote && s.Peer.Remote.Addr().String() != s.Remote {
			t.Errorf("peer key %+v does not match %q", s.Peer, s.Remote)
		}
	case SubjectListener:
		if s.Listener.String() != s.Local {
			t.Errorf("listener key %v does not match %q", s.Listener, s.Local)
		}
	case SubjectProcess:
		if s.Proc.PID != s.PID {
			t.Errorf("process key %+v does not match pid %d", s.Proc, s.PID)
		}
	}
}

// joinTexts is the texts as the batch output prints them, one per line.
func joinTexts(ts []Text) string {
	ss := make([]string, len(ts))
	for i, x := range ts {
		ss[i] = x.String()
	}
	return strings.Join(ss, "\n")
}

// addr formats ip:port.
func addr(ip string, port int) string {
	return netip.AddrPortFrom(netip.MustParseAddr(ip), uint16(port)).String()
}

func cmpOr(a, b map[int32]*source.Process) map[int32]*source.Process {
	if a != nil {
		return a
	}
	return b
}
