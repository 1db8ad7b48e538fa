package model

import (
	"testing"

	"github.com/tcptop/tcptop/source"
)

// narrow makes the usable range 40000-40999: 1000 ports.
func narrow(sc *source.Sysctls) {
	sc.PortLow, sc.PortHigh, sc.Reserved = 40000, 40999, nil
	sc.Raw["net.ipv4.ip_local_port_range"] = "40000 40999"
	sc.Raw["net.ipv4.ip_local_reserved_ports"] = ""
}

// toAPI adds n sockets from 10.0.0.1 to remote, TIME_WAIT but the first
// estab ones, which php (pid 20) holds.
func toAPI(remote string, n, estab, firstPort int) func(b *sb) {
	return func(b *sb) {
		for i := range n {
			local := addr("10.0.0.1", firstPort+i)
			if i < estab {
				b.add(source.Established, local, remote, uint32(1000+i), []int32{20}, false)
				continue
			}
			tw := b.add(source.TimeWait, local, remote, 0, nil, false)
			tw.Expires = uint32(1000 + 50*i)
		}
	}
}

func TestRuleEphemeralPorts(t *testing.T) {
	api := "192.0.2.10:443"
	dest := Subject{Kind: SubjectDestination, Remote: api, Local: "10.0.0.1", Direction: "out"}
	for _, tc := range []struct {
		name  string
		polls []poll
		want  want
	}{
		{"one destination at 70%", []poll{{build: toAPI(api, 700, 5, 40000), sysctl: narrow}},
			want{n: 1, severity: Warning, subject: dest, evidence: []string{
				"10.0.0.1 → 192.0.2.10:443 holds 700 of the 1,000 usable local ports (range 40000-40999, 0 reserved)",
				"695 of them (99%) are in TIME_WAIT", "php-fpm[20] (5)", "the next port frees in 1.2 s, all 695 in 36 s"},
				advice: []string{"keep-alive", "Connection: close", "tcp_tw_reuse=1 lets", "(now 2; 2 = loopback only)", "now 40000 40999, 1,000 usable"}}},
		{"growing to 90% in a second", []poll{
			{sec: 0, build: toAPI(api, 300, 0, 40000), sysctl: narrow},
			{sec: 1, build: toAPI(api, 900, 0, 40000), sysctl: narrow}},
			want{n: 1, severity: Critical, subject: dest, evidence: []string{"growing +600/s over the last 1.0 s: exhausted in 0.2 s"}}},
		{"half the range is fine", []poll{{build: toAPI(api, 500, 0, 40000), sysctl: narrow}}, want{}},
		{"many destinations fill the range", []poll{{sysctl: narrow, build: func(b *sb) {
			for d := range 10 {
				toAPI(addr("192.0.2.10", 8000+d), 70, 0, 40000+70*d)(b)
			}
		}}}, want{n: 1, severity: Warning, subject: Subject{Kind: SubjectHost}, evidence: []string{"700 of 1,000 usable local ports are held, spread over 10 destinations",
			"no single destination explains it", "bind() before connect()"},
			// Issue 12 item 8: what works for bind() exhaustion, and no
			// claim that tcp_tw_reuse fixes it.
			advice:   []string{"IP_BIND_ADDRESS_NO_PORT", "ip_autobind_reuse", "only helps connect()'s own port choice, not bind()"},
			noAdvice: []string{"tcp_tw_reuse=1 lets"}}},
		// Issue 12 item 9: every exhausted destination is named.
		{"two destinations at 100%", []poll{{sysctl: narrow, build: func(b *sb) {
			toAPI(api, 1000, 0, 40000)(b)
			toAPI("192.0.2.11:443", 1000, 0, 40000)(b)
		}}}, want{n: 1, severity: Critical, subject: dest, evidence: []string{
			"also 10.0.0.1 → 192.0.2.11:443 holds 1,000 of the 1,000 usable ports (100%, 1,000 TIME_WAIT)"}}},
		{"range unreadable", []poll{{build: toAPI(api, 900, 0, 40000), sysctl: func(sc *source.Sysctls) { narrow(sc); sc.PortRangeParsed = false }}}, want{}},
		{"wide default range", []poll{{build: toAPI(api, 900, 0, 40000)}}, want{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkRule(t, analyze(DefaultThresholds(), tc.polls...), RuleEphemeralPorts, tc.want)
		})
	}
}

func TestRuleEphemeralThreshold(t *testing.T) {
	th := DefaultThresholds()
	if err := th.Set("ports-warn=40%"); err != nil {
		t.Fatal(err)
	}
	s := analyze(th, poll{build: toAPI("192.0.2.10:443", 500, 0, 40000), sysctl: narrow})
	if len(byRule(s, RuleEphemeralPorts)) != 1 {
		t.Errorf("ports-warn=40%% with 50%% in use: no finding\n%s", dumpFindings(s.Findings))
	}
}

// Connections shorter than a poll: the owner seen at an earlier poll is
// named; with none ever seen, the evidence says why and how to find it.
func TestEphemeralOwnersFromHistory(t *testing.T) {
	api := "192.0.2.10:443"
	caught := poll{sec: 0, build: toAPI(api, 400, 2, 40000), sysctl: narrow}
	gone := poll{sec: 1, build: toAPI(api, 700, 0, 40000), sysctl: narrow}
	s := analyze(DefaultThresholds(), caught, gone)
	checkRule(t, s, RuleEphemeralPorts, want{n: 1, severity: Warning,
		subject:  Subject{Kind: SubjectDestination, Remote: api, Local: "10.0.0.1", Direction: "out"},
		evidence: []string{"connections from php-fpm[20] (2) (seen 1.0 s ago; the connections are shorter than a poll)"}})
	s = analyze(DefaultThresholds(), gone)
	checkRule(t, s, RuleEphemeralPorts, want{n: 1, severity: Warning,
		subject:  Subject{Kind: SubjectDestination, Remote: api, Local: "10.0.0.1", Direction: "out"},
		evidence: []string{"no process holds an open connection to it at the polls", "ss -tnp dst 192.0.2.10:443"}})
	full := poll{sec: 2, build: toAPI(api, 1000, 0, 40000), sysctl: narrow}
	s = analyze(DefaultThresholds(), gone, full)
	checkRule(t, s, RuleEphemeralPorts, want{n: 1, severity: Critical,
		subject:  Subject{Kind: SubjectDestination, Remote: api, Local: "10.0.0.1", Direction: "out"},
		evidence: []string{"exhausted now (+300/s over the last 1.0 s): new connections to it fail"}})
}
