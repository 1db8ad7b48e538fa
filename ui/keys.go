package ui

import (
	"charm.land/bubbles/v2/key"

	"github.com/tcptop/tcptop/format"
	"github.com/tcptop/tcptop/model"
)

// KeyMap is every key the monitor answers to. The bindings carry their own
// help text, so the footer and the help overlay can never disagree with
// what Update does.
type KeyMap struct {
	Quit, Help, Suspend key.Binding

	SortTimeWait, SortCloseWait, SortEstablished, SortTotal key.Binding
	SortLeft, SortRight, Reverse                            key.Binding

	Filter, FilterKeep, FilterClear key.Binding

	Enter, Back key.Binding

	// Search jumps to the next row (or line) matching what is typed,
	// keeping every row; SearchNext and SearchPrev repeat the last one.
	Search, SearchNext, SearchPrev key.Binding

	// SortPick opens the list of sort columns.
	SortPick key.Binding

	NextView, PrevView, Pause, Faster, Slower key.Binding

	// Findings and Kernel open (and close) the findings and kernel views.
	Findings, Kernel key.Binding
	// Namespaces opens the namespace overview; unbound (no keys, no help)
	// unless the monitor runs with --all-netns.
	Namespaces key.Binding

	// Kill destroys the selected row's sockets (htop's F9); Signal
	// signals the selected process (TERM, then KILL when asked again).
	Kill, Signal key.Binding
	// Listeners lists the listeners (Enter: one listener's queue over
	// time, who connects, its owners).
	Listeners key.Binding
	// SortQuality steps the Peers view's order by rtt, worst rtt,
	// retransmits per second (the columns at 140 columns and wider).
	SortQuality key.Binding

	Up, Down, PageUp, PageDown, Home, End key.Binding
}

// DefaultKeys are htop/btop habits, with vim's j/k and the htop function
// keys (F1 help, F3 search, F4 filter, F6 sort, F9 kill, F10 quit).
func DefaultKeys() KeyMap {
	b := func(help, desc string, keys ...string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
	}
	g := format.GlyphsFor(false) // spell re-spells the arrows for ASCII
	return KeyMap{
		Quit:    b("q", "quit (F10 too)", "q", "ctrl+c", "f10"),
		Help:    b("?", "help", "?", "f1"),
		Suspend: b("ctrl+z", "suspend to the shell", "ctrl+z"),

		SortTimeWait:    b("t", "sort by TIME_WAIT", "t"),
		SortCloseWait:   b("c", "sort by CLOSE_WAIT", "c"),
		SortEstablished: b("e", "sort by ESTABLISHED", "e"),
		SortTotal:       b("a", "sort by total (all states)", "a"),
		SortLeft:        b("<", "sort one column left", "<", ","),
		SortRight:       b(">", "sort one column right", ">", "."),
		Reverse:         b("r", "reverse the sort", "r"),

		Filter:      b("/", "filter (F4 too), applied when it parses", "/", "f4"),
		FilterKeep:  b("enter", "filter: keep it", "enter"),
		FilterClear: b("esc", "filter: clear it", "esc"),

		Search:     b("s", "search (F3 too): jump to a match", "s", "f3"),
		SearchNext: b("n", "next search match", "n"),
		SearchPrev: b("N", "previous search match", "N"),
		SortPick:   b("f6", "sort: pick a column", "f6"),

		Enter: b("enter", "drill down / go to subject", "enter"),
		Back:  b("esc", "back up one level", "esc", "backspace"),

		NextView: b("tab", "views: peers/procs/ports", "tab"),
		PrevView: b("shift+tab", "previous view", "shift+tab"),
		Pause:    b("p", "pause/resume (space too)", "p", "space"),
		Slower:   b("+", "longer refresh interval", "+", "="),
		Faster:   b("-", "shorter refresh interval", "-", "_"),

		Findings: b("f", "findings: evidence, advice", "f"),
		Kernel:   b("K", "kernel: tunables, counters", "K"),

		Kill:   b("F9", "kill the row's sockets (asks first)", "f9"),
		Signal: b("S", "signal the process: TERM, again: KILL", "S"),

		Listeners:   b("l", "listeners: queues over time, who connects", "l"),
		SortQuality: b("Q", "peers: sort by rtt, worst rtt, retrans/s (140+ columns)", "Q"),

		Up:       b(g.KeyUp+"/k", "move up", "up", "k"),
		Down:     b(g.KeyDown+"/j", "move down", "down", "j"),
		PageUp:   b("pgup", "page up", "pgup", "ctrl+b"),
		PageDown: b("pgdn", "page down", "pgdown", "ctrl+f"),
		Home:     b("home", "first row (g too)", "home", "g"),
		End:      b("end", "last row (G too)", "end", "G"),
	}
}

// ShortHelp is the footer's key list, most useful first.
func (k KeyMap) ShortHelp() []key.Binding {
	short := func(b key.Binding, desc string) key.Binding {
		h := b.Help()
		b.SetHelp(h.Key, desc)
		return b
	}
	return []key.Binding{
		short(k.Help, "help"), short(k.Findings, "findings"), short(k.Filter, "filter"), short(k.Search, "search"),
		short(k.SortTimeWait, "TIME_WAIT"), short(k.SortCloseWait, "CLOSE_WAIT"),
		short(k.Enter, "drill"), short(k.Kernel, "kernel"), short(k.NextView, "view"),
		short(k.Pause, "pause"), short(k.Quit, "quit"),
	}
}

// relabel is b with the footer's shorter help (a name with arrows is
// spelled with the glyph set by the caller: g.KeyUp+"/"+g.KeyDown).
func relabel(b key.Binding, name, desc string) key.Binding {
	b.SetHelp(name, desc)
	return b
}

// spell names the arrow keys in the help with g's glyphs ("↑" or "up").
func (k *KeyMap) spell(g format.Glyphs) {
	k.Up.SetHelp(g.KeyUp+"/k", k.Up.Help().Desc)
	k.Down.SetHelp(g.KeyDown+"/j", k.Down.Help().Desc)
}

// FullHelp is the help overlay, in groups.
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Home, k.End, k.Enter, k.Back, k.Findings, k.Kernel, k.Listeners, k.Kill, k.Signal},
		{k.SortTimeWait, k.SortCloseWait, k.SortEstablished, k.SortTotal, k.SortLeft, k.SortRight, k.Reverse, k.SortQuality},
		{k.Filter, k.FilterKeep, k.FilterClear, k.Search, k.SearchNext, k.SearchPrev, k.SortPick, k.Kill, k.NextView, k.PrevView, k.Pause, k.Slower, k.Faster, k.Help, k.Suspend, k.Quit},
	}
}

// actionHint is how the monitor tells a finding's reader which key does a
// (" (t)"), or nothing for an action without a key.
func (k KeyMap) actionHint(a model.Action) string {
	var b key.Binding
	switch a {
	case model.ActionSortTimeWait:
		b = k.SortTimeWait
	case model.ActionFaster:
		b = k.Faster
	default:
		return ""
	}
	return " (" + b.Help().Key + ")"
}
