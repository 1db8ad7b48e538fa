package present

import (
	"testing"

	"github.com/tcptop/tcptop/model"
)

func TestPresent(t *testing.T) {
	if got := ProcRefs([]model.ProcRef{{PID: 10, Name: "nginx"}, {PID: 11, Name: "nginx"}}, true); got != "nginx[10],nginx[11]" {
		t.Errorf("ProcRefs = %q", got)
	}
	if ProcRefs(nil, true) != model.UnknownName || ProcRefs(nil, false) != "-" {
		t.Error("ProcRefs without processes")
	}
	p := &model.Peer{Processes: []model.PeerProcess{{PID: 20, Name: "php-fpm", Sockets: 3}, {Name: "unknown", Sockets: 2, Inferred: true}}}
	if got := PeerProcesses(p, true); got != "php-fpm[20]:3 unknown~:2" {
		t.Errorf("PeerProcesses = %q", got)
	}
	if got := ProcRef("a\x1bb", 7); got != `a\x1bb[7]` {
		t.Errorf("ProcRef = %q", got)
	}
}

func TestUnreadable(t *testing.T) {
	for _, c := range []struct {
		n          int
		pids       []int32
		privileged bool
		want       string
	}{
		{3, []int32{1, 2, 3}, false, "3 processes unreadable without root"},
		{1, []int32{1}, true, "1 process unreadable (pid 1)"},
		{5, []int32{1, 2}, true, "5 processes unreadable (pid 1, 2, …)"},
		{2, nil, true, "2 processes unreadable"},
	} {
		if got := Unreadable(c.n, c.pids, c.privileged); got != c.want {
			t.Errorf("Unreadable(%d, %v, %v) = %q, want %q", c.n, c.pids, c.privileged, got, c.want)
		}
	}
}

func TestPeerProcessesPool(t *testing.T) {
	p := &model.Peer{Processes: []model.PeerProcess{{PID: 100, Name: "php-fpm", Sockets: 11000, Inferred: true, Group: 1000}}}
	if got := PeerProcesses(p, true); got != "php-fpm[100]+999~" {
		t.Errorf("PeerProcesses = %q", got)
	}
}
