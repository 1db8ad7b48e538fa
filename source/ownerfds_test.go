package source_test

import (
	"net"
	"os"
	"slices"
	"syscall"
	"testing"

	"github.com/tcptop/tcptop/source"
)

// TestSocketFDs: a real socket's fd number and a dup of it are found by
// its inode; another inode, inode 0 and a missing pid find nothing.
func TestSocketFDs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	raw, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fd int
	var st syscall.Stat_t
	raw.Control(func(f uintptr) {
		fd = int(f)
		err = syscall.Fstat(fd, &st)
	})
	if err != nil {
		t.Fatal(err)
	}
	dup, err := syscall.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(dup)
	pid := int32(os.Getpid())
	inode := uint32(st.Ino)
	got := source.SocketFDs("", []int32{pid, 0, 1 << 30}, inode)
	want := []int{fd, dup}
	slices.Sort(want)
	if len(got) != 1 || !slices.Equal(got[pid], want) {
		t.Errorf("SocketFDs = %v, want %d: %v", got, pid, want)
	}
	if got := source.SocketFDs("/proc", []int32{pid}, inode+1); len(got) != 0 {
		t.Errorf("another inode: %v", got)
	}
	if got := source.SocketFDs("/proc", []int32{pid}, 0); len(got) != 0 {
		t.Errorf("inode 0: %v", got)
	}
}
