package present

import (
	"strconv"
	"strings"

	"github.com/tcptop/tcptop/format"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

// The presentation of model values that the batch text and the monitor
// both show, written once: the monitor (package ui) imports these. Each
// returns plain text, made safe for a terminal (names from the system go
// through format.Sanitize here), for the caller to clip, pad and style.

// ProcRef names a process as "nginx[10]", or its name alone for pid 0
// (the "unknown" owner).
func ProcRef(name string, pid int32) string {
	name = format.Sanitize(name)
	if pid == 0 {
		return name
	}
	return name + "[" + strconv.Itoa(int(pid)) + "]"
}

// ProcRefs names a listener's or a port's processes:
// "nginx[10],nginx[11]"; "-" when processes were not attributed,
// model.UnknownName when none is known.
func ProcRefs(ps []model.ProcRef, attributed bool) string {
	if !attributed {
		return "-"
	}
	if len(ps) == 0 {
		return model.UnknownName
	}
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = format.Sanitize(p.Name) + "[" + strconv.Itoa(int(p.PID)) + "]"
	}
	return strings.Join(parts, ",")
}

// PeerProcesses names a peer's processes, space-separated: "php-fpm[20]",
// a trailing "~" marking an owner inferred (TIME_WAIT and request sockets
// own no file), and ":N" each one's share of the peer's sockets when there
// are several; "-" when processes were not attributed.
func PeerProcesses(p *model.Peer, attributed bool) string {
	if !attributed {
		return "-"
	}
	parts := make([]string, 0, len(p.Processes))
	for _, pp := range p.Processes {
		s := ProcRef(pp.Name, pp.PID)
		if pp.Group > 1 {
			// A pre-fork pool: its inferred sockets are counted once,
			// under its oldest process.
			s += "+" + strconv.Itoa(pp.Group-1)
		}
		if pp.Inferred {
			s += "~"
		}
		if len(p.Processes) > 1 {
			s += ":" + strconv.Itoa(pp.Sockets)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

// FindingText draws a finding's words (title, evidence or advice) for a
// terminal: arrow between endpoints (g.Arrow with a space either side),
// key(a) for a key hint (nil leaves hints out), sanitized (the words carry
// process names).
func FindingText(t model.Text, g format.Glyphs, key func(model.Action) string) string {
	return format.Sanitize(t.Render(" "+g.Arrow+" ", key))
}

// SubjectText names a finding's subject for a terminal ("10.0.0.5 → 0.0.0.0:80",
// "php-fpm[20]"), sanitized.
func SubjectText(s model.Subject, g format.Glyphs) string {
	return format.Sanitize(s.Render(" " + g.Arrow + " "))
}

// StateColumn is a per-state count column of the peer and process tables,
// with its title in the batch text (Long) and in the monitor (Short).
type StateColumn struct {
	State       source.State
	Long, Short string
}

// StateColumns are the per-state columns of the peer and process tables,
// in the order both front ends show them.
var StateColumns = []StateColumn{
	{source.Established, "ESTAB", "ESTAB"},
	{source.TimeWait, "TIME_WAIT", "TIME_W"},
	{source.CloseWait, "CLOSE_WAIT", "CLOSE_W"},
	{source.SynSent, "SYN_SENT", "SYN_S"},
	{source.SynRecv, "SYN_RECV", "SYN_R"},
	{source.FinWait1, "FIN_WAIT1", "FIN_W1"},
	{source.FinWait2, "FIN_WAIT2", "FIN_W2"},
	{source.LastAck, "LAST_ACK", "L_ACK"},
}

// Unreadable says how many processes tcptop could not read and why: "3
// processes unreadable without root", or as root, where permission is not
// the cause, "1 process unreadable (pid 1)".
func Unreadable(n int, pids []int32, privileged bool) string {
	what := "1 process unreadable"
	if n != 1 {
		what = strconv.Itoa(n) + " processes unreadable"
	}
	if !privileged {
		return what + " without root"
	}
	if len(pids) == 0 {
		return what
	}
	names := make([]string, 0, len(pids))
	for _, p := range pids {
		names = append(names, strconv.Itoa(int(p)))
	}
	more := ""
	if n > len(pids) {
		more = ", …"
	}
	return what + " (pid " + strings.Join(names, ", ") + more + ")"
}
