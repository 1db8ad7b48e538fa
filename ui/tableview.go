package ui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/tcptop/tcptop/format"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/present"
	"github.com/tcptop/tcptop/source"
)

// tableView is the main view: the findings strip, the state histogram,
// the port gauge and the listeners above a table with a drill-down stack
// (peers, processes or local ports; then a peer's processes; then a
// process's sockets).
type tableView struct {
	c             *Common
	width, height int
	snap          *model.Snapshot

	view   int      // index into topLevels
	levels []*level // drill-down stack; levels[0] is the view
	// shown are the options of the last snapshot: the first snapshot
	// built with other options (a new sort or filter) sends the list on
	// screen back to its first row.
	shown optionsID
	// recent are the panel sizes of the recent snapshots (keepFor), so the
	// panels keep their place while findings and listeners come and go.
	recent []panelSizes
	// drawn is where the last View put things, for the mouse.
	drawn drawnTable
	// click is the last click on a row, for double clicks.
	click struct {
		at  time.Time
		row int
	}
	// acts: the dialogs and the socket detail (tablehooks.go).
	acts tableActs
}

// keepFor is how long a panel keeps a line it needed.
const keepFor = 30 * time.Second

// panelSizes are one snapshot's panel needs.
type panelSizes struct {
	at                  time.Time
	findings, listeners int
}

// drawnTable is where the table view drew its parts on its last View.
type drawnTable struct {
	strip   int // lines of the findings strip (lines 0..strip-1)
	header  int // the table's column titles
	offset  int // the first row on screen
	rows    int // rows on screen
	cols    []column
	visible bool
	// listeners is the listeners strip's title line; its rows follow
	// (listenerRows of them, the snapshot's first listeners).
	listeners, listenerRows int
}

// optionsID tells options apart.
type optionsID struct {
	sort   model.SortKey
	filter string
}

func idOfOptions(o model.Options) optionsID { return optionsID{o.Sort, o.Filter.String()} }

func newTableView(c *Common) View {
	v := &tableView{c: c}
	v.setTop(0, nil)
	return v
}

func (v *tableView) setTop(i int, jump *model.Subject) {
	v.view = i
	k := topLevels[i]()
	v.levels = []*level{{kind: k, label: k.name(), jump: jump}}
}

func (v *tableView) followsSort() {}

// Name implements View.
func (v *tableView) Name() string { return "table" }

// Keys implements View.
func (v *tableView) Keys() []key.Binding {
	k := &v.c.Keys
	return []key.Binding{
		k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End, k.Enter, k.Back,
		k.SortTimeWait, k.SortCloseWait, k.SortEstablished, k.SortTotal, k.SortLeft, k.SortRight, k.Reverse,
		k.Filter, k.NextView, k.PrevView, k.Listeners, k.SortQuality, k.Kill, k.Signal,
	}
}

// ShortHelp implements View.
func (v *tableView) ShortHelp() []key.Binding { return v.c.Keys.ShortHelp() }

// SetSize implements View.
func (v *tableView) SetSize(width, height int) {
	v.width, v.height = width, height
	v.refresh()
}

// SetSnapshot implements View.
func (v *tableView) SetSnapshot(s *model.Snapshot) tea.Cmd {
	v.snap = s
	kept := v.recent[:0]
	for _, p := range v.recent {
		if s.Time.Sub(p.at) < keepFor && !p.at.After(s.Time) {
			kept = append(kept, p)
		}
	}
	v.recent = append(kept, panelSizes{at: s.Time, findings: len(s.Findings), listeners: len(s.Listeners)})
	if id := idOfOptions(s.Options()); id != v.shown {
		v.shown = id
		t := &v.top().tbl
		t.sel, t.offset, t.selKey = 0, 0, ""
	}
	return tea.Batch(v.refresh(), v.hookSnapshot())
}

func (v *tableView) top() *level { return v.levels[len(v.levels)-1] }

// Update implements View.
func (v *tableView) Update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case jumpMsg:
		return v.jump(msg.subject)
	case tea.KeyPressMsg:
		return v.key(msg)
	}
	return v.hookMsg(msg)
}

