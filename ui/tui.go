package ui

import (
	"context"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/tcptop/tcptop/format"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/themes"
)

// MaxWidth and MaxHeight bound the area the monitor draws in, so the cost
// of a frame stays bounded on a huge terminal (issue 20 item 12: 2000x500
// cost 300 MB and a third of a core with no sockets at all).
const (
	MaxWidth  = 400
	MaxHeight = 150
)

// BoundScreen is the monitor's tea.WithFilter: it caps every
// tea.WindowSizeMsg at MaxWidth x MaxHeight before bubbletea sees it, so
// the terminal renderer too keeps, clears and diffs a screen of at most
// that many cells. Bubbletea's renderer works on the whole alt screen on
// every frame, whatever the view holds: at 2000x500 that is a million
// cells (about 110 MB each for its two buffers) and a quarter of a core
// at one frame a second. The rest of a bigger terminal stays blank, as the
// monitor leaves it anyway (see Update). Other messages pass unchanged.
func BoundScreen(_ tea.Model, msg tea.Msg) tea.Msg {
	if ws, ok := msg.(tea.WindowSizeMsg); ok {
		ws.Width, ws.Height = min(ws.Width, MaxWidth), min(ws.Height, MaxHeight)
		return ws
	}
	return msg
}

// Minimum screen the monitor draws on; below it says so instead.
const (
	MinWidth  = 56
	MinHeight = 10
)

// Interval steps for + and -.
var intervalSteps = []time.Duration{
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2 * time.Second, 3 * time.Second, 5 * time.Second,
	10 * time.Second, 30 * time.Second, time.Minute,
}

// Config sets up the monitor.
type Config struct {
	// Poller is polled for snapshots (a pipeline over the kernel, or over
	// a recording in tests); required. The monitor calls SetOptions whenever the
	// filter or the sort change, and once at the start with Options.
	Poller Poller
	// Options are the starting filter and sort (--filter, --sort).
	Options model.Options
	// Interval is the starting refresh interval.
	Interval time.Duration
	// Theme is "auto" (from the terminal background), "dark", "light" or
	// "mono"; NoColor (NO_COLOR set) forces mono.
	Theme   string
	NoColor bool
	// ASCII draws bars and arrows without Unicode (non-UTF-8 locales).
	ASCII bool
	// Location is the header's time zone (nil: UTC).
	Location *time.Location
	// Context ends polls in flight when the program stops.
	Context context.Context
	// AllNetns opens on the namespace overview (the Poller's snapshots
	// carry a model.Overview and it implements Focuser): Enter opens a
	// namespace's full monitor, esc comes back (overview.go).
	AllNetns bool
	// Actions are the exact lookups and actions on the polled namespace
	// (nil: none, as in a replay); AllowActions is the one switch that
	// lets the monitor destroy sockets or signal processes (off under
	// --read-only and in replays).
	Actions      Actions
	AllowActions bool
	// Flight, when set, writes the flight recorder to a file and returns
	// its path (the w key); FlightWindow says how much it keeps ("last
	// 15m"), in the help.
	// A Poller that is a Timeline makes the monitor a replay instead.
	Flight       func() (string, error)
	FlightWindow string
}

// Messages. Polls and rebuilds run as commands, off the UI goroutine; their
// results come back here and are the only way the data changes.
type (
	snapshotMsg struct {
		snap    *model.Snapshot
		err     error
		gen     int       // the options generation it was built with
		started time.Time // when the poll began
		at      tlPos     // a replay's position after the poll
	}
	rebuiltMsg struct {
		snap *model.Snapshot
		gen  int
	}
	tickMsg struct{ seq int }
)

