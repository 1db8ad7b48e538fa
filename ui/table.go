package ui

import (
	"strings"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/tcptop/tcptop/format"
	"github.com/tcptop/tcptop/source"
	"github.com/tcptop/tcptop/themes"
)

// This table is hand-written rather than bubbles/table: that widget formats
// every row on SetRows (20k peers at every refresh) and styles whole rows,
// while tcptop formats only the rows on screen and colours single cells
// (a non-zero CLOSE_WAIT count). Selection follows a row's key across
// refreshes, so a re-sorted table keeps the same peer highlighted.

// column is one table column.
type column struct {
	title string
	width int
	right bool // numbers align right
	// flex columns share the width left over; one with a maxWidth grows
	// no wider than that (its content needs no more), the rest takes what
	// is left.
	flex     bool
	maxWidth int
	// want is a flex column's comfortable width: optional columns make
	// way for it.
	want int
	// style, when set, decides the style of row i's cell from the row's
	// data (never from the formatted text).
	style func(st *themes.Styles, i int) *lipgloss.Style
	// sorted marks the sort column's title.
	sorted string
	// idx is the column's position before fitColumns dropped any.
	idx int
	// middle cuts a cell too long for the column in its middle, keeping
	// its end (an address's last groups and port).
	middle bool
	// sortable columns sort by sortState (0: total) when their title is
	// clicked.
	sortable  bool
	sortState source.State
}

// tableData is what a view hands the table: rows are formatted on demand.
type tableData struct {
	cols []column
	n    int
	key  func(i int) string
	cell func(i, col int) string
	// empty is shown when n == 0.
	empty string
}

// table is a scrollable list with a selection that survives new data.
type table struct {
	data   tableData
	sel    int
	offset int
	selKey string
	height int // rows on screen, without the title line
}

// setData swaps the rows and moves the selection to the row with the same
// key, or keeps its index when that row is gone. A selection on the first
// row stays there: the top rows (the worst, sorted first) never scroll
// out of sight because the selected row moved down.
func (t *table) setData(d tableData) {
	t.data = d
	if t.sel > 0 && t.selKey != "" && d.key != nil && (t.sel >= d.n || d.key(t.sel) != t.selKey) {
		for i := 0; i < d.n; i++ {
			if d.key(i) == t.selKey {
				t.sel = i
				break
			}
		}
	}
	t.clamp()
}

func (t *table) clamp() {
	if t.sel >= t.data.n {
		t.sel = t.data.n - 1
	}
	if t.sel < 0 {
		t.sel = 0
	}
	if t.height > 0 {
		if t.sel < t.offset {
			t.offset = t.sel
		}
		if t.sel >= t.offset+t.height {
			t.offset = t.sel - t.height + 1
		}
	}
	if maxOff := t.data.n - t.height; t.offset > maxOff {
		t.offset = max(0, maxOff)
	}
	if t.offset < 0 {
		t.offset = 0
	}
	t.selKey = ""
	if t.data.n > 0 && t.data.key != nil {
		t.selKey = t.data.key(t.sel)
	}
}

// move moves the selection by d rows.
func (t *table) move(d int) {
	t.sel += d
	t.clamp()
}

// moveTo selects row i (negative: from the end).
func (t *table) moveTo(i int) {
	if i < 0 {
		i = t.data.n + i
	}
	t.sel = i
	t.clamp()
}

// layout gives the flex columns the width left over: first the capped
// ones up to their cap, then the uncapped ones share the rest.
func layout(cols []column, width int) []column {
	out := make([]column, len(cols))
	copy(out, cols)
	used := 0
	for i, c := range out {
		if i > 0 {
			used++
		}
		used += c.width
	}
	extra := width - used
	for i := range out {
		if extra <= 0 {
			break
		}
		if c := &out[i]; c.flex && c.maxWidth > c.width {
			add := min(extra, c.maxWidth-c.width)
			c.width += add
			extra -= add
		}
	}
	var open []int
	for i, c := range out {
		if c.flex && c.maxWidth == 0 {
			open = append(open, i)
		}
	}
	for k, i := range open {
		if extra <= 0 {
			break
		}
		add := extra / (len(open) - k)
		out[i].width += add
		extra -= add
	}
	return out
}

// fitColumns drops optional columns until the rest fit in width. soft
// columns (all-zero counts) go while the flex columns do not have their
// comfortable width (want); then hard ones (least important first) go
// while even their minimum widths do not fit.
func fitColumns(cols []column, width int, soft, hard []int) []column {
	kept, _ := fitColumnsGone(cols, width, soft, hard, nil)
	return kept
}

