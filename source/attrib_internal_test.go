package source

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
	"unsafe"
)

// TestInferredOwnersDoNotPinOldPolls: an owner inferred from the previous
// poll is copied into this poll's arena. Sharing the old slice kept every
// earlier poll's owner array alive while a 4-tuple kept being recycled (the
// 31-minute soak grew from 79 to 220 MiB before this).
func TestInferredOwnersDoNotPinOldPolls(t *testing.T) {
	a := NewAttributor("/proc")
	me := int32(os.Getpid())
	l := netip.MustParseAddrPort("127.0.0.1:40000")
	r := netip.MustParseAddrPort("127.0.0.1:80")
	// Poll 1: an ESTABLISHED socket with an fd.
	p1 := []Socket{{State: Established, Local: l, Remote: r, Inode: 7}}
	a.Join(p1, ScanResult{links: []fdLink{{inode: 7, pid: me}}})
	if len(p1[0].Owners) != 1 || p1[0].Owners[0] != me {
		t.Fatalf("poll 1 owners %v", p1[0].Owners)
	}
	// Polls 2 and 3: the same 4-tuple in TIME_WAIT, no fd: inferred.
	prev := p1[0].Owners
	for poll := 2; poll <= 3; poll++ {
		socks := []Socket{{State: TimeWait, Local: l, Remote: r}}
		a.Join(socks, ScanResult{})
		o := socks[0].Owners
		if !socks[0].OwnerInferred || len(o) != 1 || o[0] != me {
			t.Fatalf("poll %d: owners %v inferred %v", poll, o, socks[0].OwnerInferred)
		}
		if unsafe.SliceData(o) == unsafe.SliceData(prev) {
			t.Fatalf("poll %d: inferred owners share the previous poll's array", poll)
		}
		if cap(o) != len(o) {
			t.Errorf("poll %d: owners can be appended into the arena (cap %d)", poll, cap(o))
		}
		prev = o
	}
}

// Issue 12 item 10: a socket whose owner an earlier poll read keeps it
// when a later scan misses its fd (a slow or cut-short re-read) while the
// owner is alive; once the owner is gone, it is unknown.
func TestPersistingSocketKeepsItsOwner(t *testing.T) {
	a := NewAttributor("/proc")
	me := int32(os.Getpid())
	l := netip.MustParseAddrPort("127.0.0.1:8080")
	r := netip.MustParseAddrPort("127.0.0.1:40000")
	sock := func() []Socket {
		return []Socket{{State: CloseWait, Local: l, Remote: r, Inode: 9, Cookie: 42}}
	}
	p1 := sock()
	a.Join(p1, ScanResult{links: []fdLink{{inode: 9, pid: me}}, fds: []pidCount{{me, 10}}})
	if len(p1[0].Owners) != 1 || p1[0].Owners[0] != me {
		t.Fatalf("poll 1 owners %v", p1[0].Owners)
	}
	// Poll 2: the scan did not reach the fd, but the process is alive.
	p2 := sock()
	a.Join(p2, ScanResult{fds: []pidCount{{me, 10}}})
	if len(p2[0].Owners) != 1 || p2[0].Owners[0] != me || p2[0].OwnerInferred {
		t.Fatalf("poll 2: owners %v inferred %v, want the owner read at poll 1", p2[0].Owners, p2[0].OwnerInferred)
	}
	// Poll 3: the process is gone from the scan: no owner.
	p3 := sock()
	a.Join(p3, ScanResult{fds: []pidCount{{me + 1, 3}}})
	if p3[0].Owners != nil {
		t.Fatalf("poll 3: owners %v after the owner left", p3[0].Owners)
	}
}

// TestJoinKeepsTableWhileLinksUnchanged: a scan that finds the same socket
// fds as the last one keeps the inode table (not built again for every
// socket each poll), and one that finds another list builds it again, so
// a new holder's sockets are attributed.
func TestJoinKeepsTableWhileLinksUnchanged(t *testing.T) {
	root := t.TempDir()
	proc := func(pid int, inodes ...uint32) {
		dir := filepath.Join(root, strconv.Itoa(pid), "fd")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, ino := range inodes {
			if err := os.Symlink(fmt.Sprintf("socket:[%d]", ino), filepath.Join(dir, strconv.Itoa(3+i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	proc(100, 11, 12)
	a := NewAttributor(root)
	a.NoFDIter = true
	var js joinState
	poll := func(what string, want ...[]int32) {
		t.Helper()
		if _, err := a.Scan(); err != nil {
			t.Fatal(err)
		}
		socks := []Socket{{State: Established, Inode: 11, Cookie: 1}, {State: Established, Inode: 12, Cookie: 2}, {State: Established, Inode: 21, Cookie: 3}}
		a.joinLatest(&js, socks)
		for i := range socks {
			if !slices.Equal(socks[i].Owners, want[i]) {
				t.Errorf("%s: socket %d owners %v, want %v", what, i, socks[i].Owners, want[i])
			}
		}
		if a.tableGen != a.linksVer {
			t.Errorf("%s: the table is of links %d, the scan's are %d", what, a.tableGen, a.linksVer)
		}
	}
	poll("first", []int32{100}, []int32{100}, nil)
	ver := a.linksVer
	poll("unchanged", []int32{100}, []int32{100}, nil)
	if a.linksVer != ver {
		t.Errorf("the same links made a new version (%d -> %d): the table is built again", ver, a.linksVer)
	}
	proc(200, 21)
	poll("new holder", []int32{100}, []int32{100}, []int32{200})
	if a.linksVer == ver {
		t.Error("other links kept the version")
	}
}

// TestPassAlignsRefreshes: the processes an iterator pass read come due
// together (3/4 of Refresh), so the next pass, not a read through /proc
// for each at its own spread time, refreshes them.
func TestPassAlignsRefreshes(t *testing.T) {
	a := NewAttributor("/proc")
	a.iter.minFDs = -1
	if _, err := a.Scan(); err != nil {
		t.Fatal(err)
	}
	if a.iter.passes != 1 {
		t.Skipf("the BPF iterator cannot be used here: %v", a.iter.err)
	}
	var due time.Time
	n := 0
	for _, e := range a.entries {
		if e.readGen != a.gen || e.unreadable || e.ino == 0 {
			continue
		}
		if n > 0 && !e.due.Equal(due) {
			t.Fatalf("pid %d due %v, another %v", e.pid, e.due, due)
		}
		due = e.due
		n++
	}
	if n < 2 {
		t.Fatalf("%d processes read by the pass", n)
	}
}
