package ui

import (
	"path"
	"slices"
	"strconv"
	"strings"

	"charm.land/lipgloss/v2"

	"github.com/tcptop/tcptop/format"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/present"
	"github.com/tcptop/tcptop/source"
	"github.com/tcptop/tcptop/themes"
)

// levelKind is what one table level lists: its rows and columns, the
// level under a row (Enter), and the row of a finding's subject. The
// values hold the rows of their last data call.
type levelKind interface {
	// name is the level's view name ("Peers").
	name() string
	// data lists the snapshot's rows of this level, formatted on demand.
	data(snap *model.Snapshot, width int, g format.Glyphs) tableData
	// drill is the level under row i, nil when there is none.
	drill(snap *model.Snapshot, i int, g format.Glyphs) *level
	// find is the row a finding's subject names, -1 when none.
	find(s *model.Subject) int
	// note is what the table's title says after the row count, styled.
	note(st *themes.Styles, snap *model.Snapshot, g format.Glyphs) string
}

// topLevels are the main table's views, in Tab order (indexes topPeers,
// topProcesses, topPorts).
var topLevels = []func() levelKind{
	topPeers:     func() levelKind { return &peersLevel{} },
	topProcesses: func() levelKind { return &processesLevel{} },
	topPorts:     func() levelKind { return &portsLevel{} },
}

const (
	topPeers = iota
	topProcesses
	topPorts
)

// findPeer is the snapshot's peer with key k, nil when it is gone.
func findPeer(snap *model.Snapshot, k model.PeerKey) *model.Peer {
	for i := range snap.Peers {
		if snap.Peers[i].Key == k {
			return &snap.Peers[i]
		}
	}
	return nil
}

// peerRowKey is a peer's table row key: "out 192.0.2.10:443", or for an
// incoming peer "in 10.0.0.5:0 0.0.0.0:80".
func peerRowKey(k model.PeerKey) string {
	if k.Incoming() {
		return "in " + k.Remote.String() + " " + k.Listener.String()
	}
	return "out " + k.Remote.String()
}

// level is one step of the drill-down, with its own selection.
type level struct {
	kind  levelKind
	label string // breadcrumb text
	tbl   table
	// jump, when set, is a finding's subject to select once it is listed.
	jump *model.Subject
}

// peersLevel is the Peers view: one row per remote end.
type peersLevel struct {
	peers []model.Peer
	// ebpf: the last data call kept an eBPF column (the title says so).
	ebpf bool
	// q, when set, adds the per-peer quality columns (peerquality.go).
	q *peerQuality
}

func (*peersLevel) name() string { return "Peers" }

func (l *peersLevel) data(snap *model.Snapshot, width int, g format.Glyphs) tableData {
	if l.q != nil {
		var td tableData
		l.peers, td = l.q.qualityData(snap, width, g)
		return td
	}
	l.peers = snap.Peers
	d := peersData(snap, width, g)
	l.ebpf = hasEBPFColumn(d.cols)
	return d
}

func (l *peersLevel) drill(_ *model.Snapshot, i int, g format.Glyphs) *level {
	if i >= len(l.peers) {
		return nil
	}
	p := &l.peers[i]
	label := p.Remote
	if p.Key.Incoming() {
		label = p.Remote + " " + g.Arrow + " " + p.Local
	}
	return &level{kind: &processesLevel{peer: p.Key, byPeer: true}, label: label}
}

func (l *peersLevel) find(s *model.Subject) int { return peerIndex(l.peers, s) }

func (l *peersLevel) note(st *themes.Styles, _ *model.Snapshot, _ format.Glyphs) string {
	note := peersEBPFNote(st, l.ebpf)
	if l.q != nil {
		if note != "" {
			note += "  "
		}
		note += st.Dim.Render(l.q.note())
	}
	return note
}

// processesLevel lists processes: the Processes view, or with byPeer the
// processes behind one peer.
type processesLevel struct {
	peer   model.PeerKey
	byPeer bool
	procs  []model.ProcessRow
}

func (*processesLevel) name() string { return "Processes" }

func (l *processesLevel) data(snap *model.Snapshot, width int, g format.Glyphs) tableData {
	l.procs = snap.Processes
	if l.byPeer {
		l.procs = nil
		if p := findPeer(snap, l.peer); p != nil {
			l.procs = snap.PeerProcesses(p)
		}
	}
	return processData(snap, l.procs, width, g)
}