// fitColumnsGone is fitColumns with columns already given up (gone, by
// index; nil for none); it also returns every column given up.
func fitColumnsGone(cols []column, width int, soft, hard []int, gone map[int]bool) ([]column, map[int]bool) {
	g := map[int]bool{}
	for i, v := range gone {
		g[i] = v
	}
	gone = g
	need := func(comfortable bool) int {
		w, n := 0, 0
		for i, c := range cols {
			if gone[i] {
				continue
			}
			if n > 0 {
				w++
			}
			n++
			if comfortable && c.want > c.width {
				w += c.want
			} else {
				w += c.width
			}
		}
		return w
	}
	for _, d := range soft {
		if need(true) <= width {
			break
		}
		gone[d] = true
	}
	for _, d := range hard {
		if need(false) <= width {
			break
		}
		gone[d] = true
	}
	kept := make([]column, 0, len(cols))
	for i, c := range cols {
		if !gone[i] {
			kept = append(kept, c)
		}
	}
	return kept, gone
}

// render draws the header line and the visible rows, each exactly width
// cells wide.
func (t *table) render(st *themes.Styles, g format.Glyphs, width int, focused bool) []string {
	cols := layout(t.data.cols, width)
	lines := make([]string, 0, t.height+1)
	var hb strings.Builder
	for i, c := range cols {
		if i > 0 {
			hb.WriteByte(' ')
		}
		title := c.title + c.sorted
		hb.WriteString(format.Fit(title, c.width, c.right, g))
	}
	lines = append(lines, st.Title.Render(fit(hb.String(), width)))
	if t.data.n == 0 {
		lines = append(lines, st.Dim.Render(fit("  "+t.data.empty, width)))
		return lines
	}
	end := min(t.data.n, t.offset+t.height)
	for i := t.offset; i < end; i++ {
		if i == t.sel && focused {
			var rb strings.Builder
			for j, c := range cols {
				if j > 0 {
					rb.WriteByte(' ')
				}
				rb.WriteString(c.fit(t.data.cell(i, j), g))
			}
			lines = append(lines, st.Selected.Render(fit(rb.String(), width)))
			continue
		}
		var rb strings.Builder
		w := 0
		for j, c := range cols {
			if j > 0 {
				rb.WriteByte(' ')
				w++
			}
			text := c.fit(t.data.cell(i, j), g)
			if c.style != nil {
				if s := c.style(st, i); s != nil {
					text = s.Render(text)
				}
			}
			rb.WriteString(text)
			w += c.width
		}
		if w < width {
			rb.WriteString(strings.Repeat(" ", width-w))
		}
		lines = append(lines, ansi.Truncate(rb.String(), width, ""))
	}
	return lines
}

// fit pads or cuts a cell to the column's width: from the right, or for
// a middle column in its middle.
func (c *column) fit(s string, g format.Glyphs) string {
	if c.middle {
		s = format.ClipMiddle(s, c.width, g)
	}
	return format.Fit(s, c.width, c.right, g)
}

// search is the first row from row from (included) in direction dir
// whose cells contain q in any case, wrapping around; -1 when none does.
func (t *table) search(q string, from, dir int) int {
	q = strings.ToLower(q)
	n := t.data.n
	for k := 0; k < n; k++ {
		i := ((from+dir*k)%n + n) % n
		for j := range t.data.cols {
			if strings.Contains(strings.ToLower(t.data.cell(i, j)), q) {
				return i
			}
		}
	}
	return -1
}

// position says which rows are on screen when not all are: "[4–8/15]"
// (an ASCII hyphen with g.ASCII), with how many rows are above and below
// ("▲3 ▼7"); "" when every row is on screen.
func (t *table) position(g format.Glyphs) string {
	n := t.data.n
	end := min(n, t.offset+t.height)
	if t.offset == 0 && end >= n {
		return ""
	}
	dash := "–"
	if g.ASCII {
		dash = "-"
	}
	s := "[" + format.Count(t.offset+1) + dash + format.Count(end) + "/" + format.Count(n) + "]"
	if t.offset > 0 {
		s += " " + g.Up + format.Count(t.offset)
	}
	if end < n {
		s += " " + g.Down + format.Count(n-end)
	}
	return s
}

// columnAt is the index of the laid-out column under cell x, -1 for none.
func columnAt(cols []column, x int) int {
	at := 0
	for i, c := range cols {
		if x >= at && x < at+c.width {
			return i
		}
		at += c.width + 1
	}
	return -1
}

// fit pads or cuts a plain line to exactly w cells, without a mark.
func fit(s string, w int) string { return format.Fit(s, w, false, format.Glyphs{}) }
