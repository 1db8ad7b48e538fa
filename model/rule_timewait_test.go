package model

import (
	"testing"

	"github.com/tcptop/tcptop/source"
)

func capTW(n int) func(sc *source.Sysctls) {
	return func(sc *source.Sysctls) {
		sc.MaxTwBuckets = n
		sc.Raw["net.ipv4.tcp_max_tw_buckets"] = "100"
	}
}

func TestRuleTimeWaitBuckets(t *testing.T) {
	api := "192.0.2.10:443"
	dest := Subject{Kind: SubjectDestination, Remote: api, Local: "10.0.0.1", Direction: "out"}
	for _, tc := range []struct {
		name  string
		polls []poll
		want  want
	}{
		{"near the cap", []poll{{build: toAPI(api, 90, 0, 41000), sysctl: capTW(100)}},
			want{n: 1, severity: Warning, subject: dest, evidence: []string{"90 TIME_WAIT sockets against net.ipv4.tcp_max_tw_buckets = 100",
				"most TIME_WAIT to one destination: 10.0.0.1 → 192.0.2.10:443 (90)"},
				advice: []string{"Raise net.ipv4.tcp_max_tw_buckets (now 100)", "sort the peers by TIME_WAIT"}}},
		{"overflowing", []poll{
			{sec: 0, build: toAPI(api, 100, 0, 41000), sysctl: capTW(100), counters: map[string]int64{"TCPTimeWaitOverflow": 10, "TCPAbortOnData": 3}},
			{sec: 1, build: toAPI(api, 100, 0, 41000), sysctl: capTW(100), counters: map[string]int64{"TCPTimeWaitOverflow": 60, "TCPAbortOnData": 5}}},
			want{n: 1, severity: Critical, subject: dest, evidence: []string{"TCPTimeWaitOverflow +50/s: closing sockets skip TIME_WAIT",
				"TWRecycled +0/s (TIME_WAIT reused by tcp_tw_reuse = 2)", "TCPAbortOnData +2/s"}}},
		{"overflow counter standing still", []poll{
			{sec: 0, build: toAPI(api, 10, 0, 41000), sysctl: capTW(100), counters: map[string]int64{"TCPTimeWaitOverflow": 60}},
			{sec: 1, build: toAPI(api, 10, 0, 41000), sysctl: capTW(100), counters: map[string]int64{"TCPTimeWaitOverflow": 60}}}, want{}},
		{"far below the cap", []poll{{build: toAPI(api, 500, 0, 40000)}}, want{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkRule(t, analyze(DefaultThresholds(), tc.polls...), RuleTimeWaitBuckets, tc.want)
		})
	}
}

// Issue 12 item 6: the TIME_WAIT sits on the server side (incoming to a
// listener :80); the subject is that listener, not the database the host
// also talks to.
func TestTimeWaitBucketsServerSide(t *testing.T) {
	pop := func(b *sb) {
		l := b.add(source.Listen, "0.0.0.0:80", "0.0.0.0:0", 500, []int32{10}, false)
		l.SendQ = 128
		for i := range 294 {
			b.add(source.TimeWait, "10.0.0.1:80", addr("192.0.2.50", 30000+i), 0, nil, false)
		}
		for i := range 6 {
			b.add(source.TimeWait, addr("10.0.0.1", 41000+i), "10.0.0.9:5432", 0, nil, false)
		}
	}
	s := analyze(DefaultThresholds(), poll{build: pop, sysctl: capTW(300)})
	checkRule(t, s, RuleTimeWaitBuckets, want{n: 1, severity: Warning,
		subject: Subject{Kind: SubjectListener, Local: "0.0.0.0:80"},
		evidence: []string{"294 of them on incoming connections (this host closed first as the server), 6 on outgoing ones",
			"most TIME_WAIT on one listener: 0.0.0.0:80 (294)"}})
}
