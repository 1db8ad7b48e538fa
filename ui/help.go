package ui

import (
	"fmt"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/tcptop/tcptop/model"
)

// helpView is the key overlay (?): every key in groups, one column when
// it fits, else two, and the filter language on the last lines. It opens
// over any view and closes back to it.
type helpView struct {
	c             *Common
	width, height int
	groups        [][]key.Binding
	// ebpf are the last snapshot's lines on eBPF (none without eBPF
	// data).
	ebpf []string
}

// newHelpView lists the key map's groups, then any key of the views
// (their own keys, the keys that open them) the key map does not list.
func newHelpView(c *Common, vs []View, opens []key.Binding) *helpView {
	groups := c.Keys.FullHelp()
	listed := map[key.Help]bool{}
	for _, g := range groups {
		for _, b := range g {
			listed[b.Help()] = true
		}
	}
	var extra []key.Binding
	add := func(b key.Binding) {
		if h := b.Help(); h.Key != "" && !listed[h] {
			listed[h] = true
			extra = append(extra, b)
		}
	}
	for _, b := range opens {
		add(b)
	}
	for _, v := range vs {
		for _, b := range v.Keys() {
			add(b)
		}
	}
	if len(extra) > 0 {
		groups = append(groups, extra)
	}
	return &helpView{c: c, groups: groups}
}

func (v *helpView) followsSort() {}

// Name implements View.
func (v *helpView) Name() string { return "help" }

// Keys implements View.
func (v *helpView) Keys() []key.Binding { return []key.Binding{v.c.Keys.Help, v.c.Keys.Back} }

// ShortHelp implements View: the main view's keys, which the overlay
// explains.
func (v *helpView) ShortHelp() []key.Binding { return v.c.Keys.ShortHelp() }

// SetSize implements View.
func (v *helpView) SetSize(width, height int) { v.width, v.height = width, height }

// SetSnapshot implements View: the keys do not depend on the data; the
// line on eBPF does.
func (v *helpView) SetSnapshot(snap *model.Snapshot) tea.Cmd {
	v.ebpf = nil
	if snap != nil {
		v.ebpf = ebpfHelpLines(snap.EBPF)
	}
	return nil
}

// Update implements View: ?, esc and q close the overlay; other keys do
// nothing.
func (v *helpView) Update(msg tea.Msg) tea.Cmd {
	k := &v.c.Keys
	if kp, ok := msg.(tea.KeyPressMsg); ok && key.Matches(kp, k.Help, k.Back, k.Quit) {
		return request(closeMsg{})
	}
	return nil
}

// View implements View.
func (v *helpView) View() []string {
	st, width, rows := &v.c.Styles, v.width, v.height
	var items []string
	for _, group := range v.groups {
		for _, b := range group {
			h := b.Help()
			items = append(items, fmt.Sprintf("  %-10s %s", h.Key, h.Desc))
		}
	}
	tail := []string{
		st.Dim.Render("  filter terms: port: sport: dport: proc: pid: addr: state: and bare words;"),
		st.Dim.Render("  terms AND, commas OR: port:80,443 state:CLOSE_WAIT 10.0.0.0/8"),
	}
	for i := len(v.ebpf) - 1; i >= 0; i-- {
		// First: on a short screen the overlay's last lines are cut.
		tail = append([]string{st.Dim.Render(v.ebpf[i])}, tail...)
	}
	out := []string{fitStyled(st.Title.Render("Keys")+st.Dim.Render("  (? or esc closes)"), width)}
	if 1+len(items)+len(tail) <= rows {
		for _, it := range items {
			out = append(out, fitStyled(it, width))
		}
	} else {
		half := (len(items) + 1) / 2
		colW := width / 2
		for i := 0; i < half; i++ {
			l := fitStyled(items[i], colW)
			if i+half < len(items) {
				l += items[i+half]
			}
			out = append(out, fitStyled(l, width))
		}
	}
	for _, l := range tail {
		out = append(out, fitStyled(l, width))
	}
	if len(out) > rows {
		out = out[:rows]
	}
	return out
}
