package source

import (
	"os"
	"slices"
	"strconv"
)

// SocketFDs finds the file descriptor numbers by which each of pids holds
// the socket with inode: the fd links under procRoot/PID/fd that read
// "socket:[inode]". It is for one socket's detail, on demand: the regular
// poll's fd scan keeps no fd numbers. A pid whose fd directory cannot be
// read (gone, another user's) is left out; fds are in ascending order.
func SocketFDs(procRoot string, pids []int32, inode uint32) map[int32][]int {
	if procRoot == "" {
		procRoot = "/proc"
	}
	out := map[int32][]int{}
	if inode == 0 {
		return out
	}
	for _, pid := range pids {
		if pid <= 0 {
			continue
		}
		if fds := socketFDsOf(procRoot+"/"+strconv.Itoa(int(pid))+"/fd", inode); len(fds) > 0 {
			out[pid] = fds
		}
	}
	return out
}

// socketFDsOf reads one fd directory for links to the socket inode.
func socketFDsOf(dir string, inode uint32) []int {
	f, err := os.Open(dir)
	if err != nil {
		return nil
	}
	names, _ := f.Readdirnames(-1)
	f.Close()
	var fds []int
	for _, n := range names {
		fd, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		link, err := os.Readlink(dir + "/" + n)
		if err != nil {
			continue // closed since the listing
		}
		if ino, ok := parseSocketLink([]byte(link)); ok && ino == inode {
			fds = append(fds, fd)
		}
	}
	slices.Sort(fds)
	return fds
}