func (l *processesLevel) drill(_ *model.Snapshot, i int, _ format.Glyphs) *level {
	if i >= len(l.procs) {
		return nil
	}
	r := l.procs[i]
	label := present.ProcRef(r.Name, r.PID)
	return &level{kind: &socketsLevel{peer: l.peer, byPeer: l.byPeer, pid: r.PID}, label: label}
}

func (l *processesLevel) find(s *model.Subject) int {
	if l.byPeer {
		return -1
	}
	return processIndex(l.procs, s)
}

func (*processesLevel) note(*themes.Styles, *model.Snapshot, format.Glyphs) string { return "" }

// portsLevel is the Local ports view.
type portsLevel struct{ ports []model.PortRow }

func (*portsLevel) name() string { return "Local ports" }

func (l *portsLevel) data(snap *model.Snapshot, width int, g format.Glyphs) tableData {
	l.ports = snap.LocalPortGroups()
	return portsData(snap, l.ports, width, g)
}

func (l *portsLevel) drill(snap *model.Snapshot, i int, _ format.Glyphs) *level {
	if i >= len(l.ports) {
		return nil
	}
	return portDrill(snap, &l.ports[i])
}

func (l *portsLevel) find(s *model.Subject) int { return portIndex(l.ports, s) }

func (*portsLevel) note(*themes.Styles, *model.Snapshot, format.Glyphs) string { return "" }

// socketsLevel is one process's sockets: to one peer (byPeer), or all of
// them.
type socketsLevel struct {
	peer   model.PeerKey
	byPeer bool
	pid    int32
	// idx are the rows of the last data call; sort is the list's own
	// order (< > r step it: tablehooks.go).
	idx  []int
	sort model.SocketSort
}

func (*socketsLevel) name() string { return "Sockets" }

func (l *socketsLevel) data(snap *model.Snapshot, width int, _ format.Glyphs) tableData {
	var socks []int
	if l.byPeer {
		if p := findPeer(snap, l.peer); p != nil {
			socks = snap.ProcessPeerSockets(p, l.pid)
		}
	} else {
		socks = snap.ProcessSockets(l.pid)
	}
	snap.SortSockets(socks, l.sort)
	l.idx = socks
	return socketsData(snap, socks, width)
}

func (*socketsLevel) drill(*model.Snapshot, int, format.Glyphs) *level { return nil }

func (*socketsLevel) find(*model.Subject) int { return -1 }

// note is the process's open files against its limit, "" when unknown.
func (l *socketsLevel) note(st *themes.Styles, snap *model.Snapshot, g format.Glyphs) string {
	sortNote := "  " + st.Dim.Render("sort "+l.sort.String()+" [<>r]")
	if l.pid == 0 || snap.Sample == nil {
		return sortNote
	}
	p := snap.Sample.Procs[l.pid]
	if p == nil {
		return sortNote
	}
	fds := fdText(p.FDs, p.FDLimit, g)
	if fds == "" {
		return sortNote
	}
	style := &st.Dim
	if s := fdStyle(st, p.FDs, p.FDLimit); s != nil {
		style = s
	}
	return "  " + style.Render("open files "+fds) + sortNote
}

// otherState marks the OTHER column: the states the screen has no room
// for, folded into one count so that a row's cells add up to its TOTAL.
const otherState = source.State(255)

// countStyle styles row i's count of state s: dim when
// zero, TIME_WAIT and CLOSE_WAIT in their colours.
func countStyle(s source.State, counts func(i int) (*model.StateCounts, int)) func(st *themes.Styles, i int) *lipgloss.Style {
	return func(st *themes.Styles, i int) *lipgloss.Style {
		if c, _ := counts(i); s != otherState && c[s] == 0 {
			return &st.Dim
		}
		switch s {
		case source.TimeWait:
			return &st.TimeWait
		case source.CloseWait:
			return &st.CloseWait
		}
		return nil
	}
}

