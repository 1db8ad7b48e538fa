package source

import "math"

// SetCloseWaitAheadMin sets the table size from which a first read runs
// its CLOSE_WAIT dump alongside the main one, until the returned restore.
func SetCloseWaitAheadMin(n int) (restore func()) {
	old := closeWaitAheadMin
	closeWaitAheadMin = n
	return func() { closeWaitAheadMin = old }
}

// AgeCloseWait gives socks' CLOSE_WAIT sockets their tcp_info as k's first
// read would: with ahead, from a masked dump started first on a socket of
// its own (false when k would not start one: not a first read), else
// from one made afterwards on k's socket.
func AgeCloseWait(k *Kernel, socks []Socket, ahead bool) (started bool, err error) {
	var a *cwAhead
	if ahead {
		if a = k.startCloseWait(math.MaxInt); a == nil {
			return false, nil
		}
	}
	return a != nil, k.ageCloseWait(socks, a)
}

// SetCloseWaitExactMax sets the most CLOSE_WAIT sockets asked for by
// exact requests rather than by a masked dump, until the returned
// restore.
func SetCloseWaitExactMax(n int) (restore func()) {
	old := closeWaitExactMax
	closeWaitExactMax = n
	return func() { closeWaitExactMax = old }
}
