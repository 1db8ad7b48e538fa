package model

import (
	"strings"
	"testing"

	"github.com/tcptop/tcptop/source"
)

// server adds a listener 127.0.0.1:8080 of nginx (pid 10) with queue q and
// backlog bl, and syn SYN_RECV request sockets.
func server(q, bl uint32, syn int) func(b *sb) {
	return func(b *sb) {
		l := b.add(source.Listen, "127.0.0.1:8080", "0.0.0.0:0", 500, []int32{10}, false)
		l.RecvQ, l.SendQ = q, bl
		for i := range syn {
			b.add(source.SynRecv, "127.0.0.1:8080", addr("127.0.0.2", 40000+i), 0, nil, false)
		}
	}
}

func TestRuleAcceptQueue(t *testing.T) {
	lis := Subject{Kind: SubjectListener, Local: "127.0.0.1:8080"}
	ctr := func(over, drops int64) map[string]int64 {
		return map[string]int64{"ListenOverflows": over, "ListenDrops": drops}
	}
	for _, tc := range []struct {
		name  string
		polls []poll
		want  want
	}{
		{"full at the first poll", []poll{{build: server(9, 8, 3), counters: ctr(100, 100)}},
			want{n: 1, severity: Warning, subject: lis, evidence: []string{
				"9 connections wait for accept() on a backlog of 8: nginx[10] is not accepting fast enough",
				"the kernel drops new SYNs", "ListenOverflows 100, ListenDrops 100 since boot (no rate yet: first snapshot)", "SYN_RECV 3 of tcp_max_syn_backlog 1024"},
				advice:   []string{"Raise the backlog the service passes to listen() (now 8; net.core.somaxconn 4096 caps it)"},
				noAdvice: []string{"tcp_abort_on_overflow=1"}}},
		{"full and overflowing", []poll{
			{sec: 0, build: server(9, 8, 0), counters: ctr(100, 100)},
			{sec: 2, build: server(9, 8, 0), counters: ctr(110, 112)}},
			want{n: 1, severity: Critical, subject: lis, evidence: []string{"ListenOverflows +5/s, ListenDrops +6/s: SYNs are being dropped while it is at or near its cap", "already full at the previous poll"},
				noAdvice: []string{"tcp_abort_on_overflow=1"}}},
		{"capped by somaxconn", []poll{{build: server(4097, 4096, 0)}},
			want{n: 1, severity: Warning, subject: lis, evidence: []string{"equals net.core.somaxconn (4096)"},
				advice: []string{"Raise net.core.somaxconn (now 4096) AND restart the service"}}},
		{"nearly full at one look: info", []poll{{build: server(120, 128, 0)}}, want{n: 1, severity: Info, subject: lis}},
		// Issue 12 item 3: a queue that fills and drains without a dropped
		// SYN is healthy...
		{"briefly nearly full, no drops", []poll{
			{sec: 0, build: server(3, 128, 0), counters: ctr(5, 5)},
			{sec: 1, build: server(124, 128, 0), counters: ctr(5, 5)},
			{sec: 2, build: server(0, 128, 0), counters: ctr(5, 5)}}, want{}},
		{"briefly full, no drops", []poll{
			{sec: 0, build: server(0, 8, 0), counters: ctr(5, 5)},
			{sec: 1, build: server(9, 8, 0), counters: ctr(5, 5)}}, want{}},
		// ... unless it stays at its cap.
		{"nearly full for three polls", []poll{
			{sec: 0, build: server(120, 128, 0), counters: ctr(5, 5)},
			{sec: 1, build: server(124, 128, 0), counters: ctr(5, 5)},
			{sec: 2, build: server(122, 128, 0), counters: ctr(5, 5)}},
			want{n: 1, severity: Warning, subject: lis, evidence: []string{"not rising: no SYN dropped lately", "at or near its cap for the last 3 polls"}}},
		// Issue 12 item 5: overflows while at or near the cap are critical,
		// and stay so while the queue hovers just under it.
		{"overflowing just under the cap", []poll{
			{sec: 0, build: server(129, 128, 0), counters: ctr(5, 5)},
			{sec: 1, build: server(124, 128, 0), counters: ctr(9, 9)},
			{sec: 2, build: server(125, 128, 0), counters: ctr(12, 12)}},
			want{n: 1, severity: Critical, subject: lis}},
		{"one quiet poll in an overflow", []poll{
			{sec: 0, build: server(129, 128, 0), counters: ctr(5, 5)},
			{sec: 1, build: server(129, 128, 0), counters: ctr(9, 9)},
			{sec: 2, build: server(126, 128, 0), counters: ctr(9, 9)}},
			want{n: 1, severity: Critical, subject: lis}},
		{"overflows between polls", []poll{
			{sec: 0, build: server(9, 8, 0), counters: ctr(5, 5)},
			{sec: 1, build: server(0, 8, 0), counters: ctr(5, 5)},
			{sec: 2, build: server(0, 8, 0), counters: ctr(9, 9)}},
			want{n: 1, severity: Critical, subject: lis, evidence: []string{"at or near its cap in the last polls: 127.0.0.1:8080"}}},
		{"overflows while filling up", []poll{
			{sec: 0, build: server(0, 128, 0), counters: ctr(5, 5)},
			{sec: 1, build: server(91, 128, 0), counters: ctr(24, 24)}},
			want{n: 1, severity: Warning, subject: lis, evidence: []string{"no listener was near its cap at a poll; the fullest now: 127.0.0.1:8080 (91/128)"}}},
		{"overflows and never seen full", []poll{
			{sec: 0, build: server(0, 8, 0), counters: ctr(5, 5)},
			{sec: 1, build: server(0, 8, 0), counters: ctr(9, 9)}},
			want{n: 1, severity: Warning, subject: Subject{Kind: SubjectHost}, evidence: []string{"no listener was near its cap"}}},
		{"healthy", []poll{
			{sec: 0, build: server(1, 128, 1), counters: ctr(5, 5)},
			{sec: 1, build: server(0, 128, 0), counters: ctr(5, 5)}}, want{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkRule(t, analyze(DefaultThresholds(), tc.polls...), RuleAcceptQueue, tc.want)
		})
	}
}