// countSet is the state, OTHER and TOTAL columns of a list of counts.
type countSet struct {
	cols []column
	// states are the columns' states: otherState for OTHER, 0 for TOTAL.
	states []source.State
	// soft are the all-zero state columns, hard the others but the sort
	// column, least carried first (indexes offset by base); other is
	// OTHER's index (offset by base).
	soft, hard []int
	other      int
	// n and counts are the rows (for the OTHER column's need).
	n      int
	counts func(i int) (*model.StateCounts, int)
}

// countColumns builds the state, OTHER and TOTAL columns for rows of
// counts, marking the sort column. On a narrow screen (fitCounts) the
// all-zero columns go first, then the states carrying the fewest sockets
// in these rows; the sort column always stays, and OTHER shows what the
// columns given up hold.
func countColumns(n int, counts func(i int) (*model.StateCounts, int), sort model.SortKey, g format.Glyphs, base int) countSet {
	var maxv, sum [source.MaxState]int
	maxTotal := 0
	for i := 0; i < n; i++ {
		c, t := counts(i)
		for _, cc := range present.StateColumns {
			maxv[cc.State] = max(maxv[cc.State], c[cc.State])
			sum[cc.State] += c[cc.State]
		}
		maxTotal = max(maxTotal, t)
	}
	marker := func(on bool) string {
		if !on {
			return ""
		}
		if sort.Reverse {
			return g.Up
		}
		return g.Down
	}
	cs := countSet{n: n, counts: counts}
	var low []int
	for _, cc := range present.StateColumns {
		sorted := sort.State == cc.State
		c := column{title: cc.Short, right: true, sorted: marker(sorted), style: countStyle(cc.State, counts), sortable: true, sortState: cc.State}
		c.width = max(len(cc.Short)+format.Width(c.sorted), format.Width(format.Count(maxv[cc.State])))
		idx := base + len(cs.cols)
		if !sorted {
			if maxv[cc.State] == 0 {
				cs.soft = append(cs.soft, idx)
			} else {
				low = append(low, idx)
			}
		}
		cs.cols = append(cs.cols, c)
		cs.states = append(cs.states, cc.State)
	}
	// The states carrying least go first; among equals, the later column.
	slices.SortStableFunc(low, func(x, y int) int {
		if d := sum[cs.states[x-base]] - sum[cs.states[y-base]]; d != 0 {
			return d
		}
		return y - x
	})
	cs.hard = low
	slices.Reverse(cs.soft)
	cs.other = base + len(cs.cols)
	cs.cols = append(cs.cols, column{title: "OTHER", width: max(5, format.Width(format.Count(maxTotal))), right: true, style: countStyle(otherState, counts)})
	cs.states = append(cs.states, otherState)
	tc := column{title: "TOTAL", right: true, sorted: marker(sort.State == 0), sortable: true}
	tc.width = max(5+format.Width(tc.sorted), format.Width(format.Count(maxTotal)))
	cs.cols = append(cs.cols, tc)
	cs.states = append(cs.states, 0)
	return cs
}

// fitCounts fits cols (with cs's columns from index base) in width: the
// columns in before go first (before the states, e.g. LOCAL), then as in
// fitColumns. OTHER is shown only when some row's state columns do not
// add up to its total (a state column given up, or a state no column
// shows, such as LISTEN). It returns the kept columns and their indexes.
func fitCounts(cols []column, width int, cs countSet, before, after []int) ([]column, []int) {
	cols = indexColumns(cols)
	hard := append(append(append([]int{}, before...), cs.hard...), after...)
	kept, gone := fitColumnsGone(cols, width, cs.soft, hard, map[int]bool{cs.other: true})
	base := cs.other - (len(cs.cols) - 2)
	var shown []source.State
	for k, st := range cs.states {
		if !gone[base+k] && st != 0 && st != otherState {
			shown = append(shown, st)
		}
	}
	for i := 0; i < cs.n; i++ {
		c, total := cs.counts(i)
		for _, st := range shown {
			total -= c[st]
		}
		if total != 0 {
			kept, _ = fitColumnsGone(cols, width, cs.soft, hard, nil)
			break
		}
	}
	return splitIndexed(kept)
}

