package ui

import (
	"context"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/tcptop/tcptop/model"
)

// Timeline is a Poller over a recording (record.Player implements it):
// with one, the monitor is a replay. Next plays forward; the other calls
// move anywhere and return the snapshot there. Like Next, they are
// called from one command at a time, off the UI goroutine.
type Timeline interface {
	Poller
	// Seek returns the snapshot of poll i (0-based).
	Seek(ctx context.Context, i int) (*model.Snapshot, error)
	// SeekTime returns the snapshot of the first poll at or after t.
	SeekTime(ctx context.Context, t time.Time) (*model.Snapshot, error)
	// FindingChange returns the snapshot of the next (or previous) poll
	// whose findings differ from the poll before it.
	FindingChange(ctx context.Context, forward bool) (*model.Snapshot, error)
	// Position is the poll on screen (-1 before the first) and how many
	// there are; Bounds the first and last recorded times. Both may be
	// called from the UI goroutine at any time.
	Position() (pos, total int)
	Bounds() (start, end time.Time)
}

// Replay speeds: + and - double and halve, within these.
const (
	minSpeed = 1
	maxSpeed = 64
)

// replayKeys are the timeline's keys (replay only) and the flight
// recorder's (live only).
type replayKeys struct {
	StepBack, StepFwd, MinBack, MinFwd, Start, End, PrevChange, NextChange, Faster, Slower key.Binding
	Flight                                                                                 key.Binding
}

func newReplayKeys(window string) replayKeys {
	b := func(help, desc string, keys ...string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
	}
	return replayKeys{
		StepBack:   b("←", "replay: one poll back (pauses)", "left", "h"),
		StepFwd:    b("→", "replay: one poll forward (pauses)", "right", "l"),
		MinBack:    b("[", "replay: one minute back", "["),
		MinFwd:     b("]", "replay: one minute forward", "]"),
		Start:      b("^", "replay: go to the start", "^"),
		End:        b("$", "replay: go to the end", "$"),
		PrevChange: b("{", "replay: previous change in findings", "{"),
		NextChange: b("}", "replay: next change in findings", "}"),
		Faster:     b("+", "replay: play faster (up to 64x)", "+", "="),
		Slower:     b("-", "replay: play slower (down to 1x)", "-", "_"),
		Flight:     b("w", "save the flight recorder ("+window+")", "w"),
	}
}

func (k replayKeys) timeline() []key.Binding {
	return []key.Binding{k.StepBack, k.StepFwd, k.MinBack, k.MinFwd, k.Start, k.End, k.PrevChange, k.NextChange}
}

// relabel gives + and - their replay meaning in the help.
func (r *replayState) relabel(k *KeyMap) {
	if r.tl != nil {
		k.Slower.SetHelp(r.keys.Faster.Help().Key, r.keys.Faster.Help().Desc)
		k.Faster.SetHelp(r.keys.Slower.Help().Key, r.keys.Slower.Help().Desc)
		k.Pause.SetHelp("p", "replay: pause/play (space too)")
	}
}

// replayState is the monitor's replay (tl set) or flight recorder
// (flight set) state.
type replayState struct {
	tl     Timeline
	speed  int
	flight func() (string, error)
	keys   replayKeys
	// shown is the position of the snapshot on screen. The Timeline's
	// own Position moves as soon as a command's move returns, before
	// its snapshot reaches the Model (and a poll that lands after a
	// pause is dropped): drawn live, the timeline line said poll 1 over
	// the findings of poll 90 until the seek's message arrived.
	shown tlPos
}

// tlPos is a position on the timeline, taken in the command that moved
// there, right after the move (ok: taken; replays only).
type tlPos struct {
	pos, total int
	ok         bool
}

func newReplayState(cfg Config) replayState {
	r := replayState{speed: 1, flight: cfg.Flight, keys: newReplayKeys(cfg.FlightWindow)}
	r.tl, _ = cfg.Poller.(Timeline)
	return r
}

// positionOf is where a Poller stands after a move, for the message
// that carries the move's snapshot; called in that command.
func positionOf(p Poller) tlPos {
	tl, ok := p.(Timeline)
	if !ok {
		return tlPos{}
	}
	pos, total := tl.Position()
	return tlPos{pos: pos, total: total, ok: true}
}

// position is the poll on screen and how many there are: the position of
// the shown snapshot, or the Timeline's before any arrived.
func (r *replayState) position() (pos, total int) {
	if r.shown.ok {
		return r.shown.pos, r.shown.total
	}
	return r.tl.Position()
}

// helpKeys are listed in the help overlay.
func (r *replayState) helpKeys() []key.Binding {
	if r.tl != nil {
		return r.keys.timeline()
	}
	if r.flight != nil {
		return []key.Binding{r.keys.Flight}
	}
	return nil
}

// lines is how many lines the timeline takes under the header.
func (r *replayState) lines() int {
	if r.tl != nil {
		return 1
	}
	return 0
}

// tickEvery is how long to wait between polls at the current speed.
func (r *replayState) tickEvery(interval time.Duration) time.Duration {
	return interval / time.Duration(max(1, r.speed))
}

// seekMsg is the result of a move on the timeline: shown even when
// paused.
type seekMsg struct {
	snap *model.Snapshot
	err  error
	gen  int
	at   tlPos
}

// seekCmd runs a move off the UI goroutine.
func (m *Model) seekCmd(move func(ctx context.Context, tl Timeline) (*model.Snapshot, error)) tea.Cmd {
	tl, ctx, gen := m.rp.tl, m.cfg.Context, m.gen
	return func() tea.Msg {
		s, err := move(ctx, tl)
		return seekMsg{snap: s, err: err, gen: gen, at: positionOf(tl)}
	}
}

