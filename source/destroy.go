package source

import (
	"errors"
)

// DestroyOutcome is what became of one socket asked to be destroyed.
type DestroyOutcome uint8

// Destroy outcomes. Every socket asked for gets one: unlike `ss -K`,
// nothing that could not be closed is passed over in silence.
const (
	// Destroyed: the kernel aborted it and a re-dump no longer lists it.
	Destroyed DestroyOutcome = iota
	// AlreadyGone: it had closed (or its tuple was reused) before the
	// request came.
	AlreadyGone
	// NotSupported: this kernel cannot destroy it.
	NotSupported
	// PermissionDenied: CAP_NET_ADMIN in its namespace is missing.
	PermissionDenied
	// StillThere: the kernel accepted the request but a re-dump still
	// lists the socket.
	StillThere
	// Failed: another error (see DestroyResult.Err).
	Failed
)

var outcomeNames = [...]string{
	Destroyed:        "destroyed",
	AlreadyGone:      "already gone",
	NotSupported:     "not supported by this kernel",
	PermissionDenied: "permission denied",
	StillThere:       "still there after destroy",
	Failed:           "failed",
}

// String names the outcome as reports print it.
func (o DestroyOutcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// OK reports whether the socket no longer exists: destroyed or already
// gone (what --kill's exit status 0 requires of every match).
func (o DestroyOutcome) OK() bool { return o == Destroyed || o == AlreadyGone }

// DestroyResult is one socket's outcome.
type DestroyResult struct {
	Socket  Socket
	Outcome DestroyOutcome
	// Err is the kernel's answer when Outcome is not Destroyed.
	Err error
}

// OutcomeOf classifies an error of Exact.Destroy.
func OutcomeOf(err error) DestroyOutcome {
	switch {
	case err == nil:
		return Destroyed
	case errors.Is(err, ErrGone):
		return AlreadyGone
	case errors.Is(err, ErrNotSupported):
		return NotSupported
	case errors.Is(err, ErrPermission):
		return PermissionDenied
	}
	return Failed
}

// DestroyAll destroys each socket by its exact ID, then re-dumps the
// namespace and checks that each one reported destroyed is gone. The
// results are in the order of socks. When the first request is refused
// for want of permission, the rest are not tried: they would be refused
// alike (the check is the namespace's, not the socket's).
func (e *Exact) DestroyAll(socks []Socket) []DestroyResult {
	out := make([]DestroyResult, len(socks))
	var mask StateMask
	for i := range socks {
		out[i].Socket = socks[i]
		if i > 0 && out[0].Outcome == PermissionDenied {
			out[i].Outcome, out[i].Err = PermissionDenied, out[0].Err
			continue
		}
		err := e.Destroy(socks[i].ID())
		out[i].Outcome, out[i].Err = OutcomeOf(err), err
		if err == nil {
			mask |= MaskOf(socks[i].State)
		}
	}
	if mask == 0 {
		return out
	}
	// Orphans move on (FIN_WAIT, LAST_ACK) rather than vanish: look in
	// every state.
	left, err := e.Dump(AllStatesMask, 0)
	if err != nil {
		return out
	}
	alive := make(map[uint64]bool, len(left))
	for i := range left {
		alive[left[i].Cookie] = true
	}
	for i := range out {
		if out[i].Outcome == Destroyed && alive[out[i].Socket.Cookie] {
			out[i].Outcome = StillThere
			out[i].Err = errors.New("the kernel accepted the request but the socket is still listed")
		}
	}
	return out
}