// countCell is a row's count in the column of state s: its total for 0,
// for OTHER what the state columns shown (shown, by state) leave of it.
func countCell(c *model.StateCounts, total int, s source.State, shown []source.State) string {
	switch s {
	case 0:
		return format.Count(total)
	case otherState:
		rest := total
		for _, st := range shown {
			if st != 0 && st != otherState {
				rest -= c[st]
			}
		}
		return format.Count(rest)
	}
	return format.Count(c[s])
}

// shownStates are the states of the count columns kept (ids offset by
// base).
func shownStates(cs countSet, ids []int, base int) []source.State {
	var out []source.State
	for _, j := range ids {
		if k := j - base; k >= 0 && k < len(cs.states) {
			out = append(out, cs.states[k])
		}
	}
	return out
}

// peersData is the main peers table.
func peersData(snap *model.Snapshot, width int, g format.Glyphs) tableData {
	arrow := " " + g.Arrow + " :"
	peers := snap.Peers
	peerW, localW := 0, 0
	for i := range peers {
		w := len(peers[i].Remote)
		if peers[i].Direction == "in" {
			w += len(arrow) + 5
		}
		peerW, localW = max(peerW, w), max(localW, len(peers[i].Local))
	}
	head := []column{
		{title: "DIR", width: 3},
		{title: "PEER", width: 21, flex: true, maxWidth: min(peerW, 56), middle: true},
		{title: "LOCAL", width: 15, flex: true, maxWidth: min(localW, 47), middle: true},
	}
	cs := countColumns(len(peers), func(i int) (*model.StateCounts, int) {
		return &peers[i].States, peers[i].Total
	}, snap.Options().Sort, g, len(head))
	ebase := len(head) + len(cs.cols)
	ec := peersEBPFColumns(snap, peers, ebase)
	procIdx := ebase + len(ec.cols)
	cols := append(append(append(head, cs.cols...), ec.cols...), column{title: "PROCESSES", width: 16, want: 24, flex: true})
	// LOCAL is the first to go on a narrow screen (after the eBPF
	// columns but their busiest).
	cols, ids := fitCounts(cols, width, ec.withEBPF(cs), append(append(ec.low, 2), ec.high...), nil)
	shown := shownStates(cs, ids, len(head))
	return tableData{
		cols: cols, n: len(peers),
		key: func(i int) string { return peerRowKey(peers[i].Key) },
		cell: func(i, c int) string {
			p := &peers[i]
			switch j := ids[c]; {
			case j == 0:
				return p.Direction
			case j == 1:
				if p.Key.Incoming() {
					return p.Remote + arrow + strconv.Itoa(int(p.Key.Listener.Port()))
				}
				return p.Remote
			case j == 2:
				return p.Local
			case j == procIdx:
				return present.PeerProcesses(p, snap.Attributed)
			case j >= ebase:
				return ec.cell(i, j-ebase)
			default:
				return countCell(&p.States, p.Total, cs.states[j-len(head)], shown)
			}
		},
		empty: emptyText(snap, "no peers"),
	}
}

// processData lists processes (the Processes view or one peer's).
func processData(snap *model.Snapshot, rows []model.ProcessRow, width int, g format.Glyphs) tableData {
	head := []column{
		{title: "PID", width: 7, right: true},
		{title: "NAME", width: 15},
		{title: "USER", width: 8},
	}
	cs := countColumns(len(rows), func(i int) (*model.StateCounts, int) {
		return &rows[i].States, rows[i].Total
	}, snap.Options().Sort, g, len(head))
	fdsW := 0
	for i := range rows {
		fdsW = max(fdsW, format.Width(fdText(rows[i].FDs, rows[i].FDLimit, g)))
	}
	fdsIdx := len(head) + len(cs.cols)
	fdsStyle := func(st *themes.Styles, i int) *lipgloss.Style { return fdStyle(st, rows[i].FDs, rows[i].FDLimit) }
	cols := append(append(head, cs.cols...),
		column{title: "FDS", width: max(3, min(15, fdsW)), right: true, style: fdsStyle},
		column{title: "COMMAND", width: 10, want: 30, flex: true})
	// USER goes first on a narrow screen, then the open files.
	cols, ids := fitCounts(cols, width, cs, []int{2, fdsIdx}, nil)
	shown := shownStates(cs, ids, len(head))
	empty := "no processes"
	if !snap.Attributed {
		empty = "processes not attributed (--no-procs, or /proc unreadable)"
	}
	return tableData{
		cols: cols, n: len(rows),
		key: func(i int) string {
			return strconv.Itoa(int(rows[i].Key.PID)) + " " + strconv.FormatUint(rows[i].Key.Start, 10)
		},
		cell: func(i, c int) string {
			r := &rows[i]
			switch j := ids[c]; {
			case j == 0:
				if r.PID == 0 {
					return "-"
				}
				return strconv.Itoa(int(r.PID))
			case j == 1:
				return format.Sanitize(r.Name)
			case j == 2:
				return format.Sanitize(r.User)
			case j == fdsIdx:
				return fdText(r.FDs, r.FDLimit, g)
			case j == fdsIdx+1:
				return format.Sanitize(commandText(r.Cmdline))
			default:
				return countCell(&r.States, r.Total, cs.states[j-len(head)], shown)
			}
		},
		empty: emptyText(snap, empty),
	}
}