// replayKey handles the timeline keys in a replay and the flight
// recorder key live; ok is false for any other key.
func (m *Model) replayKey(msg tea.KeyPressMsg) (tea.Cmd, bool) {
	k := &m.rp.keys
	if m.rp.tl == nil {
		if m.rp.flight != nil && key.Matches(msg, k.Flight) {
			f := m.rp.flight
			return func() tea.Msg {
				path, err := f()
				if err != nil {
					return noticeMsg(oneLine(err))
				}
				return noticeMsg("flight recorder written to " + path)
			}, true
		}
		return nil, false
	}
	// Steps go from the poll the user sees.
	pos, total := m.rp.position()
	at := func(i int) tea.Cmd {
		return m.seekCmd(func(ctx context.Context, tl Timeline) (*model.Snapshot, error) { return tl.Seek(ctx, i) })
	}
	byTime := func(d time.Duration) tea.Cmd {
		if m.snap == nil {
			return nil
		}
		t := m.snap.Time.Add(d)
		return m.seekCmd(func(ctx context.Context, tl Timeline) (*model.Snapshot, error) {
			if d < 0 {
				// The last poll at or before t.
				s, err := tl.SeekTime(ctx, t)
				if err == nil && s.Time.After(t) {
					p, _ := tl.Position()
					return tl.Seek(ctx, max(0, p-1))
				}
				return s, err
			}
			return tl.SeekTime(ctx, t)
		})
	}
	change := func(fwd bool) tea.Cmd {
		return m.seekCmd(func(ctx context.Context, tl Timeline) (*model.Snapshot, error) { return tl.FindingChange(ctx, fwd) })
	}
	pause := func(c tea.Cmd) (tea.Cmd, bool) {
		m.paused = true
		m.tickSeq++
		return c, true
	}
	switch {
	case key.Matches(msg, k.Faster) && !key.Matches(msg, k.Slower):
		m.rp.speed = min(maxSpeed, m.rp.speed*2)
		return nil, true
	case key.Matches(msg, k.Slower):
		m.rp.speed = max(minSpeed, m.rp.speed/2)
		return nil, true
	case key.Matches(msg, k.StepBack):
		return pause(at(max(0, pos-1)))
	case key.Matches(msg, k.StepFwd):
		return pause(at(min(total-1, pos+1)))
	case key.Matches(msg, k.MinBack):
		return byTime(-time.Minute), true
	case key.Matches(msg, k.MinFwd):
		return byTime(time.Minute), true
	case key.Matches(msg, k.Start):
		return at(0), true
	case key.Matches(msg, k.End):
		return pause(at(total - 1))
	case key.Matches(msg, k.NextChange):
		return pause(change(true))
	case key.Matches(msg, k.PrevChange):
		return pause(change(false))
	}
	return nil, false
}

// onSeek shows the result of a move.
func (m Model) onSeek(msg seekMsg) (tea.Model, tea.Cmd) {
	if msg.err != nil {
		m.notice = oneLine(msg.err)
		return m, nil
	}
	m.err = nil
	m.rp.shown = msg.at
	cmds := []tea.Cmd{m.setSnapshot(msg.snap)}
	if msg.gen != m.gen {
		cmds = append(cmds, m.rebuildCmd())
	}
	if !m.paused && !m.polling {
		m.pollStart = time.Now()
		cmds = append(cmds, m.tickCmd())
	}
	return m, tea.Batch(cmds...)
}

// replayEnd handles a poll past the end of a replay: it pauses there.
func (m *Model) replayEnd(msg snapshotMsg) bool {
	if m.rp.tl == nil || msg.err == nil {
		return false
	}
	if msg.at.ok && msg.at.pos == msg.at.total-1 {
		m.paused = true
		m.tickSeq++
		m.notice = "end of the recording: paused"
		return true
	}
	return false
}

// timelineLine is the replay's line under the header: play state and
// speed, the recorded date and time, the position, a bar.
func (m Model) timelineLine(w int) []string {
	if m.rp.tl == nil {
		return nil
	}
	st := &m.common.Styles
	pos, total := m.rp.position()
	start, end := m.rp.tl.Bounds()
	l := loc(m.cfg.Location)
	state := fmt.Sprintf("playing %dx", m.rp.speed)
	if m.paused {
		state = "paused"
	}
	when := "--"
	if m.snap != nil {
		when = m.snap.Time.In(l).Format("2006-01-02 15:04:05")
	}
	left := st.Crit.Render("REPLAY") + " " + state + "  " + when + fmt.Sprintf("  poll %d/%d  ", pos+1, total)
	right := "  " + start.In(l).Format("15:04:05") + "-" + end.In(l).Format("15:04:05")
	barW := w - len(stripped(left)) - len(right) - 2
	bar := ""
	if barW >= 5 {
		fill := 0
		if total > 1 {
			fill = max(0, pos) * (barW - 1) / (total - 1)
		}
		mark, line := "|", "-"
		if !m.cfg.ASCII {
			mark, line = "●", "─"
		}
		bar = "[" + strings.Repeat(line, fill) + mark + strings.Repeat(line, barW-1-fill) + "]"
	}
	return []string{fitStyled(left+bar+right, w)}
}

// Notice is a message that shows text on the status line until the next
// key (for what happens outside the monitor, such as a flight recorder
// dump on SIGUSR1).
func Notice(text string) tea.Msg { return noticeMsg(text) }
