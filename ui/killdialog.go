package ui

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/tcptop/tcptop/format"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/present"
	"github.com/tcptop/tcptop/source"
)

// dialog is a confirmation drawn over the table: destroying sockets or
// signalling a process. Keys: y confirms, n or esc cancels; once done,
// any key closes it.
type dialog struct {
	c     *Common
	title string
	lines []string
	// step: 0 asking, 1 asking again (a listener), 2 running, 3 done.
	step int
	// twice: a second confirmation is needed (listeners).
	twice bool
	run   func() tea.Msg
}

// Dialog steps.
const (
	dlgAsk = iota
	dlgAskAgain
	dlgRunning
	dlgDone
)

// killDoneMsg carries what became of each socket.
type killDoneMsg struct {
	res  []source.DestroyResult
	warn string
}

// signalDoneMsg carries a signal's outcome.
type signalDoneMsg struct {
	what string
	err  error
	warn string
}

// newKillDialog asks before destroying the plan's sockets.
func newKillDialog(c *Common, plan model.KillPlan, what string) *dialog {
	d := &dialog{c: c, twice: plan.Listeners > 0}
	n := len(plan.Sockets)
	d.title = fmt.Sprintf("Destroy %d %s of %s?", n, pluralWord(n, "socket"), what)
	d.lines = append(d.lines, plan.StatesText())
	d.lines = append(d.lines, "owners: "+present.ProcRefs(plan.Owners, true))
	for i, sk := range plan.Sockets {
		if i == 5 {
			d.lines = append(d.lines, fmt.Sprintf("  ... and %d more", n-5))
			break
		}
		d.lines = append(d.lines, fmt.Sprintf("  %-11s %s %s", sk.State, sk.Local, sk.Remote))
	}
	if plan.OwnSSH >= 0 {
		d.lines = append(d.lines, "WARNING: this includes your own SSH connection ("+plan.Sockets[plan.OwnSSH].Remote.String()+")")
	}
	if plan.Listeners > 0 {
		d.lines = append(d.lines, fmt.Sprintf("WARNING: %d %s: the service stops accepting connections (asks twice)", plan.Listeners, pluralWord(plan.Listeners, "listener")))
	}
	if plan.CloseWait > 0 {
		d.lines = append(d.lines, "note: destroying CLOSE_WAIT frees the port, not the application's fd: a stopgap")
	}
	a := c.Actions
	socks := plan.Sockets
	d.run = func() tea.Msg {
		res := a.Destroy(socks)
		var counts [source.Failed + 1]int
		for i := range res {
			counts[res[i].Outcome]++
		}
		warn := a.Log(fmt.Sprintf("kill %d sockets of %s from the monitor by uid %d: %s", len(res), what, os.Getuid(), outcomeText(counts[:])))
		return killDoneMsg{res: res, warn: warn}
	}
	return d
}

// newSignalDialog asks before signalling a process.
func newSignalDialog(c *Common, p model.ProcessRow, sig syscall.Signal) *dialog {
	name := present.ProcRef(p.Name, p.PID)
	sigName := "SIGTERM"
	if sig == syscall.SIGKILL {
		sigName = "SIGKILL"
	}
	d := &dialog{c: c, title: "Send " + sigName + " to " + name + "?"}
	d.lines = append(d.lines, "command: "+format.Sanitize(p.Cmdline))
	d.lines = append(d.lines, "through a pidfd, after checking the pid still names the process seen")
	if sig == syscall.SIGTERM {
		d.lines = append(d.lines, "SIGKILL only when asked again (press "+c.Keys.Signal.Help().Key+" once more afterwards)")
	}
	a := c.Actions
	pid, start := p.Key.PID, p.Key.Start
	d.run = func() tea.Msg {
		err := a.Signal(pid, start, sig)
		res := "sent"
		if err != nil {
			res = "failed: " + err.Error()
		}
		warn := a.Log(fmt.Sprintf("signal %s to %s from the monitor by uid %d: %s", sigName, name, os.Getuid(), res))
		return signalDoneMsg{what: sigName + " to " + name, err: err, warn: warn}
	}
	return d
}

// key handles a key while the dialog is open; it returns the command and
// whether the dialog is to close.
func (d *dialog) key(msg tea.KeyPressMsg) (tea.Cmd, bool) {
	switch d.step {
	case dlgRunning:
		return nil, false
	case dlgDone:
		return nil, true
	}
	switch msg.String() {
	case "y", "Y":
		if d.twice && d.step == dlgAsk {
			d.step = dlgAskAgain
			return nil, false
		}
		d.step = dlgRunning
		return d.run, false
	case "n", "N", "esc", "q":
		return nil, true
	}
	return nil, false
}

// done records an action's outcome.
func (d *dialog) done(msg tea.Msg) {
	d.step = dlgDone
	d.lines = d.lines[:0]
	switch m := msg.(type) {
	case killDoneMsg:
		var counts [source.Failed + 1]int
		for i := range m.res {
			counts[m.res[i].Outcome]++
		}
		d.title = "Result: " + outcomeText(counts[:])
		for i, r := range m.res {
			if i == 8 {
				d.lines = append(d.lines, fmt.Sprintf("  ... and %d more", len(m.res)-8))
				break
			}
			d.lines = append(d.lines, fmt.Sprintf("  %-14s %-11s %s %s", r.Outcome.String(), r.Socket.State, r.Socket.Local, r.Socket.Remote))
		}
		if m.warn != "" {
			d.lines = append(d.lines, m.warn)
		}
	case signalDoneMsg:
		d.title = "Sent " + m.what
		if m.err != nil {
			d.title = "Not sent: " + m.what
			d.lines = append(d.lines, format.Sanitize(m.err.Error()))
		}
		if m.warn != "" {
			d.lines = append(d.lines, m.warn)
		}
	}
}

// render draws the dialog box, at most width wide.
func (d *dialog) render(width int) []string {
	st := &d.c.Styles
	w := min(width, 78)
	var hint string
	switch d.step {
	case dlgAsk:
		hint = "y: yes   n/esc: no"
	case dlgAskAgain:
		hint = "a listener: press y once more to destroy, n/esc: no"
	case dlgRunning:
		hint = "working..."
	case dlgDone:
		hint = "any key closes"
	}
	out := []string{fitStyled(st.Selected.Render(" "+d.title+" "), w)}
	for _, l := range d.lines {
		style := &st.Normal
		if strings.HasPrefix(l, "WARNING") {
			style = &st.Crit
		}
		out = append(out, fitStyled(" "+style.Render(format.Sanitize(l)), w))
	}
	return append(out, fitStyled(" "+st.Warn.Render(hint), w))
}

func outcomeText(counts []int) string {
	var parts []string
	for o, n := range counts {
		if n > 0 {
			parts = append(parts, strconv.Itoa(n)+" "+source.DestroyOutcome(o).String())
		}
	}
	if len(parts) == 0 {
		return "nothing to do"
	}
	return strings.Join(parts, ", ")
}

func pluralWord(n int, w string) string {
	if n == 1 {
		return w
	}
	return w + "s"
}

// actionKey reports whether msg is one of the action keys.
func actionKey(k *KeyMap, msg tea.KeyPressMsg) bool {
	return key.Matches(msg, k.Kill) || key.Matches(msg, k.Signal)
}
