package ui

import (
	"os"
	"strconv"
	"syscall"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/present"
)

// The table view's hooks for issue 16: the socket detail (Enter on a
// socket), the socket list's own sort, and the kill and signal dialogs.
// tableview.go calls them at four places (key, Update, SetSnapshot, View).

// tableActs is the table view's action state.
type tableActs struct {
	dialog *dialog
	// sigProc is the process the open signal dialog is about; termSent
	// remembers processes sent SIGTERM, so asking again offers SIGKILL.
	sigProc  model.ProcKey
	sigKill  bool
	termSent map[model.ProcKey]bool
	// quality: the per-peer rtt and retransmits (peerquality.go).
	quality peerQuality
}

// hookKey handles the keys of the dialogs, the detail and the socket
// list; handled is false for keys the table handles as before.
func (v *tableView) hookKey(msg tea.KeyPressMsg) (cmd tea.Cmd, handled bool) {
	k := &v.c.Keys
	a := &v.acts
	if a.dialog != nil {
		cmd, closed := a.dialog.key(msg)
		if closed {
			a.dialog = nil
		}
		return cmd, true
	}
	top := v.top()
	switch {
	case key.Matches(msg, k.Kill):
		return v.openKill(), true
	case key.Matches(msg, k.Signal):
		return v.openSignal(), true
	}
	if _, ok := top.kind.(drawnLevel); ok {
		// Only back (and the global keys) leave the detail.
		return nil, !key.Matches(msg, k.Back)
	}
	if _, ok := top.kind.(*peersLevel); ok && key.Matches(msg, k.SortQuality) {
		if !v.qualityOn() {
			return request(noticeMsg("rtt columns: a live kernel and 140 columns or more")), true
		}
		v.acts.quality.stepQualitySort()
		top.tbl.sel, top.tbl.offset, top.tbl.selKey = 0, 0, ""
		return v.refresh(), true
	}
	if key.Matches(msg, k.Listeners) {
		v.levels = append(v.levels, &level{kind: &listenersLevel{}, label: "listeners"})
		return v.refresh(), true
	}
	sl, ok := top.kind.(*socketsLevel)
	if !ok {
		return nil, false
	}
	switch {
	case key.Matches(msg, k.Enter):
		if v.snap == nil || top.tbl.sel >= len(sl.idx) {
			return nil, true
		}
		sk := *v.snap.Sample.Socket(sl.idx[top.tbl.sel])
		d := newSocketDetail(v.c, sk)
		v.levels = append(v.levels, &level{kind: d, label: sk.Remote.String()})
		v.refresh()
		return tea.Batch(d.lookup(), d.fdLookup()), true
	case key.Matches(msg, k.SortLeft), key.Matches(msg, k.SortRight):
		d := 1
		if key.Matches(msg, k.SortLeft) {
			d = -1
		}
		keys := model.SocketSorts()
		sl.sort.By = keys[(int(sl.sort.By)+d+len(keys))%len(keys)]
		top.tbl.sel, top.tbl.offset, top.tbl.selKey = 0, 0, ""
		return v.refresh(), true
	case key.Matches(msg, k.Reverse):
		sl.sort.Reverse = !sl.sort.Reverse
		top.tbl.sel, top.tbl.offset, top.tbl.selKey = 0, 0, ""
		return v.refresh(), true
	}
	return nil, false
}

// modal implements modal: a dialog is open.
func (v *tableView) modal() bool { return v.acts.dialog != nil }

// hookMsg handles the answers of lookups and actions.
func (v *tableView) hookMsg(msg tea.Msg) tea.Cmd {
	switch m := msg.(type) {
	case detailMsg:
		for _, lv := range v.levels {
			if d, ok := lv.kind.(*socketDetail); ok {
				d.answer(m)
			}
		}
	case qualityMsg:
		v.acts.quality.answer(m)
		return v.refresh()
	case fdsMsg:
		for _, lv := range v.levels {
			if d, ok := lv.kind.(*socketDetail); ok && d.sock.Cookie == m.cookie {
				d.fds = m.fds
			}
		}
	case killDoneMsg:
		if v.acts.dialog != nil {
			v.acts.dialog.done(m)
		}
		// Poll now: the table shows at once what the kill removed.
		return request(repollMsg{})
	case signalDoneMsg:
		if m.err == nil && !v.acts.sigKill {
			if v.acts.termSent == nil {
				v.acts.termSent = map[model.ProcKey]bool{}
			}
			v.acts.termSent[v.acts.sigProc] = true
		}
		if v.acts.dialog != nil {
			v.acts.dialog.done(m)
		}
	}
	return nil
}

// hookSnapshot looks the detail's socket up again at every refresh.
func (v *tableView) hookSnapshot() tea.Cmd {
	if d, ok := v.top().kind.(*socketDetail); ok {
		return d.lookup()
	}
	return v.sampleQuality()
}

