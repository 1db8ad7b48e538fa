package model

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/tcptop/tcptop/source"
)

// A Finding is what an experienced engineer would say after reading the
// numbers: what is wrong, the evidence for it, what to do, and where to
// look (Subject). Rules in rule_*.go produce them from a snapshot and the
// recent history; each rule is pure and table-tested on its own.
//
// The words (Title, Evidence, Advice) are Texts each front end draws its
// own way; the structured parts (Subject, Facts, Knobs) are what scripts,
// the exporter and the monitor's jump to the subject use, never the words.
type Finding struct {
	// Rule names the rule that fired: a stable identifier for scripts
	// ("ephemeral_ports", "close_wait_leak", ...).
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	// Title is one line, fit for the findings strip.
	Title    Text    `json:"title"`
	Subject  Subject `json:"subject"`
	Evidence []Text  `json:"evidence"`
	Advice   []Text  `json:"advice"`
	// Facts are the numbers the finding rests on, by a stable snake_case
	// name ("in_use", "usable", "overflows_per_sec", ...).
	Facts map[string]float64 `json:"facts,omitempty"`
	// Knobs are the tunables the advice names, with their values now.
	Knobs []Knob `json:"knobs,omitempty"`
}

// Knob is a tunable a finding's advice names, with its current value as
// read ("unknown" when it could not be read).
type Knob struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Subject is what a finding is about, in the terms of the table: a
// destination or peer, a listener, a process or the whole host. The typed
// fields (Dest, Peer, Listener, Proc) identify it; the strings are their
// text for JSON.
type Subject struct {
	// Kind is "destination", "peer", "listener", "process" or "host".
	Kind      string `json:"kind"`
	Remote    string `json:"remote,omitempty"`
	Local     string `json:"local,omitempty"`
	Direction string `json:"direction,omitempty"`
	PID       int32  `json:"pid,omitempty"`
	Name      string `json:"name,omitempty"`

	// Dest is a destination subject's key.
	Dest DestKey `json:"-"`
	// Peer is a peer subject's key.
	Peer PeerKey `json:"-"`
	// Listener is a listener subject's endpoint.
	Listener netip.AddrPort `json:"-"`
	// Proc is a process subject's key.
	Proc ProcKey `json:"-"`
}

// Subject kinds.
const (
	SubjectDestination = "destination"
	SubjectPeer        = "peer"
	SubjectListener    = "listener"
	SubjectProcess     = "process"
	SubjectHost        = "host"
)

// hostSubject is the whole machine.
func hostSubject() Subject { return Subject{Kind: SubjectHost} }

// destSubject is an ephemeral-port destination.
func destSubject(d *Destination) Subject {
	return Subject{Kind: SubjectDestination, Remote: d.Remote, Local: d.LocalIP, Direction: "out", Dest: d.Key}
}

// outPeerSubject is the outgoing peer remote.
func outPeerSubject(remote netip.AddrPort) Subject {
	return Subject{Kind: SubjectPeer, Remote: remote.String(), Direction: "out", Peer: PeerKey{Remote: remote}}
}

// listenerSubject is a listener.
func listenerSubject(l *Listener) Subject {
	return Subject{Kind: SubjectListener, Local: l.Local, Listener: l.Addr}
}

// processSubject is a process (pid 0: the sockets no process is known for).
func processSubject(pid int32, procs map[int32]*source.Process) Subject {
	s := Subject{Kind: SubjectProcess, PID: pid, Name: UnknownName, Proc: ProcKey{PID: pid}}
	if pid != 0 {
		s.Name = procName(pid, procs)
		if p := procs[pid]; p != nil {
			s.Proc.Start = p.Start
		}
	}
	return s
}

// Render names the subject the way the findings strip shows it, with
// arrow between a client and the listener it connects to.
func (s Subject) Render(arrow string) string {
	switch s.Kind {
	case SubjectDestination, SubjectPeer:
		if s.Direction == "in" {
			return s.Remote + arrow + s.Local
		}
		return s.Remote
	case SubjectListener:
		return s.Local
	case SubjectProcess:
		return s.Name + "[" + strconv.Itoa(int(s.PID)) + "]"
	}
	return "host"
}

// String is Render with a UTF-8 arrow.
func (s Subject) String() string { return s.Render(ArrowUTF8) }

// Severity ranks findings. Warning and above make `tcptop --check` fail.
type Severity uint8

// Severities, least severe first.
const (
	Info Severity = iota + 1
	Warning
	Critical
)

var severityNames = [...]string{Info: "info", Warning: "warning", Critical: "critical"}

// String returns "info", "warning" or "critical".
func (s Severity) String() string {
	if s >= Info && s <= Critical {
		return severityNames[s]
	}
	return "unknown"
}

// MarshalJSON writes the severity's name.
func (s Severity) MarshalJSON() ([]byte, error) {
	return strconv.AppendQuote(nil, s.String()), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Severity) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return err
	}
	for i, n := range severityNames {
		if n != "" && n == name {
			*s = Severity(i)
			return nil
		}
	}
	return fmt.Errorf("unknown severity %q", name)
}

// rule is one diagnosis: a name and a pure function of the context.
type rule struct {
	name string
	fn   func(c *ruleCtx) []Finding
}

// rules run in this order; findings are then ordered by severity, most
// severe first, keeping this order among equals.
var rules = []rule{
	{RuleAcceptQueue, ruleAcceptQueue},
	{RuleEphemeralPorts, ruleEphemeralPorts},
	{RuleTimeWaitBuckets, ruleTimeWaitBuckets},
	{RuleCloseWaitLeak, ruleCloseWaitLeak},
	{RuleSynSent, ruleSynSent},
	{RuleLocalProber, ruleLocalProber},
	{RuleListenerInEphemeral, ruleListenerInEphemeral},
}

// Rule names (Finding.Rule).
const (
	RuleEphemeralPorts      = "ephemeral_ports"
	RuleLocalProber         = "local_prober_time_wait"
	RuleListenerInEphemeral = "listener_in_ephemeral_range"
	RuleAcceptQueue         = "accept_queue_overflow"
	RuleTimeWaitBuckets     = "time_wait_bucket_cap"
	RuleCloseWaitLeak       = "close_wait_leak"
	RuleSynSent             = "syn_sent_pileup"
)

// RuleNames lists every rule, in evaluation order.
func RuleNames() []string {
	names := make([]string, len(rules))
	for i, r := range rules {
		names[i] = r.name
	}
	return names
}

// maxPerRule bounds how many findings one rule may produce (one per
// listener, process, ...): the strip has a few lines, and the worst come
// first.
const maxPerRule = 5

// diagnose runs every rule and orders the findings, most severe first.
func diagnose(c *ruleCtx) []Finding {
	out := []Finding{}
	for _, r := range rules {
		fs := r.fn(c)
		if len(fs) > maxPerRule {
			c.snap.omitFindings(r.name, len(fs)-maxPerRule)
			fs = fs[:maxPerRule]
		}
		for i := range fs {
			fs[i].Rule = r.name
			if fs[i].Evidence == nil {
				fs[i].Evidence = []Text{}
			}
			if fs[i].Advice == nil {
				fs[i].Advice = []Text{}
			}
		}
		out = append(out, fs...)
	}
	slices.SortStableFunc(out, func(a, b Finding) int { return cmp.Compare(b.Severity, a.Severity) })
	return out
}

// Worst returns the highest severity among findings (0 when none).
func Worst(fs []Finding) Severity {
	var w Severity
	for _, f := range fs {
		w = max(w, f.Severity)
	}
	return w
}
