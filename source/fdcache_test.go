package source_test

import (
	"net"
	"os"
	"slices"
	"testing"

	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/source"
	"golang.org/x/sys/unix"
)

// The incremental /proc scan (fdscan.go) must never trade correctness for
// speed in the cases a poll can see: unchanged processes are not read
// again; a new socket in place of a closed fd (same fd count) is found by
// Join's second look; a socket no process holds is looked for once, not at
// every poll.

// fdCachePair returns an ESTABLISHED pair made inside ns, as raw fds of
// this process.
func fdCachePair(t *testing.T, ns *source.Namespace, ln *net.TCPListener) (client, server int) {
	t.Helper()
	var c net.Conn
	var s *net.TCPConn
	err := ns.Do(func() (err error) {
		if c, err = net.Dial("tcp", ln.Addr().String()); err != nil {
			return err
		}
		s, err = ln.AcceptTCP()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Raw fds: dup them out of the Go files, which are then closed.
	cf, _ := c.(*net.TCPConn).File()
	sf, _ := s.File()
	c.Close()
	s.Close()
	client, _ = unix.Dup(int(cf.Fd()))
	server, _ = unix.Dup(int(sf.Fd()))
	cf.Close()
	sf.Close()
	t.Cleanup(func() { unix.Close(client); unix.Close(server) })
	return client, server
}

func inodeOf(t *testing.T, fd int) uint32 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	return uint32(st.Ino)
}

// ownersOf attributes one dump of ns and returns the owners of the socket
// with inode ino (nil when absent or unowned) and the reads it took.
func ownersOf(t *testing.T, a *source.Attributor, d *source.Dumper, ino uint32) ([]int32, int) {
	t.Helper()
	socks, err := d.Dump(source.AllStatesMask, 0, 64)
	if err != nil {
		t.Fatal(err)
	}
	before := a.Reads
	if _, _, err := a.Attribute(socks); err != nil {
		t.Fatal(err)
	}
	for _, s := range socks {
		if s.Inode == ino {
			return s.Owners, a.Reads - before
		}
	}
	return nil, a.Reads - before
}

// fdCount is the number of this process's open fds.
func fdCount(t *testing.T) int64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/fd", &st); err != nil {
		t.Fatal(err)
	}
	return st.Size
}

func TestFDCache(t *testing.T) {
	_, ns := nstest.New(t, "tcptop-fdcache")
	var ln *net.TCPListener
	var d *source.Dumper
	err := ns.Do(func() (err error) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ln = l.(*net.TCPListener)
		d, err = source.NewDumper()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	defer d.Close()
	me := []int32{int32(os.Getpid())}
	client, _ := fdCachePair(t, ns, ln)

	a := source.NewAttributor("/proc")
	o, cold := ownersOf(t, a, d, inodeOf(t, client))
	if !slices.Equal(o, me) || cold < 2 {
		t.Fatalf("cold poll: owners %v, %d directories read", o, cold)
	}
	// Nothing changed: the next poll reads (almost) nothing again. Other
	// processes on the machine may come and go meanwhile.
	if o, warm := ownersOf(t, a, d, inodeOf(t, client)); !slices.Equal(o, me) || warm > cold/2 {
		t.Errorf("unchanged poll: owners %v, %d directories read (cold: %d)", o, warm, cold)
	}

	// A new socket on the fd number of a closed one, with another fd
	// closed too: the fd count is the same as at the last poll, the inode
	// is new, and Join's second look finds it.
	spare, err := unix.Dup(client)
	if err != nil {
		t.Fatal(err)
	}
	ownersOf(t, a, d, inodeOf(t, client)) // the cache now has spare
	count := fdCount(t)
	c2, s2 := fdCachePair(t, ns, ln)              // +2
	if err := unix.Dup2(c2, client); err != nil { // 0: the old client socket is closed
		t.Fatal(err)
	}
	unix.Close(c2)    // -1
	unix.Close(spare) // -1
	if got := fdCount(t); got != count {
		t.Fatalf("fd count %d, want %d as at the last poll", got, count)
	}
	newIno := inodeOf(t, client)
	for _, ino := range []uint32{newIno, inodeOf(t, s2)} {
		if o, _ := ownersOf(t, a, d, ino); !slices.Equal(o, me) {
			t.Errorf("socket on a reused fd number, same fd count: owners %v, want %v", o, me)
		}
	}

	// A socket held by no process (in flight in a unix socket's queue):
	// looked for once, then left alone until its refresh.
	c3, _ := fdCachePair(t, ns, ln)
	orphanIno := inodeOf(t, c3)
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(pair[0])
	defer unix.Close(pair[1])
	if err := unix.Sendmsg(pair[0], []byte{0}, unix.UnixRights(c3), nil, 0); err != nil {
		t.Fatal(err)
	}
	unix.Close(c3)
	ownersOf(t, a, d, orphanIno) // our fd count changed: read
	if o, n := ownersOf(t, a, d, orphanIno); o != nil || n > cold/2 {
		t.Errorf("socket in flight: owners %v, %d directories read (cold: %d)", o, n, cold)
	}
	if o, n := ownersOf(t, a, d, orphanIno); o != nil || n > cold/2 {
		t.Errorf("socket in flight, again: owners %v, %d directories read (cold: %d)", o, n, cold)
	}
	// The others are still attributed.
	if o, _ := ownersOf(t, a, d, newIno); !slices.Equal(o, me) {
		t.Errorf("after the orphan: owners %v", o)
	}
}
