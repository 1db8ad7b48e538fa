package source

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/shirou/gopsutil/v4/common"
	"github.com/shirou/gopsutil/v4/process"
	"golang.org/x/sys/unix"
)

// Attributor maps sockets to the processes that hold them by scanning
// ProcRoot/*/fd. It keeps between polls: process details (by pid and start
// time, so a reused pid is noticed) and the owners of every 4-tuple seen in
// the previous poll, to infer owners of TIME_WAIT and request sockets.
// It is not safe for concurrent use.
type Attributor struct {
	ProcRoot string

	procs   map[int32]*procEntry
	prevTup map[tuple][]int32
	links   []fdLink
	fds     []pidCount
	pids    []int32
	workers []*scanWorker
	ctx     context.Context
}

type procEntry struct {
	start uint64 // starttime from /proc/PID/stat, detects pid reuse
	proc  *Process
	seen  bool
}

type tuple struct{ l, r netip.AddrPort }

// NewAttributor returns an Attributor reading procfs at procRoot.
func NewAttributor(procRoot string) *Attributor {
	workers := make([]*scanWorker, max(1, min(runtime.GOMAXPROCS(0), 4)))
	for i := range workers {
		workers[i] = newScanWorker()
	}
	return &Attributor{
		ProcRoot: procRoot,
		procs:    make(map[int32]*procEntry),
		workers:  workers,
		ctx:      context.WithValue(context.Background(), common.EnvKey, common.EnvMap{common.HostProcEnvKey: procRoot}),
	}
}

// Attribute fills Owners of socks (and OwnerInferred for inferred ones) and
// returns the details of every owning process and how many processes' fds
// could not be read (other users' processes when not root).
func (a *Attributor) Attribute(socks []Socket) (map[int32]*Process, int, error) {
	scan, err := a.Scan()
	if err != nil {
		return nil, 0, err
	}
	return a.Join(socks, scan), scan.Unreadable, nil
}

// ScanResult is what one pass over /proc/*/fd found: every socket fd.
type ScanResult struct {
	links []fdLink
	// fds counts each readable process's open files.
	fds []pidCount
	// Unreadable counts processes whose fds could not be read.
	Unreadable int
	// Took is how long the scan took.
	Took time.Duration
}

type fdLink struct {
	inode uint32
	pid   int32
}

type pidCount struct {
	pid int32
	n   int
}

// Scan reads every ProcRoot/PID/fd. It needs no sockets, so it can run
// while the sockets are being dumped; Join then matches the two. Scan and
// Join must not run concurrently with each other on one Attributor.
func (a *Attributor) Scan() (ScanResult, error) {
	t0 := time.Now()
	r := ScanResult{links: a.links[:0], fds: a.fds[:0]}
	var err error
	r.Unreadable, err = a.scan(&r.links, &r.fds)
	a.links, a.fds = r.links, r.fds
	r.Took = time.Since(t0)
	return r, err
}

// Join fills Owners of socks from a scan and infers the owners of sockets
// without a file, returning the details of every owning process.
func (a *Attributor) Join(socks []Socket, scan ScanResult) map[int32]*Process {
	first := make(map[uint32]int32, len(scan.links))
	extra := make(map[uint32][]int32) // shared sockets
	for _, l := range scan.links {
		p, ok := first[l.inode]
		switch {
		case !ok:
			first[l.inode] = l.pid
		case p != l.pid && !containsPID(extra[l.inode], l.pid):
			extra[l.inode] = append(extra[l.inode], l.pid)
		}
	}

	// Owners slices share one arena: one allocation instead of one per socket.
	arena := make([]int32, 0, len(socks)+len(extra))
	owned := make(map[int32]struct{})
	listeners := make(map[uint16][]listenerOwner)
	for i := range socks {
		s := &socks[i]
		if s.Inode == 0 {
			continue
		}
		pid, ok := first[s.Inode]
		if !ok {
			continue
		}
		start := len(arena)
		arena = append(arena, pid)
		arena = append(arena, extra[s.Inode]...)
		s.Owners = arena[start:len(arena):len(arena)]
		for _, p := range s.Owners {
			owned[p] = struct{}{}
		}
		if s.State == Listen {
			listeners[s.Local.Port()] = append(listeners[s.Local.Port()], listenerOwner{s.Local.Addr(), s.Owners})
		}
	}

	// Sockets without a file: infer from the same 4-tuple in the previous
	// poll, else from the listener of their local port.
	tup := make(map[tuple][]int32, len(a.prevTup))
	for i := range socks {
		s := &socks[i]
		if s.Owners == nil && s.Inode == 0 {
			if o, ok := a.prevTup[tuple{s.Local, s.Remote}]; ok {
				// Copy: o points into an older poll's arena, and a
				// recycled 4-tuple would keep that arena alive for ever.
				start := len(arena)
				arena = append(arena, o...)
				s.Owners, s.OwnerInferred = arena[start:len(arena):len(arena)], true
			} else if o := matchListener(listeners[s.Local.Port()], s.Local.Addr()); o != nil {
				s.Owners, s.OwnerInferred = o, true
			}
			for _, p := range s.Owners {
				owned[p] = struct{}{}
			}
		}
		if s.Owners != nil && s.State != Listen {
			tup[tuple{s.Local, s.Remote}] = s.Owners
		}
	}
	a.prevTup = tup
	return a.details(owned, scan.fds)
}