// portsData lists local ports.
func portsData(snap *model.Snapshot, rows []model.PortRow, width int, g format.Glyphs) tableData {
	head := []column{
		{title: "PORT", width: portWidth(rows), right: true},
		{title: "LISTEN", width: 6},
	}
	cs := countColumns(len(rows), func(i int) (*model.StateCounts, int) {
		return &rows[i].States, rows[i].Total
	}, snap.Options().Sort, g, len(head))
	cols := append(append(head, cs.cols...), column{title: "PROCESSES", width: 10, want: 24, flex: true})
	cols, ids := fitCounts(cols, width, cs, nil, nil)
	shown := shownStates(cs, ids, len(head))
	return tableData{
		cols: cols, n: len(rows),
		key: func(i int) string { return portCell(&rows[i]) },
		cell: func(i, c int) string {
			r := &rows[i]
			switch j := ids[c]; {
			case j == 0:
				return portCell(r)
			case j == 1:
				if r.Listening {
					return "yes"
				}
				return ""
			case j == len(head)+len(cs.cols):
				return present.ProcRefs(r.Processes, snap.Attributed)
			default:
				return countCell(&r.States, r.Total, cs.states[j-len(head)], shown)
			}
		},
		empty: emptyText(snap, "no local ports"),
	}
}

// socketsData lists sockets by index into the snapshot's sample.
func socketsData(snap *model.Snapshot, idx []int, width int) tableData {
	s := snap.Sample
	addrW := 21 // 255.255.255.255:65535
	for _, i := range idx {
		if a := s.Socket(i).Local.Addr(); a.Is6() && !a.Is4In6() {
			addrW = 47 // [v6]:port, the longest form
			break
		}
	}
	cols := []column{
		{title: "LOCAL", width: 21, flex: true, maxWidth: addrW, middle: true},
		{title: "REMOTE", width: 21, flex: true, maxWidth: addrW, middle: true},
		{title: "STATE", width: 11, style: func(st *themes.Styles, i int) *lipgloss.Style {
			switch s.Socket(idx[i]).State {
			case source.TimeWait:
				return &st.TimeWait
			case source.CloseWait:
				return &st.CloseWait
			}
			return nil
		}},
		{title: "AGE", width: 7, right: true},
		{title: "RECVQ", width: 5, right: true},
		{title: "SENDQ", width: 5, right: true},
		{title: "TIMER", width: 12, flex: true},
	}
	cols, ids := splitIndexed(fitColumns(indexColumns(cols), width, nil, []int{5, 4, 3}))
	return tableData{
		cols: cols, n: len(idx),
		key: func(i int) string {
			return strconv.FormatUint(s.Socket(idx[i]).Cookie, 16) + s.Socket(idx[i]).Local.String() + s.Socket(idx[i]).Remote.String()
		},
		cell: func(i, c int) string {
			sk := s.Socket(idx[i])
			switch ids[c] {
			case 0:
				return sk.Local.String()
			case 1:
				return sk.Remote.String()
			case 2:
				return sk.State.String()
			case 3:
				return socketAge(snap, sk)
			case 4:
				return format.Count(int(sk.RecvQ))
			case 5:
				return format.Count(int(sk.SendQ))
			default:
				return timerText(sk)
			}
		},
		empty: "no sockets now",
	}
}

