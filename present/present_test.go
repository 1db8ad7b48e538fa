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
