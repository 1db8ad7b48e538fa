package ui

import "testing"

// TestRepollAfterKill: the kill's result asks for a poll at once (not at
// the next tick); during a poll it comes right after; paused, never.
func TestRepollAfterKill(t *testing.T) {
	m := newTUI(t, 100, 30, "mono")
	before := m.snap
	m = send(t, m, killDoneMsg{})
	if m.snap == before {
		t.Error("a kill's result did not poll")
	}
	// While a poll runs: no second poll now, one as soon as it lands.
	m.polling = true
	next, cmd := m.Update(repollMsg{})
	m = next.(Model)
	if cmd != nil || !m.repollDue {
		t.Fatal("a repoll during a poll should wait for it")
	}
	seq := m.tickSeq
	next, cmd = m.Update(snapshotMsg{snap: m.snap})
	m = next.(Model)
	if !m.polling || m.repollDue || m.tickSeq == seq || cmd == nil {
		t.Errorf("the due repoll did not start: polling %v due %v", m.polling, m.repollDue)
	}
	m.polling = false
	m = press(t, m, "p")
	before = m.snap
	m = send(t, m, repollMsg{})
	if m.snap != before {
		t.Error("a paused monitor polled")
	}
}