// Model is the root of the monitor: it owns the poll loop, the options,
// pause and the interval, the filter input and the status line, and routes
// keys: the filter input and the help overlay when open, then the global
// keys, then the focused view (see views).
type Model struct {
	cfg    Config
	common *Common

	snap *model.Snapshot // shown (its rates are the poll's)
	opts model.Options
	gen  int // bumped whenever opts change
	err  error

	interval  time.Duration
	paused    bool
	polling   bool
	pollStart time.Time // when the last poll began
	tickSeq   int
	// repollDue: a poll was asked for (repollMsg) while one ran.
	repollDue bool

	filtering bool
	input     textinput.Model
	filterErr error
	// filterWait says why a parsing expression is not applied yet (a
	// half-typed key such as "state"); Enter applies it anyway.
	filterWait string

	// search is the search input (s, F3) and its last query (n, N).
	search searchState

	views    []View // one per registration, built anew when opened
	focus    int    // index into views
	home     int    // the view esc ends at: 0, or the overview (AllNetns)
	help     *helpView
	showHelp bool
	// notice is a one-off message for the footer, cleared by the next key.
	notice string
	// status renders the footer's key list.
	status help.Model
	// rp is the replay timeline or the flight recorder (timeline.go).
	rp replayState
	// frame is the last view drawn, for the messages that change
	// nothing on screen (shared by the Model's copies).
	frame *frameCache
}

// frameCache keeps the last View. bubbletea draws the view after every
// message; the poll timer's tick (one a second) only starts a poll, and
// drawing the same screen again cost ~1 ms at 120x40, half the monitor's
// drawing (issue 18).
type frameCache struct {
	v  tea.View
	ok bool
	// same: the last message changed nothing View draws.
	same bool
}

// New builds the monitor.
func New(cfg Config) Model {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Context == nil {
		cfg.Context = context.Background()
	}
	m := Model{
		cfg:      cfg,
		common:   &Common{Keys: DefaultKeys(), Glyphs: format.GlyphsFor(cfg.ASCII), Actions: cfg.Actions, AllowActions: cfg.AllowActions},
		opts:     cfg.Options,
		interval: cfg.Interval,
		status:   help.New(),
		rp:       newReplayState(cfg),
		frame:    &frameCache{},
	}
	m.common.Keys.spell(m.common.Glyphs)
	cfg.Poller.SetOptions(cfg.Options)
	m.rp.relabel(&m.common.Keys)
	m.setStyles(true)
	m.input = textinput.New()
	m.input.Prompt = "/ "
	m.input.Placeholder = "port:443 proc:php state:CLOSE_WAIT 10.0.0.0/8"
	m.input.CharLimit = 512
	// The terminal's own cursor: a virtual one blinks, which redraws the
	// screen twice a second for nothing.
	m.input.SetVirtualCursor(false)
	if cfg.AllNetns {
		m.common.Keys.Namespaces = key.NewBinding(key.WithKeys("o"), key.WithHelp("o", "network namespaces overview"))
	}
	m.search.input = newSearchInput()
	var opens []key.Binding
	for _, r := range views {
		m.views = append(m.views, r.build(m.common))
		if r.open != nil {
			opens = append(opens, r.open(&m.common.Keys))
		}
	}
	m.help = newHelpView(m.common, m.views, append(opens, m.rp.helpKeys()...))
	if cfg.AllNetns {
		m.home = overviewIndex()
		m.focus = m.home
	}
	return m
}

func (m *Model) setStyles(dark bool) {
	mode := themes.Dark
	if !dark {
		mode = themes.Light
	}
	if t, err := themes.ParseMode(m.cfg.Theme); err == nil {
		mode = t
	}
	if m.cfg.NoColor {
		mode = themes.Mono
	}
	m.common.Styles = themes.New(mode)
	hs := help.DefaultStyles(dark)
	if mode == themes.Mono {
		hs = help.Styles{}
	}
	m.status.Styles = hs
	if g := &m.common.Glyphs; g.ASCII {
		m.status.ShortSeparator = " " + g.HelpSep + " "
	}
	// The key list stops at the last key that fits: an ellipsis would
	// read as a cut word.
	m.status.Ellipsis = ""
}

func (m Model) autoTheme() bool {
	_, err := themes.ParseMode(m.cfg.Theme)
	return err != nil && !m.cfg.NoColor
}

// Init starts the first poll and asks the terminal for its background.
func (m Model) Init() tea.Cmd {
	cmds := []tea.Cmd{m.pollCmd()}
	if m.autoTheme() {
		cmds = append(cmds, tea.RequestBackgroundColor)
	}
	return tea.Batch(cmds...)
}

// detailer is a Poller with the dump schedule (pipeline.Poller): told
// when the monitor shows per-socket detail, it dumps every socket.
type detailer interface{ SetDetail(on bool) }

