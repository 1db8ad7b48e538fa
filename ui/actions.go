package ui

import (
	"syscall"

	"github.com/tcptop/tcptop/source"
)

// Actions is what the monitor does to the machine beyond polling it: the
// socket detail's exact lookups, destroying sockets and signalling
// processes. cmd/tcptop implements it over source.Exact in the polled
// namespace; nil (a replay, a test) means no live kernel: the detail shows
// what the snapshot holds and every action is off.
//
// Destroy and Signal run only when Config.AllowActions is set: that one
// switch is what --read-only (and a replay) turns off.
type Actions interface {
	// Lookup returns one socket by its exact identity (source.ErrGone
	// when it no longer exists).
	Lookup(id source.SocketID) (*source.Detail, error)
	// Destroy destroys the sockets and reports what became of each
	// (source.Exact.DestroyAll: re-dumped afterwards).
	Destroy(socks []source.Socket) []source.DestroyResult
	// Signal sends sig to the process pid started at start (clock ticks
	// after boot), through a pidfd (source.SignalProcess).
	Signal(pid int32, start uint64, sig syscall.Signal) error
	// SocketFDs returns the fd numbers by which each of pids holds the
	// socket inode (source.SocketFDs), read on demand for the detail.
	SocketFDs(pids []int32, inode uint32) map[int32][]int
	// Log writes one line to the system log; it returns a warning to
	// show once when lines cannot be logged.
	Log(line string) string
}

// actionsOn reports whether the monitor may act (destroy, signal).
func (c *Common) actionsOn() bool { return c.AllowActions && c.Actions != nil }
