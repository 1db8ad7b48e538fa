package ui

import (
	"context"
	"fmt"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
	"github.com/tcptop/tcptop/themes"
)

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
	// Reader is polled for samples (the kernel, or a recording in tests).
	Reader source.Reader
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
	// Analyzer turns polls into snapshots with findings, history and
	// ages (nil: one with the default thresholds). Only the poll command
	// uses it, and polls never overlap.
	Analyzer *model.Analyzer
}

// Messages. Polls and rebuilds run as commands, off the UI goroutine; their
// results come back here and are the only way the data changes.
type (
	snapshotMsg struct {
		snap    *model.Snapshot
		err     error
		gen     int       // the options generation it was built with
		started time.Time // when the poll began
	}
	rebuiltMsg struct {
		snap *model.Snapshot
		gen  int
	}
	tickMsg struct{ seq int }
)

// screenMode is what fills the screen under the header.
type screenMode int

const (
	screenTable    screenMode = iota // panels and the table
	screenFindings                   // f: findings with evidence and advice
	screenKernel                     // k: tunables and counters
)

// Model is the root of the monitor: it owns the poll loop and routes keys
// to the filter input, the help overlay or the table levels.
type Model struct {
	cfg    Config
	keys   KeyMap
	styles themes.Styles
	width  int
	height int

	snap    *model.Snapshot // shown (its rates are the Analyzer's)
	opts    model.Options
	gen     int // bumped whenever opts change
	snapGen int // the gen snap was built with
	err     error
	errAt   time.Time

	interval  time.Duration
	paused    bool
	polling   bool
	pollStart time.Time // when the last poll began
	tickSeq   int

	view   int      // index into topViews
	levels []*level // drill-down stack; levels[0] is the view

	filtering bool
	input     textinput.Model
	filterErr error

	showHelp bool
	help     help.Model

	mode     screenMode
	findings findingsView
	kernel   kernelView
	// notice is a one-off message for the footer, cleared by the next key.
	notice string
}

// New builds the monitor.
func New(cfg Config) Model {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Context == nil {
		cfg.Context = context.Background()
	}
	if cfg.Analyzer == nil {
		cfg.Analyzer = model.NewAnalyzer(model.DefaultThresholds())
	}
	m := Model{
		cfg:      cfg,
		keys:     DefaultKeys(),
		opts:     cfg.Options,
		interval: cfg.Interval,
		help:     help.New(),
	}
	m.setStyles(true)
	m.input = textinput.New()
	m.input.Prompt = "/ "
	m.input.Placeholder = "port:443 proc:php state:CLOSE_WAIT 10.0.0.0/8"
	m.input.CharLimit = 512
	// The terminal's own cursor: a virtual one blinks, which redraws the
	// screen twice a second for nothing.
	m.input.SetVirtualCursor(false)
	m.levels = []*level{{kind: topViews[0], label: topViews[0].name()}}
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
	m.styles = themes.New(mode, m.cfg.ASCII)
	hs := help.DefaultStyles(dark)
	if mode == themes.Mono {
		hs = help.Styles{}
	}
	m.help.Styles = hs
	if m.cfg.ASCII {
		m.help.ShortSeparator, m.help.Ellipsis = " | ", "~"
	}
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

// pollCmd reads one sample and runs it through the Analyzer off the UI
// goroutine. It captures everything it needs, so it never touches the
// Model; the Analyzer is only ever used by the one poll in flight (a tick
// is ignored while polling), so it needs no lock.
func (m *Model) pollCmd() tea.Cmd {
	m.polling = true
	r, ctx, a, opts, gen := m.cfg.Reader, m.cfg.Context, m.cfg.Analyzer, m.opts, m.gen
	return func() tea.Msg {
		started := time.Now()
		s, err := r.Read(ctx)
		if err != nil {
			return snapshotMsg{err: err, gen: gen, started: started}
		}
		return snapshotMsg{snap: a.Next(s, opts), gen: gen, started: started}
	}
}

// rebuildCmd re-aggregates the shown sample with the current options
// (a new filter or sort), without polling the kernel; the findings,
// history and ages stay those of the poll.
func (m *Model) rebuildCmd() tea.Cmd {
	if m.snap == nil || m.snap.Sample == nil {
		return nil
	}
	snap, opts, gen := m.snap, m.opts, m.gen
	return func() tea.Msg { return rebuiltMsg{snap: model.Rebuild(snap, opts), gen: gen} }
}

// optsChanged records new options and rebuilds. The list on screen goes
// back to its first row once it is re-sorted or re-filtered: after "sort by
// CLOSE_WAIT" the user wants the worst peer, not the one they were on.
func (m *Model) optsChanged() tea.Cmd {
	m.gen++
	m.top().resetGen = m.gen + 1
	return m.rebuildCmd()
}

// tickCmd schedules the next poll one interval after the last one began,
// so the cadence holds however long the poll took, and polls never overlap.
func (m *Model) tickCmd() tea.Cmd {
	m.tickSeq++
	seq := m.tickSeq
	d := m.interval - time.Since(m.pollStart)
	if d < 10*time.Millisecond {
		d = 10 * time.Millisecond
	}
	return tea.Tick(d, func(time.Time) tea.Msg { return tickMsg{seq} })
}

// Update handles one message.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.help.SetWidth(msg.Width)
		m.input.SetWidth(max(10, msg.Width-4))
		m.refresh()
		return m, nil
	case tea.BackgroundColorMsg:
		if m.autoTheme() {
			m.setStyles(msg.IsDark())
		}
		return m, nil
	case snapshotMsg:
		m.polling = false
		m.pollStart = msg.started
		if m.paused {
			return m, nil // frozen: drop what arrived after the pause
		}
		if msg.err != nil {
			m.err, m.errAt = msg.err, time.Now()
			return m, m.tickCmd()
		}
		m.err = nil
		m.snap, m.snapGen = msg.snap, msg.gen
		m.refresh()
		cmds := []tea.Cmd{m.tickCmd()}
		if msg.gen != m.gen {
			cmds = append(cmds, m.rebuildCmd())
		}
		return m, tea.Batch(cmds...)
	case rebuiltMsg:
		// Only a rebuild of the sample still on screen, with the newest
		// options, may replace it.
		if msg.gen == m.gen && m.snap != nil && msg.snap.Sample == m.snap.Sample {
			m.snap, m.snapGen = msg.snap, msg.gen
			m.refresh()
		}
		return m, nil
	case tickMsg:
		if msg.seq != m.tickSeq || m.paused || m.polling {
			return m, nil
		}
		return m, m.pollCmd()
	case tea.KeyPressMsg:
		return m.handleKey(msg)
	}
	if m.filtering {
		var cmd tea.Cmd
		m.input, cmd = m.input.Update(msg)
		return m, cmd
	}
	return m, nil
}