// pollCmd asks the Poller for one snapshot off the UI goroutine. It
// captures everything it needs, so it never touches the Model; polls never
// overlap (a tick is ignored while polling).
func (m *Model) pollCmd() tea.Cmd {
	m.polling = true
	p, ctx, gen := m.cfg.Poller, m.cfg.Context, m.gen
	if d, ok := p.(detailer); ok {
		// A drill-down shows per-socket detail: dump everything.
		d.SetDetail(m.focus == 0 && !tableAtTop(m.views[0]))
	}
	next := p.Next
	if tl, at := m.rp.tl, m.rp.shown; tl != nil && at.ok {
		// A replay plays on from the poll on screen: a poll that landed
		// after a pause moved the Player, but was never shown.
		next = func(ctx context.Context) (*model.Snapshot, error) { return tl.Seek(ctx, at.pos+1) }
	}
	return func() tea.Msg {
		started := time.Now()
		s, err := next(ctx)
		return snapshotMsg{snap: s, err: err, gen: gen, started: started, at: positionOf(p)}
	}
}

// rebuildCmd re-aggregates the shown sample with the current options
// (a new filter or sort), without polling the kernel; the findings,
// history, ages and rates stay those of the poll.
func (m *Model) rebuildCmd() tea.Cmd {
	if m.snap == nil || m.snap.Sample == nil {
		return nil
	}
	snap, opts, gen := m.snap, m.opts, m.gen
	return func() tea.Msg {
		n := model.Rebuild(snap, opts)
		n.KeepCarried(snap)    // the dump schedule's exact ESTABLISHED count
		if n.Overview != nil { // --all-netns: the overview re-sorts at once too
			n.Overview = n.Overview.Resorted(opts)
		}
		return rebuiltMsg{snap: n, gen: gen}
	}
}

// optsChanged hands the new options to the Poller and rebuilds. A poll
// already under way comes back with the older generation and is rebuilt
// in turn.
func (m *Model) optsChanged() tea.Cmd {
	m.gen++
	m.cfg.Poller.SetOptions(m.opts)
	return m.rebuildCmd()
}

// repoll polls now, or right after the poll under way; never while
// paused (a frozen screen stays frozen).
func (m *Model) repoll() tea.Cmd {
	switch {
	case m.paused:
		return nil
	case m.polling:
		m.repollDue = true
		return nil
	}
	m.tickSeq++ // the pending tick is void: this poll schedules the next
	return m.pollCmd()
}

// tickCmd schedules the next poll one interval after the last one began,
// so the cadence holds however long the poll took, and polls never overlap.
func (m *Model) tickCmd() tea.Cmd {
	m.tickSeq++
	seq := m.tickSeq
	d := m.rp.tickEvery(m.interval) - time.Since(m.pollStart)
	if d < 10*time.Millisecond {
		d = 10 * time.Millisecond
	}
	return tea.Tick(d, func(time.Time) tea.Msg { return tickMsg{seq} })
}

// setSnapshot shows a snapshot: every view gets it.
func (m *Model) setSnapshot(s *model.Snapshot) tea.Cmd {
	m.snap = s
	cmds := make([]tea.Cmd, 0, len(m.views))
	for _, v := range m.views {
		cmds = append(cmds, v.SetSnapshot(s))
	}
	cmds = append(cmds, m.help.SetSnapshot(s)) // its line on eBPF
	return tea.Batch(cmds...)
}

// setSize gives every view the screen without the header and the footer.
func (m *Model) setSize(w, h int) {
	m.common.Width, m.common.Height = w, h
	for _, v := range m.views {
		v.SetSize(w, max(0, h-2-m.rp.lines()))
	}
	m.help.SetSize(w, max(0, h-2-m.rp.lines()))
}

// Update handles one message.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	_, tick := msg.(tickMsg)
	if m.frame != nil {
		// Only the poll timer's tick keeps the screen: it starts a poll,
		// whose state (polling, the poller's detail) is not drawn.
		m.frame.same = tick
	}
	return m.update(msg)
}

