package source

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// FoundNamespace is one network namespace found on the machine by
// DiscoverNamespaces: its identity and the ways to reach it.
type FoundNamespace struct {
	// ID is the namespace's identity (nsfs device and inode).
	ID NamespaceID
	// PIDs are the processes with at least one thread in the namespace,
	// in pid order (empty for a namespace held only by a bind mount).
	PIDs []int32
	// TIDs holds, for each of PIDs, the thread that was seen in the
	// namespace (the pid itself unless only another thread is).
	TIDs []int32
	// Mounts are nsfs bind mounts of the namespace found in mountinfo
	// (/run/netns/NAME, /run/docker/netns/ID, CNI paths), in mount order.
	Mounts []string
	// Names are its `ip netns` names (see NetnsNames), in name order.
	Names []string
	// Init reports the initial namespace (pid 1's).
	Init bool
}

// Discovery finds the machine's network namespaces.
type Discovery struct {
	// ProcRoot is where procfs is mounted ("/proc" when empty).
	ProcRoot string
}

func (d Discovery) root() string {
	if d.ProcRoot == "" {
		return "/proc"
	}
	return strings.TrimSuffix(d.ProcRoot, "/")
}

// Discover returns every network namespace it can see, once each: the
// union of /proc/*/task/*/ns/net (threads can be in another namespace
// than their process) and the nsfs bind mounts in /proc/self/mountinfo,
// deduplicated by identity. Files are only stat'ed here; OpenFound opens
// one race-free. The initial namespace comes first, the rest in inode
// order. Without privilege, other users' processes cannot be stat'ed:
// their namespaces are found only through mounts, and unreadable counts
// the processes skipped.
func (d Discovery) Discover() (found []FoundNamespace, unreadable int, err error) {
	root := d.root()
	byID := map[NamespaceID]*FoundNamespace{}
	get := func(id NamespaceID) *FoundNamespace {
		f := byID[id]
		if f == nil {
			f = &FoundNamespace{ID: id}
			byID[id] = f
		}
		return f
	}
	pids, err := readPIDs(root)
	if err != nil {
		return nil, 0, fmt.Errorf("list processes: %w", err)
	}
	var st unix.Stat_t
	var tidBuf []int32
	for _, pid := range pids {
		base := root + "/" + strconv.Itoa(int(pid))
		tidBuf = tidBuf[:0]
		tids, terr := readTIDs(base+"/task", tidBuf)
		if terr != nil {
			tids = append(tidBuf, pid)
		}
		tidBuf = tids
		var seen []NamespaceID
		ok := false
		for _, tid := range tids {
			p := base + "/task/" + strconv.Itoa(int(tid)) + "/ns/net"
			if unix.Stat(p, &st) != nil {
				continue
			}
			ok = true
			id := NamespaceID{uint64(st.Dev), st.Ino}
			if slices.Contains(seen, id) {
				continue
			}
			seen = append(seen, id)
			f := get(id)
			f.PIDs = append(f.PIDs, pid)
			f.TIDs = append(f.TIDs, tid)
		}
		if !ok {
			if _, serr := os.Stat(base); serr == nil {
				unreadable++
			}
		}
	}
	if mounts, merr := nsfsMounts(root + "/self/mountinfo"); merr == nil {
		for _, m := range mounts {
			if unix.Stat(m, &st) != nil {
				continue
			}
			id := NamespaceID{uint64(st.Dev), st.Ino}
			f := get(id)
			if !slices.Contains(f.Mounts, m) {
				f.Mounts = append(f.Mounts, m)
			}
		}
	}
	names := NetnsNames()
	var initID NamespaceID
	if unix.Stat(root+"/1/ns/net", &st) == nil {
		initID = NamespaceID{uint64(st.Dev), st.Ino}
	} else if unix.Stat(root+"/self/ns/net", &st) == nil {
		// pid 1 hidden (a container, a restricted procfs): as elsewhere in
		// tcptop, the caller's own namespace stands for the host's.
		initID = NamespaceID{uint64(st.Dev), st.Ino}
	}
	for id, f := range byID {
		f.Names = names[id]
		f.Init = id == initID
		found = append(found, *f)
	}
	slices.SortFunc(found, func(a, b FoundNamespace) int {
		switch {
		case a.Init != b.Init:
			if a.Init {
				return -1
			}
			return 1
		case a.ID.Inode != b.ID.Inode:
			if a.ID.Inode < b.ID.Inode {
				return -1
			}
			return 1
		}
		return int(a.ID.Dev) - int(b.ID.Dev)
	})
	return found, unreadable, nil
}

