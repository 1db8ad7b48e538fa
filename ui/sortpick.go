package ui

import (
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/tcptop/tcptop/model"
)

// sortPicker is the F6 list (htop's): the columns the tables sort by,
// the current one marked; enter (or a click) sorts by the selected one
// and goes back to the table, r reverses it.
type sortPicker struct {
	c             *Common
	width, height int
	snap          *model.Snapshot
	keys          []model.SortKey
	sel           int
	placed        bool // the selection starts on the current sort
}

func newSortPicker(c *Common) View { return &sortPicker{c: c, keys: model.SortColumns()} }

func (v *sortPicker) followsSort() {}

// Name implements View.
func (v *sortPicker) Name() string { return "sort" }

// Keys implements View.
func (v *sortPicker) Keys() []key.Binding {
	k := &v.c.Keys
	return []key.Binding{k.Up, k.Down, k.Home, k.End, k.Enter, k.Reverse, k.Back}
}

// ShortHelp implements View.
func (v *sortPicker) ShortHelp() []key.Binding {
	k, g := &v.c.Keys, &v.c.Glyphs
	return []key.Binding{
		relabel(k.Up, g.KeyUp+"/"+g.KeyDown, "choose"), relabel(k.Enter, "enter", "sort by it"),
		relabel(k.Reverse, k.Reverse.Help().Key, "reverse"), relabel(k.Back, "esc", "back"),
	}
}

// SetSize implements View.
func (v *sortPicker) SetSize(width, height int) { v.width, v.height = width, height }

// SetSnapshot implements View: the picker starts on the sort in force.
func (v *sortPicker) SetSnapshot(s *model.Snapshot) tea.Cmd {
	v.snap = s
	if !v.placed {
		v.placed = true
		for i, k := range v.keys {
			if k.State == s.Options().Sort.State {
				v.sel = i
			}
		}
	}
	return nil
}

// Update implements View.
func (v *sortPicker) Update(msg tea.Msg) tea.Cmd {
	kp, ok := msg.(tea.KeyPressMsg)
	if !ok {
		return nil
	}
	k := &v.c.Keys
	switch {
	case key.Matches(kp, k.Up):
		v.sel = max(0, v.sel-1)
	case key.Matches(kp, k.Down):
		v.sel = min(len(v.keys)-1, v.sel+1)
	case key.Matches(kp, k.Home):
		v.sel = 0
	case key.Matches(kp, k.End):
		v.sel = len(v.keys) - 1
	case key.Matches(kp, k.Enter):
		return v.choose()
	case key.Matches(kp, k.Reverse):
		return request(sortMsg(func(s model.SortKey) model.SortKey { s.Reverse = !s.Reverse; return s }))
	}
	return nil
}

// choose sorts by the selected column (keeping the direction) and goes
// back to the table.
func (v *sortPicker) choose() tea.Cmd {
	want := v.keys[v.sel]
	return tea.Batch(request(sortMsg(func(s model.SortKey) model.SortKey {
		want.Reverse = s.Reverse
		return want
	})), request(closeMsg{}))
}

// mouse implements mouser: a click chooses a column, the wheel moves.
func (v *sortPicker) mouse(msg tea.MouseMsg, _, y int) tea.Cmd {
	switch msg := msg.(type) {
	case tea.MouseWheelMsg:
		d := 1
		if msg.Button == tea.MouseWheelUp {
			d = -1
		}
		v.sel = max(0, min(len(v.keys)-1, v.sel+d))
	case tea.MouseClickMsg:
		if i := y - 1; msg.Button == tea.MouseLeft && i >= 0 && i < len(v.keys) {
			v.sel = i
			return v.choose()
		}
	}
	return nil
}

// search implements searcher: a column by name.
func (v *sortPicker) search(q string, dir int, again bool) bool {
	t := table{data: tableData{n: len(v.keys), cols: []column{{}}, cell: func(i, _ int) string { return v.keys[i].String() }}, sel: v.sel}
	from := v.sel
	if again {
		from += dir
	}
	if i := t.search(q, from, dir); i >= 0 {
		v.sel = i
		return true
	}
	return false
}

// View implements View: a title and one line per column.
func (v *sortPicker) View() []string {
	st, g := &v.c.Styles, &v.c.Glyphs
	cur := v.snap.Options().Sort
	out := []string{fitStyled(st.Title.Render("SORT BY")+st.Dim.Render("  enter sorts the tables by the column, "+v.c.Keys.Reverse.Help().Key+" reverses"), v.width)}
	for i, k := range v.keys {
		mark := "  "
		if k.State == cur.State {
			mark = g.Down + " "
			if cur.Reverse {
				mark = g.Up + " "
			}
		}
		line := "  " + mark + k.String()
		if i == v.sel {
			out = append(out, st.Selected.Render(fit(line, v.width)))
			continue
		}
		out = append(out, fitStyled(line, v.width))
	}
	return out
}
