package ui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
)

// TestListenerDrillDown: l lists the listeners and Enter opens one; a
// click on the listeners strip and Enter on the listening port in the
// local ports view open the same view; esc goes back.
func TestListenerDrillDown(t *testing.T) {
	m := newTUI(t, 120, 40, "mono")
	wantView := func(m Model, how string) {
		t.Helper()
		s := screen(m)
		for _, want := range []string{"LISTENER 0.0.0.0:80", "accept queue 129/128 FULL", "owners nginx[10]",
			"= net.core.somaxconn", "capped", "queue", "full at 2 of the last 2 polls", "ListenOverflows +2, ListenDrops +2",
			"who connects (1 peer)", "10.0.0.5"} {
			if !strings.Contains(s, want) {
				t.Errorf("%s: the listener view lacks %q:\n%s", how, want, s)
			}
		}
	}
	m = press(t, m, "l")
	if s := screen(m); !strings.Contains(s, "LISTENER ") || !strings.Contains(s, "PEERS › listeners  1 row") || !strings.Contains(strings.Join(strings.Fields(s), " "), "0.0.0.0:80 129/128 0 FULL =somaxconn nginx[10]") {
		t.Fatalf("l: the listeners table:\n%s", screen(m))
	}
	m = press(t, m, "enter")
	wantView(m, "l, enter")
	m = press(t, m, "esc", "esc")
	if strings.Contains(screen(m), "LISTENER") {
		t.Fatal("esc esc did not go back to the peers")
	}

	// A click on the strip's row (screen line 19: the header is line 0).
	lines := strings.Split(screen(m), "\n")
	if !strings.HasPrefix(strings.TrimSpace(lines[19]), "0.0.0.0:80") {
		t.Fatalf("line 19 is not the listener:\n%s", screen(m))
	}
	m = send(t, m, tea.MouseClickMsg{X: 4, Y: 19, Button: tea.MouseLeft})
	wantView(m, "a click on the strip")
	m = press(t, m, "esc", "tab", "tab")
	if !strings.Contains(screen(m), "LOCAL PORTS") {
		t.Fatalf("not the local ports view:\n%s", screen(m))
	}
	pl := m.tableV().top().kind.(*portsLevel)
	at := -1
	for i, r := range pl.ports {
		if r.Port == 80 && r.Listening {
			at = i
		}
	}
	if at < 0 {
		t.Fatalf("no row of port 80: %+v", pl.ports)
	}
	for range at {
		m = press(t, m, "j")
	}
	m = press(t, m, "enter")
	wantView(m, "enter on port 80")
}