func (m Model) handleKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	k := m.keys
	if msg.String() == "ctrl+c" {
		return m, tea.Quit
	}
	if m.filtering {
		return m.filterKey(msg)
	}
	if m.showHelp {
		if key.Matches(msg, k.Help, k.Back, k.Quit) {
			m.showHelp = false
		}
		return m, nil
	}
	m.notice = ""
	if m.mode != screenTable {
		return m.viewKey(msg)
	}
	top := m.top()
	switch {
	case key.Matches(msg, k.Quit):
		return m, tea.Quit
	case key.Matches(msg, k.Suspend):
		return m, tea.Suspend
	case key.Matches(msg, k.Help):
		m.showHelp = true
	case key.Matches(msg, k.Findings):
		m.openView(screenFindings)
	case key.Matches(msg, k.Kernel):
		m.openView(screenKernel)
	case key.Matches(msg, k.SortTimeWait):
		return m, m.setSort(model.SortKey{State: source.TimeWait})
	case key.Matches(msg, k.SortCloseWait):
		return m, m.setSort(model.SortKey{State: source.CloseWait})
	case key.Matches(msg, k.SortEstablished):
		return m, m.setSort(model.SortKey{State: source.Established})
	case key.Matches(msg, k.SortTotal):
		return m, m.setSort(model.SortKey{})
	case key.Matches(msg, k.SortLeft):
		return m, m.moveSort(-1)
	case key.Matches(msg, k.SortRight):
		return m, m.moveSort(1)
	case key.Matches(msg, k.Reverse):
		s := m.opts.Sort
		s.Reverse = !s.Reverse
		return m, m.setSort(s)
	case key.Matches(msg, k.Filter):
		m.filtering = true
		m.filterErr = nil
		m.input.SetValue(m.opts.Filter.String())
		m.input.CursorEnd()
		return m, m.input.Focus()
	case key.Matches(msg, k.Enter):
		m.drill()
	case key.Matches(msg, k.Back):
		if len(m.levels) > 1 {
			m.levels = m.levels[:len(m.levels)-1]
			m.refresh()
		}
	case key.Matches(msg, k.NextView), key.Matches(msg, k.PrevView):
		d := 1
		if key.Matches(msg, k.PrevView) {
			d = len(topViews) - 1
		}
		m.view = (m.view + d) % len(topViews)
		v := topViews[m.view]
		m.levels = []*level{{kind: v, label: v.name()}}
		m.refresh()
	case key.Matches(msg, k.Pause), key.Matches(msg, k.Slower), key.Matches(msg, k.Faster):
		return m, m.timingKey(msg)
	case key.Matches(msg, k.Up):
		top.tbl.move(-1)
	case key.Matches(msg, k.Down):
		top.tbl.move(1)
	case key.Matches(msg, k.PageUp):
		top.tbl.move(-max(1, top.tbl.height-1))
	case key.Matches(msg, k.PageDown):
		top.tbl.move(max(1, top.tbl.height-1))
	case key.Matches(msg, k.Home):
		top.tbl.moveTo(0)
	case key.Matches(msg, k.End):
		top.tbl.moveTo(-1)
	}
	return m, nil
}

