package source

// AgeCloseWait gives socks' CLOSE_WAIT sockets their tcp_info as k's
// reads do.
func AgeCloseWait(k *Kernel, socks []Socket) error { return k.ageCloseWait(socks) }

// SetCloseWaitExactMax sets the most CLOSE_WAIT sockets asked for by
// exact requests rather than by a masked dump, until the returned
// restore.
func SetCloseWaitExactMax(n int) (restore func()) {
	old := closeWaitExactMax
	closeWaitExactMax = n
	return func() { closeWaitExactMax = old }
}

// SetInfoSplitMin sets the fewest exact requests shared with a second
// socket, until the returned restore.
func SetInfoSplitMin(n int) (restore func()) {
	old := infoSplitMin
	infoSplitMin = n
	return func() { infoSplitMin = old }
}
