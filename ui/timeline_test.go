package ui

import (
	"errors"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/record"
)

// pressSlow is press for moves on a timeline, which may take longer
// than run waits (a jump analyses the polls before it; under -race).
// The monitor is paused, so no tick is pending.
func pressSlow(t *testing.T, m Model, keys ...string) Model {
	t.Helper()
	for _, k := range keys {
		next, cmd := m.Update(keyMsg(k))
		m = next.(Model)
		m = drain(t, m, cmd)
	}
	return m
}

func drain(t *testing.T, m Model, cmd tea.Cmd) Model {
	t.Helper()
	for cmd != nil {
		ch := make(chan tea.Msg, 1)
		go func() { ch <- cmd() }()
		var msg tea.Msg
		select {
		case msg = <-ch:
		case <-time.After(10 * time.Second):
			return m
		}
		if batch, ok := msg.(tea.BatchMsg); ok {
			for _, c := range batch {
				m = drain(t, m, c)
			}
			return m
		}
		if msg == nil {
			return m
		}
		var next tea.Model
		next, cmd = m.Update(msg)
		m = next.(Model)
	}
	return m
}

// replayTUI is the monitor over the golden recording (a CLOSE_WAIT leak
// found at poll 40 of 90), paused after its first poll.
func replayTUI(t *testing.T) (Model, *record.Player) {
	t.Helper()
	p, err := record.NewPlayer("../testdata/recordings/v1.tcptop", model.Thresholds{}, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	m := New(Config{Poller: p, Interval: time.Hour, Theme: "mono", Location: time.UTC})
	m = send(t, m, tea.WindowSizeMsg{Width: 100, Height: 30})
	m = run(t, m, m.Init())
	m = press(t, m, "p")
	return m, p
}

func TestReplayTimeline(t *testing.T) {
	m, p := replayTUI(t)
	if s := screen(m); !strings.Contains(s, "REPLAY paused  2026-05-28 20:26:41  poll 1/90") {
		t.Fatalf("no timeline line:\n%s", s)
	}
	m = pressSlow(t, m, "$")
	if pos, _ := p.Position(); pos != 89 || !strings.Contains(screen(m), "poll 90/90") {
		t.Fatalf("$: at %d\n%s", pos, screen(m))
	}
	m = pressSlow(t, m, "^")
	m = pressSlow(t, m, "l", "l")
	if pos, _ := p.Position(); pos != 2 {
		t.Errorf("two steps forward: at %d", pos)
	}
	m = pressSlow(t, m, "h")
	if pos, _ := p.Position(); pos != 1 {
		t.Errorf("a step back: at %d", pos)
	}
	// The findings index runs in the background: wait for it.
	for deadline := time.Now().Add(20 * time.Second); p.Indexed() < 1 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	m = pressSlow(t, m, "}")
	if pos, _ := p.Position(); pos != 34 || len(m.snap.Findings) == 0 || m.snap.Findings[0].Rule != "close_wait_leak" {
		t.Fatalf("}: at %d, findings %v", pos, m.snap.Findings)
	}
	m = pressSlow(t, m, "}")
	if !strings.Contains(m.notice, "no change in findings") {
		t.Errorf("} past the last change: notice %q", m.notice)
	}
	m = pressSlow(t, m, "{")
	if pos, _ := p.Position(); pos != 34 {
		t.Errorf("{ from the last change: at %d", pos)
	}
	m = pressSlow(t, m, "+", "+", "+", "+", "+", "+", "+")
	if m.rp.speed != maxSpeed {
		t.Errorf("speed %d after seven +", m.rp.speed)
	}
	m = pressSlow(t, m, "?")
	if s := screen(m); !strings.Contains(s, "next change in findings") || strings.Contains(s, "flight recorder") {
		t.Errorf("help overlay in replay:\n%s", s)
	}
}

// TestReplayStepMatchesPlay: a snapshot reached by seeking shows the
// same findings as the one reached by playing from the start.
func TestReplayStepMatchesPlay(t *testing.T) {
	m, p := replayTUI(t)
	for range 45 {
		m = pressSlow(t, m, "l")
	}
	want := m.snap
	m = pressSlow(t, m, "^", "$")
	for range 44 {
		m = pressSlow(t, m, "h")
	}
	if pos, _ := p.Position(); pos != 45 {
		t.Fatalf("at %d", pos)
	}
	if record.Signature(m.snap) != record.Signature(want) || len(want.Findings) == 0 ||
		m.snap.Findings[0].Title.String() != want.Findings[0].Title.String() {
		t.Errorf("findings differ:\n%v\n--- played:\n%v", m.snap.Findings, want.Findings)
	}
}

func TestFlightKey(t *testing.T) {
	calls := 0
	flight := func() (string, error) {
		calls++
		if calls == 2 {
			return "", errors.New("flight recorder: disk full")
		}
		return "/tmp/tcptop-flight-x.tcptop", nil
	}
	m := New(Config{Poller: pollOf(&fakeReader{samples: tuiSamples()}, tuiThresholds(t)), Interval: time.Hour, Theme: "mono",
		Flight: flight, FlightWindow: "last 15m"})
	m = send(t, m, tea.WindowSizeMsg{Width: 100, Height: 30})
	m = run(t, m, m.Init())
	m = press(t, m, "w")
	if !strings.Contains(screen(m), "flight recorder written to /tmp/tcptop-flight-x.tcptop") {
		t.Errorf("no notice:\n%s", screen(m))
	}
	m = press(t, m, "w")
	if !strings.Contains(screen(m), "disk full") {
		t.Errorf("no error:\n%s", screen(m))
	}
	m = press(t, m, "?")
	if !strings.Contains(screen(m), "save the flight recorder (last 15m)") {
		t.Errorf("help does not state the bound:\n%s", screen(m))
	}
}

// TestTimelineLineFollowsScreen: the timeline line gives the position of
// the snapshot on screen. A move's command moves the Player at once, but
// its snapshot reaches the Model later; a frame drawn in between (any
// other message) said "poll 1/90" over poll 90's findings, which an
// engineer, and the tmux test in CI, read as the leak at the start.
func TestTimelineLineFollowsScreen(t *testing.T) {
	m, p := replayTUI(t)
	m = pressSlow(t, m, "$")
	if !strings.Contains(screen(m), "poll 90/90") || len(m.snap.Findings) == 0 {
		t.Fatalf("$:\n%s", screen(m))
	}
	next, cmd := m.Update(keyMsg("^"))
	m = next.(Model)
	msg := cmd() // the seek runs: the Player is at the start now
	if pos, _ := p.Position(); pos != 0 {
		t.Fatalf("the seek left the Player at %d", pos)
	}
	m = send(t, m, tea.WindowSizeMsg{Width: 100, Height: 30}) // a redraw in between
	if s := screen(m); !strings.Contains(s, "poll 90/90") || strings.Contains(s, "poll 1/90") {
		t.Fatalf("before the seek's snapshot arrived:\n%s", s)
	}
	next, _ = m.Update(msg)
	m = next.(Model)
	if s := screen(m); !strings.Contains(s, "poll 1/90") || strings.Contains(s, "CLOSE_WAIT leak") {
		t.Fatalf("after it:\n%s", s)
	}
	// A step goes from the poll on screen.
	m = pressSlow(t, m, "l")
	if pos, _ := p.Position(); pos != 1 || !strings.Contains(screen(m), "poll 2/90") {
		t.Errorf("a step from the start: at %d\n%s", pos, screen(m))
	}
}

// TestReplayResumesFromScreen: a poll that lands after a pause is
// dropped, though it moved the Player; play resumes from the poll on
// screen, not one past the dropped one.
func TestReplayResumesFromScreen(t *testing.T) {
	m, p := replayTUI(t)
	next, cmd := m.Update(keyMsg("p")) // play: a poll starts
	m = next.(Model)
	msg := cmd()
	m = send(t, m, keyMsg("p")) // paused while it ran
	m = send(t, m, msg)         // it lands, and is dropped
	if pos, _ := p.Position(); pos != 1 || !strings.Contains(screen(m), "poll 1/90") {
		t.Fatalf("after the dropped poll: Player at %d\n%s", pos, screen(m))
	}
	next, cmd = m.Update(keyMsg("p"))
	m = next.(Model)
	m = send(t, m, cmd())
	if s := screen(m); !strings.Contains(s, "REPLAY playing 1x") || !strings.Contains(s, "poll 2/90") {
		t.Errorf("play resumed elsewhere:\n%s", s)
	}
}
