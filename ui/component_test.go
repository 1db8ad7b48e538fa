package ui

import (
	"strconv"
	"strings"
	"testing"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/tcptop/tcptop/model"
)

// demoView is a throwaway view: what a new view needs is this file's
// type and one line in the registry (here appended in the test).
type demoView struct {
	c             *Common
	width, height int
	snap          *model.Snapshot
	presses       int
}

var demoKey = key.NewBinding(key.WithKeys("D"), key.WithHelp("D", "demo: sockets by state"))

func newDemoView(c *Common) View { return &demoView{c: c} }

func (v *demoView) Name() string                          { return "demo" }
func (v *demoView) Keys() []key.Binding                   { return []key.Binding{demoKey, v.c.Keys.Down} }
func (v *demoView) ShortHelp() []key.Binding              { return []key.Binding{demoKey, v.c.Keys.Back} }
func (v *demoView) SetSize(w, h int)                      { v.width, v.height = w, h }
func (v *demoView) SetSnapshot(s *model.Snapshot) tea.Cmd { v.snap = s; return nil }
func (v *demoView) Update(msg tea.Msg) tea.Cmd {
	if kp, ok := msg.(tea.KeyPressMsg); ok && key.Matches(kp, v.c.Keys.Down) {
		v.presses++
	}
	return nil
}
func (v *demoView) View() []string {
	return []string{
		fitStyled(v.c.Styles.Title.Render("DEMO")+" "+strconv.Itoa(v.snap.Total)+" sockets", v.width),
		fitStyled("down pressed "+strconv.Itoa(v.presses)+" times", v.width),
	}
}

func TestRegisterView(t *testing.T) {
	saved := views
	t.Cleanup(func() { views = saved })
	views = append(views[:len(views):len(views)], registration{open: func(*KeyMap) key.Binding { return demoKey }, build: newDemoView})

	m := newTUI(t, 100, 30, "mono")
	m = press(t, m, "D", "down", "down")
	s := screen(m)
	if m.focused() != "demo" || !strings.Contains(s, "DEMO 10 sockets") || !strings.Contains(s, "down pressed 2 times") {
		t.Fatalf("the demo view did not open or render:\n%s", s)
	}
	// Its keys are in the footer and in the help overlay; the global keys
	// work over it; esc and its key go back.
	if !strings.Contains(s, "D demo") {
		t.Errorf("footer lacks the view's keys:\n%s", s)
	}
	m = press(t, m, "?")
	if !strings.Contains(screen(m), "demo: sockets by state") {
		t.Errorf("help lacks the view's key:\n%s", screen(m))
	}
	m = press(t, m, "esc", "p")
	if !m.paused || m.focused() != "demo" {
		t.Error("p over the demo view")
	}
	m = press(t, m, "esc")
	if m.focused() != "table" || !strings.Contains(screen(m), "PEERS") {
		t.Error("esc should go back to the table")
	}
	// Opening it again starts it afresh; its key closes it.
	m = press(t, m, "D")
	if !strings.Contains(screen(m), "down pressed 0 times") {
		t.Errorf("reopened demo view:\n%s", screen(m))
	}
	m = press(t, m, "D")
	if m.focused() != "table" {
		t.Error("D should close the demo view")
	}
}