// socketAge is the AGE cell: exact for TIME_WAIT (from its timer); for
// the states tcptop tracks, since the first poll that saw the socket: "new"
// when this poll did, a trailing "+" when it was there before tcptop
// started watching (so it is older), blank in the first poll or when
// unknown.
func socketAge(snap *model.Snapshot, sk *source.Socket) string {
	age, ok := snap.SocketAge(sk)
	switch {
	case !ok:
		return ""
	case sk.State == source.TimeWait:
		return format.Age(age)
	case snap.Watching <= 0:
		return ""
	case age >= snap.Watching:
		return format.Age(age) + "+"
	case age == 0:
		return "new"
	}
	return format.Age(age)
}

// fdText shows a process's open files against its limit: "120/1024",
// "120/∞" when unlimited ("120/inf" in ASCII), "120" when the limit is
// unknown, "" when the count is.
func fdText(fds int, limit int64, g format.Glyphs) string {
	switch {
	case fds < 0 || (fds == 0 && limit == 0):
		return ""
	case limit < 0:
		return format.Count(fds) + "/" + g.Infinity
	case limit == 0:
		return format.Count(fds)
	}
	return format.Count(fds) + "/" + format.Count64(limit)
}

// interpreters run a program given as their first argument: the command
// column shows that program rather than the interpreter's path.
var interpreters = map[string]bool{
	"python": true, "python2": true, "python3": true, "perl": true, "ruby": true, "node": true,
	"nodejs": true, "php": true, "bash": true, "sh": true, "dash": true, "java": true, "bun": true, "deno": true,
}

// commandText is what the COMMAND column shows of a command line: the
// program's name without its directory, then its arguments; for an
// interpreter (python3.11, /usr/bin/node) also its script's name without
// its directory, so "/root/.pyenv/versions/3.11.7/bin/python3
// /srv/app/worker.py -q" reads "python3 worker.py -q".
func commandText(cmdline string) string {
	// Split on spaces only: what else the arguments hold stays for
	// format.Sanitize to show.
	f := strings.Split(cmdline, " ")
	if f[0] == "" {
		return cmdline
	}
	prog := path.Base(f[0])
	out := []string{prog}
	rest := f[1:]
	name := strings.TrimRight(prog, "0123456789.")
	if interpreters[name] {
		for i, a := range rest {
			if strings.HasPrefix(a, "-") {
				continue
			}
			rest = slices.Clone(rest)
			rest[i] = path.Base(a)
			break
		}
	}
	return strings.Join(append(out, rest...), " ")
}

// Open files past these shares of the limit are marked: the process is
// about to fail accept() and open() with EMFILE. (No finding judges open
// files alone, so these are the monitor's own.)
const (
	fdWarn = 0.60
	fdCrit = 0.85
)

// fdStyle marks open files near a known, finite limit.
func fdStyle(st *themes.Styles, fds int, limit int64) *lipgloss.Style {
	if fds < 0 || limit <= 0 {
		return nil
	}
	switch f := float64(fds) / float64(limit); {
	case f >= fdCrit:
		return &st.Crit
	case f >= fdWarn:
		return &st.Warn
	}
	return nil
}

// timerText describes a socket's kernel timer (inet_diag idiag_timer).
func timerText(sk *source.Socket) string {
	switch sk.Timer {
	case 1:
		s := "retransmit " + format.Millis(sk.Expires)
		if sk.Retrans > 0 {
			s += " (" + strconv.Itoa(int(sk.Retrans)) + ")"
		}
		return s
	case 2:
		return "keepalive " + format.Millis(sk.Expires)
	case 3:
		return "expires " + format.Millis(sk.Expires)
	case 4:
		return "zero-window probe " + format.Millis(sk.Expires)
	}
	return "-"
}

func emptyText(snap *model.Snapshot, what string) string {
	if f := snap.Options().Filter; !f.Empty() {
		return what + " match the filter " + strconv.Quote(f.String())
	}
	return what
}

func indexColumns(cols []column) []column {
	for i := range cols {
		cols[i].idx = i
	}
	return cols
}

func splitIndexed(cols []column) ([]column, []int) {
	ids := make([]int, len(cols))
	for i, c := range cols {
		ids[i] = c.idx
	}
	return cols, ids
}