// timingKey handles pause and the refresh interval, in every view.
func (m *Model) timingKey(msg tea.KeyPressMsg) tea.Cmd {
	k := m.keys
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

// openView shows the findings or the kernel view, from its top.
func (m *Model) openView(mode screenMode) {
	m.mode = mode
	m.findings = findingsView{}
	m.kernel = kernelView{}
	m.refresh()
}

// viewRows is how many document lines the findings and kernel views show
// (the screen without the header, the footer and the view's title).
func (m *Model) viewRows() int { return max(1, m.height-3) }

// viewKey handles a key in the findings or kernel view.
func (m Model) viewKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	k := m.keys
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
	case key.Matches(msg, k.Findings):
		m.toggleView(screenFindings)
		return m, nil
	case key.Matches(msg, k.Kernel):
		m.toggleView(screenKernel)
		return m, nil
	case key.Matches(msg, k.Back):
		m.mode = screenTable
		m.refresh()
		return m, nil
	}
	if m.snap == nil {
		return m, nil
	}
	rows := m.viewRows()
	if m.mode == screenKernel {
		total := len(kernelDoc(&m.styles, m.snap, max(m.width, MinWidth)))
		switch {
		case key.Matches(msg, k.Up):
			m.kernel.scroll(-1, total, rows)
		case key.Matches(msg, k.Down):
			m.kernel.scroll(1, total, rows)
		case key.Matches(msg, k.PageUp):
			m.kernel.scroll(-max(1, rows-1), total, rows)
		case key.Matches(msg, k.PageDown):
			m.kernel.scroll(max(1, rows-1), total, rows)
		case key.Matches(msg, k.Home):
			m.kernel.offset = 0
		case key.Matches(msg, k.End):
			m.kernel.scroll(total, total, rows)
		}
		return m, nil
	}
	fs, w, ascii := m.snap.Findings, max(m.width, MinWidth), m.cfg.ASCII
	switch {
	case key.Matches(msg, k.Enter):
		return m, m.jump()
	case key.Matches(msg, k.Up):
		m.findings.move(fs, -1, w, rows, ascii)
	case key.Matches(msg, k.Down):
		m.findings.move(fs, 1, w, rows, ascii)
	case key.Matches(msg, k.PageUp):
		m.findings.scroll(fs, -max(1, rows-1), w, rows, ascii)
	case key.Matches(msg, k.PageDown):
		m.findings.scroll(fs, max(1, rows-1), w, rows, ascii)
	case key.Matches(msg, k.Home):
		m.findings.move(fs, -len(fs), w, rows, ascii)
	case key.Matches(msg, k.End):
		m.findings.move(fs, len(fs), w, rows, ascii)
	}
	return m, nil
}

// jump shows the selected finding's subject in the table: a destination
// or peer in the peers view, a listener's port in the local-ports view, a
// process in the processes view. A subject the filter hides clears the
// filter, and is selected once the list is rebuilt.
func (m *Model) jump() tea.Cmd {
	fs := m.snap.Findings
	if len(fs) == 0 {
		return nil
	}
	subj := fs[m.findings.sel].Subject
	kind, ok := subjectView(&subj)
	if !ok {
		m.notice = "this finding is about the whole host: no row to go to"
		return nil
	}
	m.mode = screenTable
	for i, v := range topViews {
		if v == kind {
			m.view = i
		}
	}
	m.levels = []*level{{kind: kind, label: kind.name(), jump: &subj}}
	m.refresh()
	if m.top().jump == nil || m.opts.Filter.Empty() {
		return nil
	}
	m.notice = "filter " + m.opts.Filter.String() + " cleared to show " + subj.String()
	m.opts.Filter = model.Filter{}
	m.input.SetValue("")
	m.gen++
	return m.rebuildCmd()
}