func (v *tableView) key(msg tea.KeyPressMsg) tea.Cmd {
	if cmd, handled := v.hookKey(msg); handled {
		return cmd
	}
	k := &v.c.Keys
	sortBy := func(s model.SortKey) tea.Cmd {
		return request(sortMsg(func(model.SortKey) model.SortKey { return s }))
	}
	tbl := &v.top().tbl
	switch {
	case key.Matches(msg, k.SortTimeWait):
		return sortBy(model.SortKey{State: source.TimeWait})
	case key.Matches(msg, k.SortCloseWait):
		return sortBy(model.SortKey{State: source.CloseWait})
	case key.Matches(msg, k.SortEstablished):
		return sortBy(model.SortKey{State: source.Established})
	case key.Matches(msg, k.SortTotal):
		return sortBy(model.SortKey{})
	case key.Matches(msg, k.SortLeft):
		return request(sortMsg(func(s model.SortKey) model.SortKey { return moveSort(s, -1) }))
	case key.Matches(msg, k.SortRight):
		return request(sortMsg(func(s model.SortKey) model.SortKey { return moveSort(s, 1) }))
	case key.Matches(msg, k.Reverse):
		return request(sortMsg(func(s model.SortKey) model.SortKey { s.Reverse = !s.Reverse; return s }))
	case key.Matches(msg, k.Filter):
		return request(editFilterMsg{})
	case key.Matches(msg, k.Enter):
		v.drill()
	case key.Matches(msg, k.Back):
		if len(v.levels) > 1 {
			v.levels = v.levels[:len(v.levels)-1]
			return v.refresh()
		}
	case key.Matches(msg, k.NextView), key.Matches(msg, k.PrevView):
		d := 1
		if key.Matches(msg, k.PrevView) {
			d = len(topLevels) - 1
		}
		v.setTop((v.view+d)%len(topLevels), nil)
		return v.refresh()
	case key.Matches(msg, k.Up):
		tbl.move(-1)
	case key.Matches(msg, k.Down):
		tbl.move(1)
	case key.Matches(msg, k.PageUp):
		tbl.move(-max(1, tbl.height-1))
	case key.Matches(msg, k.PageDown):
		tbl.move(max(1, tbl.height-1))
	case key.Matches(msg, k.Home):
		tbl.moveTo(0)
	case key.Matches(msg, k.End):
		tbl.moveTo(-1)
	}
	return nil
}

// moveSort moves the sort to the next column left or right.
func moveSort(cur model.SortKey, d int) model.SortKey {
	cols := model.SortColumns()
	i := 0
	for j, c := range cols {
		if c.State == cur.State {
			i = j
		}
	}
	i = max(0, min(len(cols)-1, i+d))
	s := cols[i]
	s.Reverse = cur.Reverse
	return s
}

// drill pushes the level under the selected row.
func (v *tableView) drill() {
	if v.snap == nil {
		return
	}
	lv := v.top()
	next := lv.kind.drill(v.snap, lv.tbl.sel, v.c.Glyphs)
	if next == nil {
		return
	}
	v.levels = append(v.levels, next)
	v.refresh()
}

// jump shows a finding's subject: the view that lists it, its row
// selected. A subject the filter hides asks the root to clear the filter;
// the row is selected once the list is rebuilt.
func (v *tableView) jump(subj model.Subject) tea.Cmd {
	i, ok := subjectView(&subj)
	if !ok {
		return nil
	}
	v.setTop(i, &subj)
	cmd := v.refresh()
	if lv := v.top(); lv.jump != nil && v.snap != nil && !v.snap.Options().Filter.Empty() {
		return request(revealMsg{subject: subj})
	}
	return cmd
}

// refresh recomputes the top level's rows from the snapshot and sizes the
// table. Only the visible level is computed: the others keep their
// selection and are recomputed when the user comes back to them.
func (v *tableView) refresh() tea.Cmd {
	lv := v.top()
	lv.tbl.height = max(1, v.layout().tableRows)
	if v.snap == nil {
		return nil
	}
	v.hookLevel()
	lv.tbl.setData(lv.kind.data(v.snap, max(v.width, MinWidth), v.c.Glyphs))
	if lv.jump == nil {
		return nil
	}
	// Select the row a pending jump names. Wait while the filter may be
	// what hides it (the root clears it), then give up.
	switch i := lv.kind.find(lv.jump); {
	case i >= 0:
		lv.tbl.moveTo(i)
		lv.jump = nil
	case v.snap.Options().Filter.Empty():
		subj := lv.jump
		lv.jump = nil
		return request(noticeMsg(present.SubjectText(*subj, v.c.Glyphs) + " is not in the table now"))
	}
	return nil
}

