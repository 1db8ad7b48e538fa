package model

import (
	"testing"

	"github.com/tcptop/tcptop/source"
)

// leaked adds n CLOSE_WAIT sockets held by pid from peers on 10.0.0.5:80
// and 10.0.0.6:80, after skip placeholder sockets (cookies follow the
// position, so the same n in two polls are the same sockets).
func leaked(pid int32, n int) func(b *sb) {
	return func(b *sb) {
		for i := range n {
			peer := addr("10.0.0.5", 80)
			if i%3 == 2 {
				peer = addr("10.0.0.6", 80)
			}
			b.add(source.CloseWait, addr("10.0.0.1", 41000+i), peer, uint32(2000+i), []int32{pid}, false)
		}
	}
}

func TestRuleCloseWaitLeak(t *testing.T) {
	php := Subject{Kind: SubjectProcess, PID: 20, Name: "php-fpm"}
	withFDs := func(fds int, limit int64) map[int32]*source.Process {
		p := *procs[20]
		p.FDs, p.FDLimit = fds, limit
		return map[int32]*source.Process{20: &p}
	}
	for _, tc := range []struct {
		name  string
		polls []poll
		want  want
	}{
		{"first snapshot", []poll{{build: leaked(20, 12)}},
			want{n: 1, severity: Warning, subject: php, evidence: []string{
				"php-fpm[20] holds 12 CLOSE_WAIT sockets: php-fpm: pool www", "age unknown: this is the first snapshot",
				"from 10.0.0.5 (8), 10.0.0.6 (4)"},
				advice: []string{"application bug", "never called close()", "tcp_fin_timeout (now 60 s)"}}},
		{"persisting", []poll{{sec: 0, build: leaked(20, 12)}, {sec: 5, build: leaked(20, 12)}},
			want{n: 1, severity: Warning, subject: php, evidence: []string{
				"12 of them were already there at the previous poll; the oldest for at least 5.0 s (tcptop has watched for 5.0 s)",
				"not shrinking: +0/min over the last 5.0 s"}}},
		{"new this poll: wait for the next", []poll{{sec: 0}, {sec: 1, build: leaked(20, 12)}}, want{}},
		{"then seen twice", []poll{{sec: 0}, {sec: 1, build: leaked(20, 12)}, {sec: 2, build: leaked(20, 12)}},
			want{n: 1, severity: Warning, subject: php, evidence: []string{"growing: +360/min over the last 2.0 s"}}},
		{"growing", []poll{{sec: 0, build: leaked(20, 10)}, {sec: 1, build: leaked(20, 20)}},
			want{n: 1, severity: Warning, subject: php, evidence: []string{"10 of them were already there", "growing: +600/min"}}},
		{"many is critical", []poll{{build: leaked(20, 200)}}, want{n: 1, severity: Critical, subject: php}},
		{"near the fd limit is critical", []poll{{build: leaked(20, 12), procs: withFDs(900, 1000)}},
			want{n: 1, severity: Critical, subject: php, evidence: []string{"open files 900 of its limit 1,000 (90%): at the limit accept() and open() fail with EMFILE"}}},
		{"fd headroom", []poll{{build: leaked(20, 12), procs: withFDs(100, 1024)}},
			want{n: 1, severity: Warning, subject: php, evidence: []string{"open files 100 of its limit 1,024 (10%)"}}},
		{"no limit", []poll{{build: leaked(20, 12), procs: withFDs(100, -1)}},
			want{n: 1, severity: Warning, subject: php, evidence: []string{"open files 100 (no limit)"}}},
		{"without attribution", []poll{{build: leaked(20, 12), noProcs: true}},
			want{n: 1, severity: Warning, subject: Subject{Kind: SubjectProcess, Name: UnknownName},
				evidence: []string{"unknown holds 12 CLOSE_WAIT sockets (run without --no-procs to see the process)"}}},
		{"a few are normal", []poll{{sec: 0, build: leaked(20, 9)}, {sec: 1, build: leaked(20, 9)}}, want{}},
		{"transient ones are normal", []poll{{sec: 0, build: leaked(20, 5)}, {sec: 1, build: func(b *sb) {
			// Same count, different sockets: none persisted.
			for range 5 {
				b.add(source.Established, "10.0.0.1:1", "10.0.0.9:1", 1, nil, false)
			}
			leaked(20, 15)(b)
		}}}, want{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkRule(t, analyze(DefaultThresholds(), tc.polls...), RuleCloseWaitLeak, tc.want)
		})
	}
}

// Two leaking processes: one finding each, the bigger first.
func TestRuleCloseWaitTwoProcesses(t *testing.T) {
	s := analyze(DefaultThresholds(), poll{build: both(leaked(20, 12), leaked(10, 30))})
	got := byRule(s, RuleCloseWaitLeak)
	if len(got) != 2 || got[0].Subject.PID != 10 || got[1].Subject.PID != 20 {
		t.Fatalf("findings:\n%s", dumpFindings(got))
	}
}
