package model

import (
	"strings"
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
	// held is a leak observed at 0 s and again at sec s: the same sockets.
	held := func(sec float64, f func(b *sb), o ...func(*poll)) []poll {
		ps := []poll{{sec: 0, build: f}, {sec: sec, build: f}}
		for _, fn := range o {
			fn(&ps[0])
			fn(&ps[1])
		}
		return ps
	}
	fdsOf := func(fds int, limit int64) func(*poll) {
		return func(p *poll) { p.procs = withFDs(fds, limit) }
	}
	for _, tc := range []struct {
		name  string
		polls []poll
		want  want
	}{
		{"first snapshot: age unknown, info", []poll{{build: leaked(20, 12)}},
			want{n: 1, severity: Info, subject: php, evidence: []string{
				"php-fpm[20] holds 12 CLOSE_WAIT sockets: php-fpm: pool www", "age unknown: one look cannot tell a leak from a slow close",
				"from 10.0.0.5 (8), 10.0.0.6 (4)"},
				advice: []string{"application bug", "never called close()", "tcp_fin_timeout (now 60 s)"}}},
		{"staying 5 s", held(5, leaked(20, 12)),
			want{n: 1, severity: Warning, subject: php, evidence: []string{
				"12 of them have been in CLOSE_WAIT for 5.0 s or more; the oldest for at least 5.0 s (tcptop has watched for 5.0 s)"}}},
		{"new this poll: wait", []poll{{sec: 0}, {sec: 1, build: leaked(20, 12)}}, want{}},
		{"seen for 2 s is a lag, not a leak", []poll{{sec: 0}, {sec: 1, build: leaked(20, 12)}, {sec: 3, build: leaked(20, 12)}}, want{}},
		{"old ones growing", []poll{{sec: 0, build: leaked(20, 10)}, {sec: 5, build: leaked(20, 10)}, {sec: 10, build: leaked(20, 20)}, {sec: 15, build: leaked(20, 20)}},
			want{n: 1, severity: Warning, subject: php, evidence: []string{"20 of them have been in CLOSE_WAIT for 5.0 s", "growing: +60/min over the last 10 s"}}},
		{"many is critical", held(6, leaked(20, 200)), want{n: 1, severity: Critical, subject: php}},
		{"near the fd limit is critical", held(6, leaked(20, 12), fdsOf(900, 1000)),
			want{n: 1, severity: Critical, subject: php, evidence: []string{"open files 900 of its limit 1,000 (90%): at the limit accept() and open() fail with EMFILE"}}},
		{"near the fd limit at one look: still info", []poll{{build: leaked(20, 12), procs: withFDs(900, 1000)}},
			want{n: 1, severity: Info, subject: php}},
		{"fd headroom", held(6, leaked(20, 12), fdsOf(100, 1024)),
			want{n: 1, severity: Warning, subject: php, evidence: []string{"open files 100 of its limit 1,024 (10%)"}}},
		{"no limit", held(6, leaked(20, 12), fdsOf(100, -1)),
			want{n: 1, severity: Warning, subject: php, evidence: []string{"open files 100 (no limit)"}}},
		{"without attribution", held(6, leaked(20, 12), func(p *poll) { p.noProcs = true }),
			want{n: 1, severity: Warning, subject: Subject{Kind: SubjectProcess, Name: UnknownName},
				evidence: []string{"unknown holds 12 CLOSE_WAIT sockets (run without --no-procs to see the process)"}}},
		{"a few are normal", held(6, leaked(20, 9)), want{}},
		{"transient ones are normal", []poll{{sec: 0, build: leaked(20, 5)}, {sec: 6, build: func(b *sb) {
			// Same count, different sockets: none stayed.
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
	f := both(leaked(20, 12), leaked(10, 30))
	s := analyze(DefaultThresholds(), poll{sec: 0, build: f}, poll{sec: 6, build: f})
	got := byRule(s, RuleCloseWaitLeak)
	if len(got) != 2 || got[0].Subject.PID != 10 || got[1].Subject.PID != 20 {
		t.Fatalf("findings:\n%s", dumpFindings(got))
	}
}

// A server that closes each connection 1.5 s after the peer's FIN, at 40
// connections/s, holds ~60 CLOSE_WAIT at any instant, every one of them
// new: a lag, never a leak, however long it runs.
func TestCloseWaitLagIsNotALeak(t *testing.T) {
	a := NewAnalyzer(DefaultThresholds())
	const rate, lag = 40, 1.5
	for sec := 0.0; sec <= 30; sec++ {
		p := poll{sec: sec, build: func(b *sb) {
			// Sockets that entered CLOSE_WAIT in (sec-lag, sec]: ids
			// follow the arrival time, so a socket keeps its cookie.
			first := int((sec - lag) * rate)
			for id := max(0, first+1); id <= int(sec*rate); id++ {
				sk := b.add(source.CloseWait, addr("10.0.0.1", 8080), addr("10.0.0.5", 30000+id%30000), uint32(9000+id), []int32{20}, false)
				sk.Cookie = uint64(1_000_000 + id)
			}
		}}
		snap := a.Next(p.sample(), Options{})
		for _, f := range snap.Findings {
			if f.Severity >= Warning {
				t.Fatalf("at %.0f s: %s %s: %s", sec, f.Severity, f.Rule, f.Title)
			}
		}
	}
}

// A pre-fork pool: 8 workers share one listening socket and each leaks 9
// CLOSE_WAIT. No worker alone reaches the threshold; the pool does, and
// each socket counts once.
func TestCloseWaitPool(t *testing.T) {
	pool := func(workers, each int) func(b *sb) {
		return func(b *sb) {
			pids := make([]int32, workers)
			for w := range workers {
				pids[w] = int32(100 + w)
			}
			l := b.add(source.Listen, "0.0.0.0:8080", "0.0.0.0:0", 777, pids, false)
			l.SendQ = 128
			for w := range workers {
				for i := range each {
					b.add(source.CloseWait, "10.0.0.1:8080", addr("10.0.0.5", 30000+w*100+i), uint32(5000+w*100+i), []int32{pids[w]}, false)
				}
			}
		}
	}
	procs := map[int32]*source.Process{}
	for w := range 8 {
		procs[int32(100+w)] = &source.Process{PID: int32(100 + w), Name: "php-fpm", FDs: 20, FDLimit: 1024}
	}
	s := analyze(DefaultThresholds(), poll{sec: 0, build: pool(8, 9), procs: procs}, poll{sec: 6, build: pool(8, 9), procs: procs})
	got := byRule(s, RuleCloseWaitLeak)
	if len(got) != 1 || got[0].Severity != Warning || got[0].Facts["sockets"] != 72 || got[0].Facts["processes"] != 8 {
		t.Fatalf("want one warning for the pool of 8 holding 72:\n%s", dumpFindings(got))
	}
	if ev := joinTexts(got[0].Evidence); !strings.Contains(ev, "8 processes sharing the listener 0.0.0.0:8080 hold 72 CLOSE_WAIT sockets (each counted once)") {
		t.Errorf("evidence:\n%s", ev)
	}
	if !strings.Contains(got[0].Title.String(), "php-fpm pool (8 processes)") {
		t.Errorf("title %q", got[0].Title)
	}
	s = analyze(DefaultThresholds(), poll{sec: 0, build: pool(4, 50), procs: procs}, poll{sec: 6, build: pool(4, 50), procs: procs})
	if got := byRule(s, RuleCloseWaitLeak); len(got) != 1 || got[0].Severity != Critical {
		t.Fatalf("4 workers leaking 200: want critical:\n%s", dumpFindings(got))
	}
}

// With the kernel's tcp_info (time since the peer's last segment), one
// look tells a leak from a slow close.
func TestCloseWaitKernelAges(t *testing.T) {
	idle := func(ms uint32) func(b *sb) {
		return func(b *sb) {
			leaked(20, 12)(b)
			for i := range b.socks {
				b.socks[i].Info = &source.TCPInfo{LastAckRecv: ms}
			}
		}
	}
	php := Subject{Kind: SubjectProcess, PID: 20, Name: "php-fpm"}
	checkRule(t, analyze(DefaultThresholds(), poll{build: idle(30_000)}), RuleCloseWaitLeak, want{n: 1, severity: Warning, subject: php,
		evidence: []string{"12 of them have been in CLOSE_WAIT for 5.0 s or more; the oldest for at least 30 s (from the kernel"}})
	// Closed a second after the FIN: a lag, at one look too.
	checkRule(t, analyze(DefaultThresholds(), poll{build: idle(1_000)}), RuleCloseWaitLeak, want{})
}
