package ui

import (
	"strings"
	"testing"
)

// TestEphemeralPortsRow: the local ports view shows one row for the five
// ephemeral ports of the fixture's client sockets; Enter lists them.
func TestEphemeralPortsRow(t *testing.T) {
	m := newTUI(t, 120, 40, "mono")
	m = press(t, m, "tab", "tab")
	pl := m.tableV().top().kind.(*portsLevel)
	at := -1
	for i, r := range pl.ports {
		if r.Ephemeral {
			at = i
		}
		if !r.Ephemeral && r.Port >= 32768 && r.Port <= 60999 && !r.Listening {
			t.Errorf("ephemeral port %d has its own row", r.Port)
		}
	}
	if at < 0 {
		t.Fatalf("no ephemeral row:\n%s", screen(m))
	}
	row := pl.ports[at]
	if !strings.Contains(screen(m), row.Processes[0].Name) || !strings.Contains(screen(m), "ephemeral") {
		t.Errorf("the ephemeral row is not on screen:\n%s", screen(m))
	}
	for range at {
		m = press(t, m, "j")
	}
	m = press(t, m, "enter")
	el, ok := m.tableV().top().kind.(*ephemeralPortsLevel)
	if !ok || len(el.ports) != row.Ports {
		t.Fatalf("enter on the ephemeral row: %T\n%s", m.tableV().top().kind, screen(m))
	}
	if s := screen(m); !strings.Contains(s, "LOCAL PORTS › ephemeral") || !strings.Contains(s, "33000") {
		t.Errorf("the ephemeral ports:\n%s", s)
	}
}