func (m Model) update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		// A huge terminal (2000x500) must not make every frame huge:
		// the monitor draws in at most MaxWidth x MaxHeight cells, top
		// left, and leaves the rest of the screen empty.
		w, h := min(msg.Width, MaxWidth), min(msg.Height, MaxHeight)
		m.status.SetWidth(w)
		m.input.SetWidth(max(10, w-4))
		m.search.input.SetWidth(max(10, w-12))
		m.setSize(w, h)
		return m, nil
	case tea.BackgroundColorMsg:
		if m.autoTheme() {
			m.setStyles(msg.IsDark())
		}
		return m, nil
	case snapshotMsg:
		m.polling = false
		m.pollStart = msg.started
		if m.paused || m.replayEnd(msg) {
			return m, nil // frozen: drop what arrived after the pause
		}
		if msg.err != nil {
			m.err = msg.err
			return m, m.tickCmd()
		}
		m.err = nil
		next := m.tickCmd()
		if m.repollDue {
			// A poll was asked for while this one ran (it may predate
			// what was asked): poll again now.
			m.repollDue = false
			m.tickSeq++ // the pending tick is void
			next = m.pollCmd()
		}
		m.rp.shown = msg.at
		cmds := []tea.Cmd{m.setSnapshot(msg.snap), next}
		if msg.gen != m.gen {
			cmds = append(cmds, m.rebuildCmd())
		}
		return m, tea.Batch(cmds...)
	case rebuiltMsg:
		// Only a rebuild of the sample still on screen, with the newest
		// options, may replace it.
		if msg.gen == m.gen && m.snap != nil && msg.snap.Sample == m.snap.Sample {
			return m, m.setSnapshot(msg.snap)
		}
		return m, nil
	case tickMsg:
		if msg.seq != m.tickSeq || m.paused || m.polling {
			return m, nil
		}
		return m, m.pollCmd()
	case repollMsg:
		return m, m.repoll()
	case tea.KeyPressMsg:
		return m.handleKey(msg)
	case tea.MouseMsg:
		return m, m.mouse(msg)
	case openFindingMsg:
		return m, m.openFinding(msg)
	case seekMsg:
		return m.onSeek(msg)

	// Requests from the views.
	case noticeMsg:
		m.notice = string(msg)
		return m, nil
	case sortMsg:
		return m, m.setSort(msg(m.opts.Sort))
	case editFilterMsg:
		m.filtering = true
		m.filterErr, m.filterWait = nil, ""
		m.input.SetValue(m.opts.Filter.String())
		m.input.CursorEnd()
		return m, m.input.Focus()
	case closeMsg:
		if m.showHelp {
			m.showHelp = false
		} else {
			m.focus = 0
		}
		return m, nil
	case focusNetnsMsg:
		return m, m.focusNetns(msg.key)
	case jumpMsg:
		m.focus = 0
		return m, m.views[0].Update(msg)
	case revealMsg:
		if m.opts.Filter.Empty() {
			return m, nil
		}
		m.notice = "filter " + m.opts.Filter.String() + " cleared to show " + msg.subject.String()
		m.opts.Filter = model.Filter{}
		m.input.SetValue("")
		m.gen++
		m.cfg.Poller.SetOptions(m.opts)
		return m, m.rebuildCmd()
	}
	if m.filtering {
		var cmd tea.Cmd
		m.input, cmd = m.input.Update(msg)
		return m, cmd
	}
	return m, m.views[m.focus].Update(msg)
}

func (m Model) handleKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	k := &m.common.Keys
	if msg.String() == "ctrl+c" {
		return m, tea.Quit
	}
	if m.filtering {
		return m.filterKey(msg)
	}
	if m.search.active {
		return m.searchKey(msg)
	}
	if m.showHelp {
		return m, m.help.Update(msg)
	}
	m.notice = ""
	// A dialog (kill, signal) takes every key: q or p must not quit or
	// pause behind a question being asked.
	if md, ok := m.views[m.focus].(modal); ok && md.modal() {
		return m, m.views[m.focus].Update(msg)
	}
	if cmd, ok := m.replayKey(msg); ok {
		return m, cmd
	}
	switch {
	case key.Matches(msg, k.Quit):
		return m, tea.Quit
	case key.Matches(msg, k.Suspend):
		return m, tea.Suspend
	case key.Matches(msg, k.Help):
		m.showHelp = true
		return m, nil
	case key.Matches(msg, k.Pause), key.Matches(msg, k.Slower), key.Matches(msg, k.Faster):
		return m, m.timingKey(msg)
	case m.focus != 0 && m.focus != m.home && key.Matches(msg, k.Back):
		m.focus = 0
		return m, nil
	case m.home != 0 && m.focus == 0 && key.Matches(msg, k.Back) && tableAtTop(m.views[0]):
		m.focus = m.home
		return m, nil
	}
	for i, r := range views {
		if r.open != nil && key.Matches(msg, r.open(k)) {
			return m, m.toggleView(i)
		}
	}
	if cmd, ok := m.commonKey(msg); ok {
		return m, cmd
	}
	return m, m.views[m.focus].Update(msg)
}