type listenerOwner struct {
	addr   netip.Addr
	owners []int32
}

// matchListener picks the listener bound to addr, else a wildcard one.
func matchListener(ls []listenerOwner, addr netip.Addr) []int32 {
	var wild []int32
	for _, l := range ls {
		if l.addr == addr || (addr.Is4In6() && l.addr == addr.Unmap()) {
			return l.owners
		}
		if l.addr.IsUnspecified() && wild == nil {
			wild = l.owners
		}
	}
	return wild
}

// scan appends an fdLink for every socket fd under ProcRoot/*/fd. It uses
// getdents and readlinkat on reused buffers: os.ReadDir + os.Readlink cost
// ~30% more time and ~6 allocations per fd (FACTS.md).
func (a *Attributor) scan(links *[]fdLink, fds *[]pidCount) (int, error) {
	procfd, err := unix.Open(a.ProcRoot, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, &os.PathError{Op: "open", Path: a.ProcRoot, Err: err}
	}
	defer unix.Close(procfd)
	pids := a.pids[:0]
	err = readDirNames(procfd, a.workers[0].dirent, func(name []byte) {
		if pid, ok := atoiPID(name); ok {
			pids = append(pids, pid)
		}
	})
	if err != nil {
		return 0, &os.PathError{Op: "getdents", Path: a.ProcRoot, Err: err}
	}
	a.pids = pids
	for _, e := range a.procs {
		e.seen = false
	}
	// Workers take pids from a shared counter: one process may hold most
	// of the fds, so a fixed split would leave a worker idle.
	var next atomic.Int64
	var wg sync.WaitGroup
	for _, w := range a.workers {
		w.links, w.fds, w.unreadable = w.links[:0], w.fds[:0], 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(pids) {
					return
				}
				w.scanPID(procfd, pids[i])
			}
		}()
	}
	wg.Wait()
	unreadable := 0
	for _, w := range a.workers {
		*links = append(*links, w.links...)
		*fds = append(*fds, w.fds...)
		unreadable += w.unreadable
	}
	return unreadable, nil
}

// scanWorker holds one scanning goroutine's buffers and findings.
type scanWorker struct {
	dirent, name, link, path []byte
	links                    []fdLink
	fds                      []pidCount
	unreadable               int
}

func newScanWorker() *scanWorker {
	return &scanWorker{dirent: make([]byte, 32<<10), link: make([]byte, 64)}
}

// scanPID records the socket fds of one process.
func (w *scanWorker) scanPID(procfd int, pid int32) {
	w.path = strconv.AppendInt(w.path[:0], int64(pid), 10)
	w.path = append(w.path, "/fd"...)
	dfd, err := unix.Openat(procfd, string(w.path), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		if err == unix.EACCES || err == unix.EPERM {
			w.unreadable++
		}
		return // ENOENT: the process is gone
	}
	defer unix.Close(dfd)
	denied, n := false, 0
	_ = readDirNames(dfd, w.dirent, func(name []byte) {
		if len(name) == 0 || name[0] == '.' || denied {
			return
		}
		n++
		w.name = append(append(w.name[:0], name...), 0)
		n, err := readlinkat(dfd, w.name, w.link)
		if err != nil {
			// The links of a process that is not dumpable (or another
			// user's) are unreadable even when the directory opens.
			denied = err == unix.EACCES || err == unix.EPERM
			return
		}
		if ino, ok := parseSocketLink(w.link[:n]); ok {
			w.links = append(w.links, fdLink{ino, pid})
		}
	})
	if denied {
		w.unreadable++
		return
	}
	w.fds = append(w.fds, pidCount{pid, n})
}

