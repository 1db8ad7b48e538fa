package model

import (
	"testing"

	"github.com/tcptop/tcptop/source"
)

// listeners adds LISTEN sockets on 127.0.0.1 (owned by nginx, pid 10).
func listeners(ports ...int) func(b *sb) {
	return func(b *sb) {
		for i, p := range ports {
			l := b.add(source.Listen, addr("127.0.0.1", p), "0.0.0.0:0", uint32(500+i), []int32{10}, false)
			l.SendQ = 128
		}
	}
}

// probed adds n TIME_WAIT sockets between a loopback prober and port:
// serverSide of them on the service's end (it closed first), the rest on
// the prober's end, inferred to belong to redis-server (pid 30).
func probed(peerIP string, port, n, serverSide int) func(b *sb) {
	return func(b *sb) {
		for i := range n {
			eph := addr(peerIP, 50000+i)
			svc := addr("127.0.0.1", port)
			if i < serverSide {
				b.add(source.TimeWait, svc, eph, 0, []int32{10}, true)
			} else {
				b.add(source.TimeWait, eph, svc, 0, []int32{30}, true)
			}
		}
	}
}

func both(fs ...func(b *sb)) func(b *sb) {
	return func(b *sb) {
		for _, f := range fs {
			f(b)
		}
	}
}

func TestRuleLocalProber(t *testing.T) {
	lis := Subject{Kind: SubjectListener, Local: "127.0.0.1:8080"}
	for _, tc := range []struct {
		name  string
		polls []poll
		want  want
	}{
		{"prober closes first", []poll{{build: both(listeners(8080, 9090), probed("127.0.0.1", 8080, 60, 0), probed("127.0.0.1", 9090, 10, 0))}},
			want{n: 1, severity: Warning, subject: lis, evidence: []string{
				"70 TIME_WAIT sockets have both ends on this host and one end on a listener: :8080 60, :9090 10",
				"that is 35x the 2 LISTEN sockets", "closed first by the connecting side: 70; by the service: 0",
				"connecting process: redis-server[30] (70)"},
				advice: []string{"long-lived probe connection", "SO_REUSEADDR"}, noAdvice: []string{"ip_local_reserved_ports="}}},
		// TIME_WAIT on the service's side blocks no ephemeral port (issue 12 item 2).
		{"service closes first: info", []poll{{build: both(listeners(8080), probed("127.0.0.1", 8080, 55, 55))}},
			want{n: 1, severity: Info, subject: lis, evidence: []string{"by the service: 55", "no port runs out"}}},
		{"mostly the service", []poll{{build: both(listeners(8080), probed("127.0.0.1", 8080, 300, 280))}},
			want{n: 1, severity: Info, subject: lis}},
		{"a local address that is not loopback", []poll{{build: both(listeners(8080), func(b *sb) {
			// 10.0.0.1 is local: a socket is bound to it.
			b.add(source.Established, "10.0.0.1:40123", "192.0.2.1:443", 900, nil, false)
			for i := range 60 {
				b.add(source.TimeWait, addr("10.0.0.1", 51000+i), "127.0.0.1:8080", 0, nil, false)
			}
		})}}, want{n: 1, severity: Warning, subject: lis}},
		{"remote clients are not a local prober", []poll{{build: both(listeners(8080), func(b *sb) {
			for i := range 200 {
				b.add(source.TimeWait, "127.0.0.1:8080", addr("192.0.2.7", 50000+i), 0, nil, false)
			}
		})}}, want{}},
		{"too few", []poll{{build: both(listeners(8080), probed("127.0.0.1", 8080, 40, 0))}}, want{}},
		{"not ten times the listeners", []poll{{build: both(listeners(8080, 8081, 8082, 8083, 8084, 8085, 8086), probed("127.0.0.1", 8080, 60, 0))}}, want{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkRule(t, analyze(DefaultThresholds(), tc.polls...), RuleLocalProber, tc.want)
		})
	}
}

func TestRuleListenerInEphemeral(t *testing.T) {
	s := analyze(DefaultThresholds(), poll{build: listeners(8080, 45000, 40005)})
	// 45000 is in 32768-60999; 40005 is reserved; 8080 is below the range.
	checkRule(t, s, RuleListenerInEphemeral, want{n: 1, severity: Info,
		subject:  Subject{Kind: SubjectListener, Local: "127.0.0.1:45000"},
		evidence: []string{"(32768 60999) and not in ip_local_reserved_ports (40000-40009)"},
		advice:   []string{"ip_local_reserved_ports (45000)"}})
	// Several: one finding naming them all (issue 12 item 12).
	s = analyze(DefaultThresholds(), poll{build: listeners(45000, 45001, 50000, 8080)})
	checkRule(t, s, RuleListenerInEphemeral, want{n: 1, severity: Info,
		subject:  Subject{Kind: SubjectListener, Local: "127.0.0.1:45000"},
		evidence: []string{"127.0.0.1:45000, 127.0.0.1:45001, 127.0.0.1:50000"},
		advice:   []string{"ip_local_reserved_ports (45000,45001,50000)"}})
	checkRule(t, s, RuleLocalProber, want{})
	// Together with a prober, the prober finding names it too.
	s = analyze(DefaultThresholds(), poll{build: both(listeners(45000), probed("127.0.0.1", 45000, 60, 0))})
	checkRule(t, s, RuleLocalProber, want{n: 1, severity: Warning, subject: Subject{Kind: SubjectListener, Local: "127.0.0.1:45000"},
		evidence: []string{"listeners inside the ephemeral range and not reserved: 127.0.0.1:45000"},
		advice:   []string{"ip_local_reserved_ports=45000 (now 40000-40009)"}})
}
