package ui

import (
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/tcptop/tcptop/model"
)

// The root's input beyond the filter: search (s, F3; n and N repeat it),
// the keys every view shares (kill, unknown keys), and the mouse.

// searcher is a view that can search its rows (or lines): search selects
// the next one whose text contains q (any case) in direction dir (1 or
// -1), from the current one when again is false (typing), else from the
// one after it (n, N); it wraps around and reports whether any matched.
type searcher interface {
	search(q string, dir int, again bool) bool
}

// mouser is a view that answers the mouse: x and y are cells within the
// view's area (y 0 is the line under the header).
type mouser interface {
	mouse(msg tea.MouseMsg, x, y int) tea.Cmd
}

// openFindingMsg opens the findings view with finding i selected (a
// click on the findings strip).
type openFindingMsg struct{ i int }

// searchState is the search input and the last query.
type searchState struct {
	active  bool
	input   textinput.Model
	query   string
	missing bool // the query matches nothing
}

func newSearchInput() textinput.Model {
	in := textinput.New()
	in.Prompt = "search: "
	in.Placeholder = "text in a row (n next, N previous)"
	in.CharLimit = 256
	in.SetVirtualCursor(false)
	return in
}

// doubleClick is the longest gap between the two clicks of a double click.
var doubleClick = 400 * time.Millisecond

// commonKey handles the keys every view shares after the global ones:
// search and a key nothing answers to. ok is false when
// the focused view should have the key.
func (m *Model) commonKey(msg tea.KeyPressMsg) (tea.Cmd, bool) {
	if md, ok := m.views[m.focus].(modal); ok && md.modal() {
		return nil, false // a dialog takes every key (y, n, any key to close)
	}
	k := &m.common.Keys
	s, canSearch := m.views[m.focus].(searcher)
	switch {
	case key.Matches(msg, k.Search):
		if !canSearch {
			m.notice = "nothing to search in this view"
			return nil, true
		}
		m.search.active, m.search.missing = true, false
		m.search.input.SetValue("")
		return m.search.input.Focus(), true
	case key.Matches(msg, k.SearchNext), key.Matches(msg, k.SearchPrev):
		switch {
		case !canSearch:
			m.notice = "nothing to search in this view"
		case m.search.query == "":
			m.notice = "no search yet: " + k.Search.Help().Key + " searches"
		default:
			dir := 1
			if key.Matches(msg, k.SearchPrev) {
				dir = -1
			}
			if m.search.missing = !s.search(m.search.query, dir, true); m.search.missing {
				m.notice = "search: no row matches " + quote(m.search.query)
			}
		}
		return nil, true
	}
	if !m.known(msg) {
		m.notice = "key " + msg.String() + " does nothing here: " + k.Help.Help().Key + " lists the keys"
		return nil, true
	}
	return nil, false
}

// searchKey edits the search: every change jumps to the first match from
// the current row; enter keeps the query for n and N, esc drops it.
func (m Model) searchKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	k := &m.common.Keys
	switch {
	case key.Matches(msg, k.FilterKeep):
		m.search.active = false
		m.search.query = m.search.input.Value()
		m.search.input.Blur()
		return m, nil
	case key.Matches(msg, k.FilterClear):
		m.search.active, m.search.missing = false, false
		m.search.input.Blur()
		return m, nil
	}
	before := m.search.input.Value()
	var cmd tea.Cmd
	m.search.input, cmd = m.search.input.Update(msg)
	q := m.search.input.Value()
	if q == before {
		return m, cmd
	}
	m.search.query, m.search.missing = q, false
	if s, ok := m.views[m.focus].(searcher); ok && q != "" {
		m.search.missing = !s.search(q, 1, false)
	}
	return m, cmd
}

// modal is a view showing a dialog that answers to keys of its own.
type modal interface{ modal() bool }

// known reports whether any key of the key map or of a view answers to
// msg; a bare modifier press (kitty keyboard) counts as known.
func (m *Model) known(msg tea.KeyPressMsg) bool {
	if msg.Code >= tea.KeyLeftShift && msg.Code <= tea.KeyIsoLevel5Shift {
		return true
	}
	k := &m.common.Keys
	for _, g := range k.FullHelp() {
		if key.Matches(msg, g...) {
			return true
		}
	}
	for i, r := range views {
		if r.open != nil && key.Matches(msg, r.open(k)) {
			return true
		}
		if key.Matches(msg, m.views[i].Keys()...) {
			return true
		}
	}
	return false
}

// mouse hands a mouse event to the view under it: the header and the
// status line do nothing; over the help overlay a click closes it.
func (m *Model) mouse(msg tea.MouseMsg) tea.Cmd {
	if m.filtering || m.search.active || m.snap == nil {
		return nil
	}
	ms := msg.Mouse()
	if ms.Y <= 0 || ms.Y >= m.common.Height-1 {
		return nil
	}
	if m.showHelp {
		if _, ok := msg.(tea.MouseClickMsg); ok {
			m.showHelp = false
		}
		return nil
	}
	if v, ok := m.views[m.focus].(mouser); ok {
		m.notice = ""
		return v.mouse(msg, ms.X, ms.Y-1)
	}
	return nil
}

// openFinding opens the findings view with finding i selected.
func (m *Model) openFinding(msg openFindingMsg) tea.Cmd {
	for i, v := range m.views {
		if v.Name() != "findings" {
			continue
		}
		var cmd tea.Cmd
		if m.focus != i {
			cmd = m.toggleView(i)
		}
		if f, ok := m.views[i].(*findingsView); ok && f.snap != nil {
			fs := f.snap.Findings
			f.sel = msg.i
			f.clamp(fs, f.docWidth(), f.rows(), m.common.Glyphs, true)
		}
		return cmd
	}
	return nil
}

// halfTyped says why a filter expression that parses should wait: its
// last word, still being typed, is the start of a key ("state", "po")
// that a bare word would match as text. "" when it may be applied.
func halfTyped(expr string) string {
	if expr == "" || strings.HasSuffix(expr, " ") {
		return ""
	}
	f := strings.Fields(expr)
	last := strings.ToLower(f[len(f)-1])
	if strings.Contains(last, ":") {
		return ""
	}
	for _, t := range model.FilterTerms() {
		if strings.HasPrefix(t, last) {
			return "a key? type " + t + "VALUE, or enter applies " + quote(last) + " as a word"
		}
	}
	return ""
}

// quote puts s in double quotes for the status line.
func quote(s string) string { return "\"" + s + "\"" }