func containsPID(ps []int32, p int32) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// details returns the Process of every pid in owned, from the cache when
// the pid still has the same start time. Each poll gets its own copies:
// the open-fd count changes between polls, and an older Sample may still
// be on screen.
func (a *Attributor) details(owned map[int32]struct{}, fds []pidCount) map[int32]*Process {
	out := make(map[int32]*Process, len(owned))
	procs := make([]Process, 0, len(owned))
	for pid := range owned {
		start, ok := a.startTime(pid)
		e := a.procs[pid]
		if e == nil || !ok || e.start != start {
			e = &procEntry{start: start, proc: a.readProcess(pid)}
			a.procs[pid] = e
		}
		e.seen = true
		procs = append(procs, *e.proc)
		p := &procs[len(procs)-1]
		p.FDs = -1
		out[pid] = p
	}
	for _, c := range fds {
		if p := out[c.pid]; p != nil {
			p.FDs = c.n
		}
	}
	for pid, e := range a.procs {
		if !e.seen {
			delete(a.procs, pid)
		}
	}
	return out
}

// readProcess reads name, command line and user through gopsutil. Fields it
// cannot read (a process that just exited, or no permission) stay empty;
// the name falls back to "?".
func (a *Attributor) readProcess(pid int32) *Process {
	p := &Process{PID: pid, UID: -1}
	gp, err := process.NewProcessWithContext(a.ctx, pid)
	if err != nil {
		p.Name = "?"
		return p
	}
	if name, err := gp.NameWithContext(a.ctx); err == nil {
		p.Name = name
	} else {
		p.Name = "?"
	}
	if cmd, err := gp.CmdlineWithContext(a.ctx); err == nil {
		p.Cmdline = cmd
	}
	if uids, err := gp.UidsWithContext(a.ctx); err == nil && len(uids) > 0 {
		p.UID = int32(uids[0])
	}
	if user, err := gp.UsernameWithContext(a.ctx); err == nil {
		p.User = user
	} else if p.UID >= 0 {
		p.User = strconv.Itoa(int(p.UID))
	}
	// The limit is read once per process (cached with it): prlimit(1) on a
	// running process is rare, and a stale value only misstates headroom.
	if b, err := os.ReadFile(a.ProcRoot + "/" + strconv.Itoa(int(pid)) + "/limits"); err == nil {
		p.FDLimit, _ = ParseNoFileLimit(b)
	}
	return p
}

// startTime reads field 22 of /proc/PID/stat (clock ticks since boot).
func (a *Attributor) startTime(pid int32) (uint64, bool) {
	b, err := os.ReadFile(a.ProcRoot + "/" + strconv.Itoa(int(pid)) + "/stat")
	if err != nil {
		return 0, false
	}
	return parseStatStart(b)
}

// parseStatStart extracts starttime from a /proc/PID/stat line. The command
// name (field 2) may hold spaces and parentheses, so fields are counted after
// the last ')'.
func parseStatStart(b []byte) (uint64, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state); starttime is field 22.
	if len(f) < 20 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(f[19]), 10, 64)
	return v, err == nil
}

// parseSocketLink parses "socket:[12345]".
func parseSocketLink(b []byte) (uint32, bool) {
	const pre = "socket:["
	if len(b) < len(pre)+2 || string(b[:len(pre)]) != pre || b[len(b)-1] != ']' {
		return 0, false
	}
	var v uint64
	for _, c := range b[len(pre) : len(b)-1] {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
		if v > 1<<32-1 {
			return 0, false
		}
	}
	return uint32(v), true
}

func atoiPID(b []byte) (int32, bool) {
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	if v <= 0 || v > 1<<31-1 {
		return 0, false
	}
	return int32(v), true
}

// readDirNames calls fn with each entry name of the open directory fd.
// The name slice is only valid during the call.
func readDirNames(fd int, buf []byte, fn func(name []byte)) error {
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			return err
		}
		if n <= 0 {
			return nil
		}
		b := buf[:n]
		for len(b) >= 19 {
			// struct linux_dirent64: ino u64, off s64, reclen u16, type u8, name.
			reclen := int(binary.NativeEndian.Uint16(b[16:]))
			if reclen < 19 || reclen > len(b) {
				return errors.New("getdents: malformed record")
			}
			name := b[19:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			fn(name)
			b = b[reclen:]
		}
	}
}

// readlinkat wraps readlinkat(2) with a NUL-terminated name, without the
// string conversion unix.Readlinkat makes.
func readlinkat(dirfd int, nameZ []byte, buf []byte) (int, error) {
	r, _, e := unix.Syscall6(unix.SYS_READLINKAT, uintptr(dirfd),
		uintptr(unsafe.Pointer(&nameZ[0])), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