// Clients that gave up while queued leave CLOSE_WAIT sockets no process
// ever accepted (inode 0, owner inferred from the listener): part of the
// overflow, not a leak.
func TestQueuedCloseWaitIsNotALeak(t *testing.T) {
	queued := func(b *sb) {
		server(129, 128, 0)(b)
		for i := range 129 {
			b.add(source.CloseWait, "127.0.0.1:8080", addr("127.0.0.2", 41000+i), 0, []int32{10}, true)
		}
	}
	s := analyze(DefaultThresholds(), poll{sec: 0, build: queued}, poll{sec: 3, build: queued}, poll{sec: 6, build: queued})
	checkRule(t, s, RuleCloseWaitLeak, want{})
	checkRule(t, s, RuleAcceptQueue, want{n: 1, severity: Warning, subject: Subject{Kind: SubjectListener, Local: "127.0.0.1:8080"},
		evidence: []string{"129 of the waiting connections were already closed by their clients before accept() (CLOSE_WAIT, never accepted)"}})
}

// With each listener's own drop counter, the listener that dropped is the
// critical one, and a full-looking listener that dropped nothing is not
// blamed for another's overflows.
func TestAcceptQueueOwnDrops(t *testing.T) {
	two := func(q1 uint32, d1, d2 uint32) func(b *sb) {
		return func(b *sb) {
			a := b.add(source.Listen, "127.0.0.1:8080", "0.0.0.0:0", 500, []int32{10}, false)
			a.RecvQ, a.SendQ, a.Drops, a.DropsKnown = q1, 128, d1, true
			c := b.add(source.Listen, "127.0.0.1:9090", "0.0.0.0:0", 501, []int32{10}, false)
			c.RecvQ, c.SendQ, c.Drops, c.DropsKnown = 0, 8, d2, true
		}
	}
	ctr := func(n int64) map[string]int64 { return map[string]int64{"ListenOverflows": n, "ListenDrops": n} }
	s := analyze(DefaultThresholds(),
		poll{sec: 0, build: two(120, 0, 0), counters: ctr(0)},
		poll{sec: 1, build: two(125, 0, 40), counters: ctr(40)})
	got := byRule(s, RuleAcceptQueue)
	if len(got) != 1 || got[0].Subject.Local != "127.0.0.1:9090" || got[0].Severity != Critical {
		t.Fatalf("want one critical finding on 127.0.0.1:9090, the listener that dropped:\n%s", dumpFindings(got))
	}
	if ev := joinTexts(got[0].Evidence); !strings.Contains(ev, "it dropped +40/s itself") {
		t.Errorf("evidence:\n%s", ev)
	}
}
