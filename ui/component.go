package ui

import (
	"context"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/tcptop/tcptop/format"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/themes"
)

// Poller is what the monitor polls; pipeline.Poller implements it. Next
// is called from one poll command at a time, off the UI goroutine, while
// SetOptions may be called from the UI goroutine meanwhile: an
// implementation must allow that.
type Poller interface {
	Next(ctx context.Context) (*model.Snapshot, error)
	SetOptions(o model.Options)
}

// Common is what every view shares with the root: the screen, the styles,
// the keys and the glyph set. The root owns it and changes it in place
// (a resize, a theme from the terminal's background); views keep the
// pointer they were built with.
type Common struct {
	// Width and Height are the whole screen.
	Width, Height int
	Styles        themes.Styles
	Keys          KeyMap
	// Glyphs are the characters every view draws with beyond letters and
	// digits: UTF-8, or ASCII (Config.ASCII).
	Glyphs format.Glyphs
	// Actions and AllowActions are Config's (see Actions).
	Actions      Actions
	AllowActions bool
}

// View is one full-screen view of the monitor under the header and above
// the status line: the table with its drill-down, the findings, the kernel
// tunables and counters, the help overlay. The root model owns the poll,
// the options, the filter input and the status line, handles the global
// keys (quit, help, pause, interval, the keys that open views) and hands
// every other message to the focused view.
type View interface {
	// Name names the view (for tests and the help overlay).
	Name() string
	// Keys are the view's own keys, shown in the help overlay.
	Keys() []key.Binding
	// ShortHelp is the status line's key list while the view is open.
	ShortHelp() []key.Binding
	// SetSize gives the view its area: the screen without the header and
	// the status line.
	SetSize(width, height int)
	// SetSnapshot hands the view every new or rebuilt snapshot (never
	// nil). The command, if any, carries requests to the root (a notice).
	SetSnapshot(s *model.Snapshot) tea.Cmd
	// Update handles a key or another message while the view has the
	// focus. Requests to the root (open a view, sort, a notice) come back
	// as messages from the returned command.
	Update(msg tea.Msg) tea.Cmd
	// View draws the view's area, at most height lines each exactly
	// width cells; the root pads what is missing. It is only called once
	// a snapshot has been handed to the view.
	View() []string
}

// registration is one entry of the view registry.
type registration struct {
	// open is the key that opens the view, and closes it again when it
	// is the one open; nil for the main view.
	open func(k *KeyMap) key.Binding
	// build makes the view; opening it builds it anew, so a view opens at
	// its top.
	build func(c *Common) View
}

// views is the registry: the monitor's full-screen views. The first is the
// main view, open at the start, that esc comes back to. A new view is one
// new file with its View and one line here.
var views = []registration{
	{build: newTableView},
	{open: func(k *KeyMap) key.Binding { return k.Findings }, build: newFindingsView},
	{open: func(k *KeyMap) key.Binding { return k.Kernel }, build: newKernelView},
	{open: func(k *KeyMap) key.Binding { return k.Namespaces }, build: newOverviewView},
	{open: func(k *KeyMap) key.Binding { return k.SortPick }, build: newSortPicker},
}

// sortFollower is a view whose rows follow the sort: the status line shows
// the sort while it is open.
type sortFollower interface{ followsSort() }

// Requests from views to the root, sent as messages from their commands.
type (
	// noticeMsg is a one-off message for the status line.
	noticeMsg string
	// sortMsg changes the sort: the function maps the current sort key
	// to the new one.
	sortMsg func(model.SortKey) model.SortKey
	// editFilterMsg opens the filter input.
	editFilterMsg struct{}
	// closeMsg closes the help overlay (or, from a view, goes back to the
	// main view).
	closeMsg struct{}
	// jumpMsg shows a finding's subject in the main view.
	jumpMsg struct{ subject model.Subject }
	// revealMsg asks for the filter to be cleared: it hides the subject
	// of a jump.
	revealMsg struct{ subject model.Subject }
	// repollMsg asks for a poll now (after a kill, so the table shows
	// at once what is gone).
	repollMsg struct{}
)

// request wraps a message as a command.
func request(msg tea.Msg) tea.Cmd { return func() tea.Msg { return msg } }