// View implements View: the panels, the table's title and the table.
func (v *tableView) View() []string {
	st, w, g := &v.c.Styles, v.width, v.c.Glyphs
	l := v.layout()
	lines := make([]string, 0, v.height)
	lines = append(lines, renderFindingsStrip(st, v.snap.Findings, l.findings, w, g, v.c.Keys.Findings.Help().Key)...)
	for len(lines) < l.findings {
		lines = append(lines, strings.Repeat(" ", w))
	}
	lines = append(lines, renderStates(st, v.snap, l.states, l.stateCols, w, g)[:l.stateRows]...)
	lines = append(lines, renderPorts(st, v.snap, l.ports, w, g)...)
	lst := len(lines)
	lines = append(lines, renderListeners(st, v.snap, l.listeners, w, g)...)
	tbl := &v.top().tbl
	tbl.height = l.tableRows
	tbl.clamp()
	lines = append(lines, v.title())
	v.drawn = drawnTable{strip: l.findings, header: len(lines), offset: tbl.offset, rows: min(tbl.height, tbl.data.n-tbl.offset),
		cols: layout(tbl.data.cols, w), visible: true, listeners: lst, listenerRows: min(len(v.snap.Listeners), len(lines)-lst-2)}
	return v.hookView(append(lines, tbl.render(st, g, w, true)...))
}

// layout is the screen's layout with the panel sizes of the recent
// snapshots kept.
func (v *tableView) layout() screenLayout {
	var keep layoutKeep
	for _, p := range v.recent {
		keep.findings = max(keep.findings, p.findings)
		keep.listeners = max(keep.listeners, p.listeners)
	}
	return computeLayoutKeep(v.snap, v.c.Width, v.c.Height, keep)
}

// search implements searcher: the rows of the table on screen.
func (v *tableView) search(q string, dir int, again bool) bool {
	tbl := &v.top().tbl
	if tbl.data.n == 0 {
		return false
	}
	from := tbl.sel
	if again {
		from += dir
	}
	i := tbl.search(q, from, dir)
	if i < 0 {
		return false
	}
	tbl.moveTo(i)
	return true
}

// mouse implements mouser: a click selects a row (twice: drills down), a
// click on a column title sorts by it (again: reverses), a click on the
// findings strip opens that finding, the wheel moves the selection.
func (v *tableView) mouse(msg tea.MouseMsg, x, y int) tea.Cmd {
	d := v.drawn
	tbl := &v.top().tbl
	if !d.visible {
		return nil
	}
	switch msg := msg.(type) {
	case tea.MouseWheelMsg:
		switch msg.Button {
		case tea.MouseWheelUp:
			tbl.move(-3)
		case tea.MouseWheelDown:
			tbl.move(3)
		}
		return nil
	case tea.MouseClickMsg:
		if msg.Button != tea.MouseLeft {
			return nil
		}
	default:
		return nil
	}
	switch {
	case y < d.strip:
		return request(openFindingMsg{i: y})
	case y > d.listeners && y <= d.listeners+d.listenerRows && v.snap != nil:
		v.levels = append(v.levels, newListenerLevel(v.snap.Listeners[y-d.listeners-1].Addr))
		return v.refresh()
	case y == d.header:
		i := columnAt(d.cols, x)
		if i < 0 || !d.cols[i].sortable {
			return nil
		}
		state := d.cols[i].sortState
		return request(sortMsg(func(s model.SortKey) model.SortKey {
			if s.State == state {
				s.Reverse = !s.Reverse
				return s
			}
			return model.SortKey{State: state}
		}))
	case y > d.header && y <= d.header+d.rows:
		row := d.offset + y - d.header - 1
		now := time.Now()
		double := row == v.click.row && now.Sub(v.click.at) < doubleClick
		v.click.at, v.click.row = now, row
		tbl.moveTo(row)
		if double {
			v.click.at = time.Time{}
			v.drill()
		}
	}
	return nil
}

// title is the breadcrumb, the row count and the sort.
func (v *tableView) title() string {
	st, g := &v.c.Styles, &v.c.Glyphs
	sep := " " + g.Crumb + " "
	crumbs := make([]string, len(v.levels))
	for i, lv := range v.levels {
		crumbs[i] = lv.label
	}
	crumbs[0] = strings.ToUpper(crumbs[0])
	lv := v.top()
	n := lv.tbl.data.n
	rows := "rows"
	if n == 1 {
		rows = "row"
	}
	count := fmt.Sprintf("  %s %s", format.Count(n), rows)
	if pos := lv.tbl.position(*g); pos != "" {
		count = "  " + pos
	}
	text := st.Title.Render(strings.Join(crumbs, sep)) + st.Dim.Render(count)
	if len(v.levels) == 1 {
		text += st.Dim.Render(fmt.Sprintf("  [tab] %s %s", g.Arrow, strings.ToLower(topLevels[(v.view+1)%len(topLevels)]().name())))
	} else {
		text += st.Dim.Render("  [esc] back")
	}
	return fitStyled(text+lv.kind.note(st, v.snap, *g), v.width)
}
