package model

import (
	"testing"

	"github.com/tcptop/tcptop/source"
)

// connecting adds n SYN_SENT sockets of php (pid 20) to remote with the
// given SYN retransmit count.
func connecting(remote string, n int, retrans uint8) func(b *sb) {
	return func(b *sb) {
		for i := range n {
			sk := b.add(source.SynSent, addr("10.0.0.1", 42000+i), remote, uint32(3000+i), []int32{20}, false)
			sk.Retrans, sk.Timer = retrans, 1
		}
	}
}

func TestRuleSynSent(t *testing.T) {
	peer := Subject{Kind: SubjectPeer, Remote: "10.0.0.9:80", Direction: "out"}
	for _, tc := range []struct {
		name  string
		polls []poll
		want  want
	}{
		{"retransmitting SYNs", []poll{{build: connecting("10.0.0.9:80", 12, 2)}},
			want{n: 1, severity: Warning, subject: peer, evidence: []string{
				"12 connections to 10.0.0.9:80 in SYN_SENT, 12 of them stuck (SYN retransmitted up to 2 times",
				"connecting: php-fpm[20] (12)"},
				advice: []string{"dropping SYNs", "tcp_syn_retries = unknown"}}},
		{"fresh SYNs are normal", []poll{{build: connecting("10.0.0.9:80", 30, 0)}}, want{}},
		{"still there a poll later", []poll{
			{sec: 0, build: connecting("10.0.0.9:80", 12, 0), counters: map[string]int64{"AttemptFails": 1}},
			{sec: 1, build: connecting("10.0.0.9:80", 12, 0), counters: map[string]int64{"AttemptFails": 4}}},
			want{n: 1, severity: Warning, subject: peer, evidence: []string{"Tcp AttemptFails +3/s"}}},
		{"many is critical", []poll{{build: connecting("10.0.0.9:80", 100, 1)}}, want{n: 1, severity: Critical, subject: peer}},
		{"to a full local listener", []poll{{build: both(server(9, 8, 0), connecting("127.0.0.1:8080", 10, 1))}},
			want{n: 1, severity: Warning, subject: Subject{Kind: SubjectPeer, Remote: "127.0.0.1:8080", Direction: "out"},
				evidence: []string{"the peer is a listener on this host, 127.0.0.1:8080, with 9/8 in its accept queue (full: its SYNs are dropped)"}}},
		{"spread over peers", []poll{{build: func(b *sb) {
			for i := range 20 {
				connecting(addr("10.0.0.9", 1000+i), 1, 3)(b)
			}
		}}}, want{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkRule(t, analyze(DefaultThresholds(), tc.polls...), RuleSynSent, tc.want)
		})
	}
}
