package source

import "slices"

// SetFDIterMin makes a's scans read through the BPF iterator when at
// least n fds are to be read (-1: whenever any are; 0: the defaults).
func SetFDIterMin(a *Attributor, n int) { a.iter.minFDs = n }

// ScanHolders returns what a scan found: each socket inode's holders
// (sorted), each readable process's fd count, and the unreadable pids.
func ScanHolders(r ScanResult) (holders map[uint32][]int32, fds map[int32]int) {
	holders = make(map[uint32][]int32)
	for _, l := range r.links {
		holders[l.inode] = append(holders[l.inode], l.pid)
	}
	for _, h := range holders {
		slices.Sort(h)
	}
	fds = make(map[int32]int)
	for _, c := range r.fds {
		fds[c.pid] = c.n
	}
	return holders, fds
}