// hookLevel prepares the top level before its rows are computed: the
// Peers view gets the quality columns when they are on.
func (v *tableView) hookLevel() {
	if pl, ok := v.top().kind.(*peersLevel); ok {
		pl.q = nil
		if v.qualityOn() {
			pl.q = &v.acts.quality
		}
	}
}

// hookView draws the detail instead of the panels and table, and the
// dialog over them.
func (v *tableView) hookView(lines []string) []string {
	if ld, ok := v.top().kind.(*listenerDetail); ok {
		ld.c = v.c
	}
	if d, ok := v.top().kind.(drawnLevel); ok {
		lines = d.render(v.width, v.height)
	}
	if dl := v.acts.dialog; dl != nil {
		box := dl.render(v.width)
		at := max(0, (len(lines)-len(box))/2)
		for i, l := range box {
			if at+i < len(lines) {
				lines[at+i] = fitStyled(l, v.width)
			} else {
				lines = append(lines, fitStyled(l, v.width))
			}
		}
	}
	return lines
}

// actionsOff is the notice for an action when actions are off.
func (v *tableView) actionsOff() tea.Cmd {
	if v.c.Actions == nil {
		return request(noticeMsg("no live kernel (a replay): actions are off"))
	}
	return request(noticeMsg("read-only (--read-only): actions are off"))
}

// openKill opens the kill dialog for the selected row's sockets: a
// socket, the detail's socket, a peer's or a process's, a port's.
func (v *tableView) openKill() tea.Cmd {
	if !v.c.actionsOn() {
		return v.actionsOff()
	}
	if v.snap == nil || v.snap.Sample == nil {
		return nil
	}
	idx, what := v.selectedSockets()
	if len(idx) == 0 {
		return request(noticeMsg("no sockets to kill here"))
	}
	plan := v.snap.PlanKill(idx, true, os.Getenv("SSH_CONNECTION"))
	v.acts.dialog = newKillDialog(v.c, plan, what)
	return nil
}

// selectedSockets are the sockets under the selected row, and what they
// are in words.
func (v *tableView) selectedSockets() ([]int, string) {
	snap := v.snap
	top := v.top()
	sel := top.tbl.sel
	switch l := top.kind.(type) {
	case *socketDetail:
		for i := range snap.Sample.NumSockets() {
			if snap.Sample.Socket(i).Cookie == l.sock.Cookie {
				return []int{i}, "the socket " + l.sock.Remote.String()
			}
		}
	case *socketsLevel:
		if sel < len(l.idx) {
			sk := snap.Sample.Socket(l.idx[sel])
			return []int{l.idx[sel]}, "the socket " + sk.Remote.String()
		}
	case *peersLevel:
		if sel < len(l.peers) {
			p := &l.peers[sel]
			return snap.PeerSockets(p), "peer " + p.Remote
		}
	case *processesLevel:
		if sel < len(l.procs) {
			r := l.procs[sel]
			name := present.ProcRef(r.Name, r.PID)
			if l.byPeer {
				if p := findPeer(snap, l.peer); p != nil {
					return snap.ProcessPeerSockets(p, r.PID), name + " to " + p.Remote
				}
				return nil, ""
			}
			return snap.ProcessSockets(r.PID), name
		}
	case *portsLevel:
		if sel < len(l.ports) {
			return portSockets(snap, &l.ports[sel])
		}
	case *ephemeralPortsLevel:
		if sel < len(l.ports) {
			return portSockets(snap, &l.ports[sel])
		}
	}
	return nil, ""
}

// portSockets are a port row's sockets (the ephemeral row: those of every
// port it folds), and what they are in words.
func portSockets(snap *model.Snapshot, r *model.PortRow) ([]int, string) {
	ports := map[uint16]bool{r.Port: true}
	what := "local port " + strconv.Itoa(int(r.Port))
	if r.Ephemeral {
		clear(ports)
		for _, e := range snap.EphemeralPorts() {
			ports[e.Port] = true
		}
		what = strconv.Itoa(r.Ports) + " ephemeral ports"
	}
	var idx []int
	for _, i := range snap.Sockets() {
		if ports[snap.Sample.Socket(i).Local.Port()] {
			idx = append(idx, i)
		}
	}
	return idx, what
}

// openSignal opens the signal dialog for the selected process: SIGTERM,
// or SIGKILL once SIGTERM was sent to it.
func (v *tableView) openSignal() tea.Cmd {
	if !v.c.actionsOn() {
		return v.actionsOff()
	}
	l, ok := v.top().kind.(*processesLevel)
	sel := v.top().tbl.sel
	if !ok || sel >= len(l.procs) {
		return request(noticeMsg("signal: select a process (Processes view)"))
	}
	r := l.procs[sel]
	if r.PID == 0 {
		return request(noticeMsg("no known process to signal"))
	}
	sig := syscall.SIGTERM
	if v.acts.termSent[r.Key] {
		sig = syscall.SIGKILL
	}
	v.acts.sigProc, v.acts.sigKill = r.Key, sig == syscall.SIGKILL
	v.acts.dialog = newSignalDialog(v.c, r, sig)
	return nil
}
