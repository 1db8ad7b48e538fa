package model

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/tcptop/tcptop/source"
)

// KillPlan is what destroying a set of sockets would touch, for the
// confirmation a front end asks before it acts: every socket, counts by
// state, the owners, and the safeguards' findings.
type KillPlan struct {
	// Sockets are those to destroy (copies: the plan outlives the sample).
	Sockets []source.Socket
	// States counts them by state.
	States StateCounts
	// Owners are the processes holding them, by pid.
	Owners []ProcRef
	// Listeners counts the listeners among Sockets: a front end asks a
	// second time before destroying one.
	Listeners int
	// KeptListeners counts listeners that matched but were left out
	// because they were not asked for.
	KeptListeners int
	// OwnSSH is the index in Sockets of the user's own SSH connection
	// (from SSH_CONNECTION), -1 when it is not among them.
	OwnSSH int
	// CloseWait counts CLOSE_WAIT sockets: destroying one frees its port
	// but not the application's file descriptor (a stopgap).
	CloseWait int
}

// PlanKill builds the plan for the sockets at idx (indexes into
// Sample.Sockets). Listeners are in the plan only with listeners set.
// sshConnection is the SSH_CONNECTION variable ("" when not over SSH).
func (snap *Snapshot) PlanKill(idx []int, listeners bool, sshConnection string) KillPlan {
	p := KillPlan{OwnSSH: -1}
	s := snap.Sample
	if s == nil {
		return p
	}
	var pids []int32
	for _, i := range idx {
		sk := s.Socket(i)
		if sk.State == source.Listen {
			if !listeners {
				p.KeptListeners++
				continue
			}
			p.Listeners++
		}
		if sk.State == source.CloseWait {
			p.CloseWait++
		}
		p.States[sk.State]++
		for _, pid := range sk.Owners {
			if !slices.Contains(pids, pid) {
				pids = append(pids, pid)
			}
		}
		p.Sockets = append(p.Sockets, *sk)
	}
	slices.Sort(pids)
	p.Owners = procRefs(pids, s.Procs)
	p.OwnSSH = OwnSSH(p.Sockets, sshConnection)
	return p
}

// StatesText is "2 CLOSE_WAIT, 1 ESTABLISHED".
func (p *KillPlan) StatesText() string {
	var parts []string
	for _, st := range source.AllStates {
		if n := p.States[st]; n > 0 {
			parts = append(parts, strconv.Itoa(n)+" "+st.String())
		}
	}
	return strings.Join(parts, ", ")
}

// OwnSSH is the index of the socket that is the user's own SSH connection,
// from the SSH_CONNECTION variable ("client_ip client_port server_ip
// server_port"): the socket whose remote end is the client's and whose
// local port is the server's. -1 when none is.
func OwnSSH(socks []source.Socket, sshConnection string) int {
	f := strings.Fields(sshConnection)
	if len(f) != 4 {
		return -1
	}
	cip, err1 := netip.ParseAddr(f[0])
	cport, err2 := strconv.ParseUint(f[1], 10, 16)
	sport, err3 := strconv.ParseUint(f[3], 10, 16)
	if err1 != nil || err2 != nil || err3 != nil {
		return -1
	}
	for i := range socks {
		r := socks[i].Remote
		if r.Addr().Unmap() == cip.Unmap() && r.Port() == uint16(cport) && socks[i].Local.Port() == uint16(sport) {
			return i
		}
	}
	return -1
}