// filterKey edits the filter: every change that parses applies at once; a
// bad expression shows its error and leaves the last good filter in force.
func (m Model) filterKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	switch {
	case key.Matches(msg, m.keys.FilterKeep):
		m.filtering = false
		m.filterErr = nil
		m.input.Blur()
		return m, nil
	case key.Matches(msg, m.keys.FilterClear):
		m.filtering = false
		m.filterErr = nil
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
	if err != nil {
		m.filterErr = err
		return m, cmd
	}
	m.filterErr = nil
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

// moveSort moves the sort to the next column left or right.
func (m *Model) moveSort(d int) tea.Cmd {
	cols := model.SortColumns()
	i := 0
	for j, c := range cols {
		if c.State == m.opts.Sort.State {
			i = j
		}
	}
	i = max(0, min(len(cols)-1, i+d))
	s := cols[i]
	s.Reverse = m.opts.Sort.Reverse
	return m.setSort(s)
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

// toggleView opens a full-screen view, or goes back to the table when it
// is the one open.
func (m *Model) toggleView(v screenMode) {
	if m.mode == v {
		m.mode = screenTable
	} else {
		m.openView(v)
	}
	m.refresh()
}

func (m *Model) top() *level { return m.levels[len(m.levels)-1] }

// drill pushes the level under the selected row.
func (m *Model) drill() {
	if m.snap == nil {
		return
	}
	lv := m.top()
	i := lv.tbl.sel
	arrow := " → "
	if m.cfg.ASCII {
		arrow = " -> "
	}
	switch lv.kind {
	case lvPeers:
		if i >= len(lv.peers) {
			return
		}
		p := &lv.peers[i]
		label := p.Remote
		if p.Direction == "in" {
			label = p.Remote + arrow + p.Local
		}
		m.levels = append(m.levels, &level{kind: lvPeerProcs, peer: idOf(p), label: label})
	case lvProcesses, lvPeerProcs:
		if i >= len(lv.procs) {
			return
		}
		r := lv.procs[i]
		label := fmt.Sprintf("%s[%d]", r.Name, r.PID)
		if r.PID == 0 {
			label = r.Name
		}
		m.levels = append(m.levels, &level{kind: lvSockets, peer: lv.peer, byPeer: lv.kind == lvPeerProcs, pid: r.PID, label: label})
	default:
		return
	}
	m.refresh()
}

// refresh recomputes the top level's rows from the snapshot and sizes the
// table. Only the visible level is computed: the others keep their
// selection and are recomputed when the user comes back to them.
func (m *Model) refresh() {
	lv := m.top()
	lv.tbl.height = max(1, m.tableRows())
	if m.snap == nil {
		return
	}
	if lv.resetGen == m.snapGen+1 {
		lv.tbl.sel, lv.tbl.offset, lv.tbl.selKey = 0, 0, ""
		lv.resetGen = 0
	}
	w := max(m.width, MinWidth)
	if m.mode == screenFindings {
		m.findings.sync(m.snap.Findings, w, m.viewRows(), m.cfg.ASCII)
	}
	switch lv.kind {
	case lvPeers:
		lv.peers = m.snap.Peers
		lv.tbl.setData(peersData(m.snap, w, m.cfg.ASCII))
	case lvProcesses:
		lv.procs = m.snap.Processes
		lv.tbl.setData(processData(m.snap, lv.procs, w, m.cfg.ASCII))
	case lvPorts:
		lv.ports = m.snap.LocalPorts()
		lv.tbl.setData(portsData(m.snap, lv.ports, w, m.cfg.ASCII))
	case lvPeerProcs:
		lv.procs = nil
		if p := m.findPeer(lv.peer); p != nil {
			lv.procs = m.snap.PeerProcesses(p)
		}
		lv.tbl.setData(processData(m.snap, lv.procs, w, m.cfg.ASCII))
	case lvSockets:
		lv.socks = nil
		if lv.byPeer {
			if p := m.findPeer(lv.peer); p != nil {
				lv.socks = m.snap.ProcessPeerSockets(p, lv.pid)
			}
		} else {
			lv.socks = m.snap.ProcessSockets(lv.pid)
		}
		lv.tbl.setData(socketsData(m.snap, lv.socks, w))
	}
	if lv.jump != nil {
		m.selectSubject(lv)
	}
}

// selectSubject selects the row a pending jump names. It waits while a
// rebuild with the current options is on its way, then gives up.
func (m *Model) selectSubject(lv *level) {
	i := -1
	switch lv.kind {
	case lvPeers:
		i = peerIndex(lv.peers, lv.jump)
	case lvPorts:
		i = portIndex(lv.ports, lv.jump)
	case lvProcesses:
		i = processIndex(lv.procs, lv.jump)
	}
	switch {
	case i >= 0:
		lv.tbl.moveTo(i)
		lv.jump = nil
	case m.snapGen == m.gen && m.opts.Filter.Empty():
		m.notice = lv.jump.String() + " is not in the table now"
		lv.jump = nil
	}
}

func (m *Model) findPeer(id peerID) *model.Peer {
	for i := range m.snap.Peers {
		if idOf(&m.snap.Peers[i]) == id {
			return &m.snap.Peers[i]
		}
	}
	return nil
}

// Snapshot returns the snapshot on screen (nil before the first poll).
func (m Model) Snapshot() *model.Snapshot { return m.snap }

// Err returns the last poll's error (nil when it succeeded).
func (m Model) Err() error { return m.err }