// toggleView opens view i from its top, or goes back to the main view when
// it is the one open.
func (m *Model) toggleView(i int) tea.Cmd {
	if m.focus == i {
		m.focus = 0
		return nil
	}
	v := views[i].build(m.common)
	v.SetSize(m.common.Width, max(0, m.common.Height-2-m.rp.lines()))
	var cmd tea.Cmd
	if m.snap != nil {
		cmd = v.SetSnapshot(m.snap)
	}
	m.views[i], m.focus = v, i
	return cmd
}

// timingKey handles pause and the refresh interval, in every view.
func (m *Model) timingKey(msg tea.KeyPressMsg) tea.Cmd {
	k := &m.common.Keys
	switch {
	case key.Matches(msg, k.Pause):
		m.paused = !m.paused
		m.tickSeq++ // a pending tick is void either way
		if !m.paused && !m.polling {
			return m.pollCmd()
		}
	case key.Matches(msg, k.Slower), key.Matches(msg, k.Faster):
		m.interval = stepInterval(m.interval, key.Matches(msg, k.Slower))
		if !m.paused && !m.polling {
			return m.tickCmd()
		}
	}
	return nil
}

// filterKey edits the filter: every change that parses applies at once; a
// bad expression shows its error and leaves the last good filter in force.
func (m Model) filterKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	k := &m.common.Keys
	switch {
	case key.Matches(msg, k.FilterKeep):
		if m.filterErr != nil {
			return m, nil // nothing to keep: the error stays on screen
		}
		m.filtering = false
		m.filterWait = ""
		m.input.Blur()
		if f, err := model.ParseFilter(m.input.Value()); err == nil && f.String() != m.opts.Filter.String() {
			m.opts.Filter = f
			return m, m.optsChanged()
		}
		return m, nil
	case key.Matches(msg, k.FilterClear):
		m.filtering = false
		m.filterErr = nil
		m.filterWait = ""
		m.input.Blur()
		m.input.SetValue("")
		if m.opts.Filter.Empty() {
			return m, nil
		}
		m.opts.Filter = model.Filter{}
		return m, m.optsChanged()
	}
	before := m.input.Value()
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	if m.input.Value() == before {
		return m, cmd
	}
	f, err := model.ParseFilter(m.input.Value())
	m.filterErr, m.filterWait = err, ""
	if err != nil {
		return m, cmd
	}
	if m.filterWait = halfTyped(m.input.Value()); m.filterWait != "" {
		return m, cmd
	}
	if f.String() == m.opts.Filter.String() {
		return m, cmd
	}
	m.opts.Filter = f
	return m, tea.Batch(cmd, m.optsChanged())
}

func (m *Model) setSort(s model.SortKey) tea.Cmd {
	if s == m.opts.Sort {
		return nil
	}
	m.opts.Sort = s
	return m.optsChanged()
}

func stepInterval(d time.Duration, slower bool) time.Duration {
	if slower {
		for _, s := range intervalSteps {
			if s > d {
				return s
			}
		}
		return d
	}
	for i := len(intervalSteps) - 1; i >= 0; i-- {
		if intervalSteps[i] < d {
			return intervalSteps[i]
		}
	}
	return d
}

// Snapshot returns the snapshot on screen (nil before the first poll).
func (m Model) Snapshot() *model.Snapshot { return m.snap }

// Err returns the last poll's error (nil when it succeeded).
func (m Model) Err() error { return m.err }