// readPIDs lists the numeric entries of root.
func readPIDs(root string) ([]int32, error) {
	return readNumericDir(root, nil)
}

func readTIDs(dir string, buf []int32) ([]int32, error) {
	return readNumericDir(dir, buf)
}

func readNumericDir(dir string, out []int32) ([]int32, error) {
	f, err := os.Open(dir)
	if err != nil {
		return out, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil && len(names) == 0 {
		return out, err
	}
	for _, n := range names {
		if v, err := strconv.ParseInt(n, 10, 32); err == nil && v > 0 {
			out = append(out, int32(v))
		}
	}
	slices.Sort(out)
	return out, nil
}

// nsfsMounts returns the mount points of network-namespace nsfs mounts
// listed in a mountinfo file.
func nsfsMounts(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseNsfsMounts(b), nil
}

// ParseNsfsMounts returns the mount points of the network-namespace nsfs
// mounts in a mountinfo text (fields: id parent major:minor root mountpoint
// ... - fstype source ...; nsfs mounts of network namespaces have the root
// "net:[INODE]"). Mount points are unescaped (\040 is a space).
func ParseNsfsMounts(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		sep := strings.Index(line, " - ")
		if sep < 0 {
			continue
		}
		post := strings.Fields(line[sep+3:])
		if len(post) == 0 || post[0] != "nsfs" {
			continue
		}
		f := strings.Fields(line[:sep])
		if len(f) < 5 || !strings.HasPrefix(f[3], "net:[") {
			continue
		}
		mp := unescapeMount(f[4])
		if !slices.Contains(out, mp) {
			out = append(out, mp)
		}
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040, \011, \012, \134).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ErrNamespaceGone is returned by OpenFound when none of the namespace's
// processes or mounts leads to it any more.
var ErrNamespaceGone = errors.New("namespace gone")

// OpenFound opens the namespace f without races: each candidate file (a
// bind mount, then each process's thread) is opened and the descriptor
// fstat'ed; only a descriptor whose identity is f.ID is kept, so a pid
// reused by a process in another namespace, or a name re-bound since
// Discover, is never taken for it. The descriptor stays open in the
// returned Namespace (closing it lets the namespace go). procRoot is
// where procfs is mounted. enter reports whether the namespace can be
// entered (setns needs CAP_SYS_ADMIN); a namespace that cannot be entered
// is still returned, for its identity and the files of its processes.
func OpenFound(procRoot string, f FoundNamespace) (ns *Namespace, enter error, err error) {
	root := Discovery{ProcRoot: procRoot}.root()
	var cands []string
	cands = append(cands, f.Mounts...)
	for i, pid := range f.PIDs {
		cands = append(cands, root+"/"+strconv.Itoa(int(pid))+"/task/"+strconv.Itoa(int(f.TIDs[i]))+"/ns/net")
	}
	var lastErr error = ErrNamespaceGone
	for _, p := range cands {
		fd, oerr := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if oerr != nil {
			lastErr = fmt.Errorf("open %s: %w", p, oerr)
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil || (NamespaceID{uint64(st.Dev), st.Ino}) != f.ID {
			unix.Close(fd)
			continue
		}
		orig, gerr := netns.Get()
		if gerr != nil {
			unix.Close(fd)
			return nil, nil, fmt.Errorf("read own network namespace: %w", gerr)
		}
		ns = &Namespace{ID: f.ID, Path: p, request: p, handle: netns.NsHandle(fd), orig: orig, Init: f.Init}
		if len(f.Names) > 0 {
			ns.Name = f.Names[0]
		}
		if ns.Init && ns.Name == "" {
			// Reading the initial namespace needs no setns: it is the
			// caller's own when tcptop runs on the host.
			var own unix.Stat_t
			if unix.Stat(root+"/thread-self/ns/net", &own) == nil && (NamespaceID{uint64(own.Dev), own.Ino}) == f.ID {
				ns.handle.Close()
				ns.orig.Close()
				ns.handle, ns.orig, ns.Own = -1, -1, true
				return ns, nil, nil
			}
		}
		enter = ns.Do(func() error { return nil })
		return ns, enter, nil
	}
	return nil, nil, lastErr
}
