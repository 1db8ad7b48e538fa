package source

import (
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The /proc/*/fd scan, incremental between polls.
//
// A process's socket fds can only be learnt by reading every link of
// /proc/PID/fd (getdents + readlinkat, ~1.5-2.5 µs per fd): there is no
// per-fd generation to tell a reused fd number apart. What is cheap is one
// fstatat of /proc/PID/fd: since Linux 6.2 its st_size is the number of
// open fds, and its st_ino names the process (a reused pid gets a new
// procfs inode). So each poll:
//
//   - a process whose fd directory has the same inode and fd count as at
//     its last read keeps its cached socket inodes, until its refresh is
//     due (Refresh, spread over [Refresh/2, Refresh) by pid; 3/4 Refresh
//     for all the processes one BPF iterator pass refreshed, see
//     fditer.go);
//   - any other process is read in full, its fds split in chunks over the
//     workers so that one process holding most of the fds does not leave a
//     worker idle;
//   - Join then looks for sockets whose inode no process is known to hold
//     (a socket opened in place of a closed fd keeps the count). If there
//     are any, the fd directories that changed since are read again, then,
//     if some are still unexplained, every process not read since the dump;
//     what is still unexplained after that is held by no visible process
//     (a kernel socket, an fd in flight) and is not looked for again until
//     its Refresh.
//
// What the cache can get wrong, and for how long: a process that hands a
// socket to another one (fork, SCM_RIGHTS) and closes its own fd while
// opening another file keeps its fd count; it stays listed as an extra
// owner until its refresh is due. A count that changes triggers a read.

// defaultRefresh is how long a process's socket fds are trusted without a
// read while its fd directory looks unchanged.
const defaultRefresh = 60 * time.Second

// MaxUnreadablePIDs is how many of the processes whose fds could not be
// read a Sample names.
const MaxUnreadablePIDs = 8

// chunkFDs is how many fds of one process one worker reads at a time.
const chunkFDs = 1024

// pidFDs is what the last read of one /proc/PID/fd found.
type pidFDs struct {
	pid   int32
	ino   uint64 // st_ino of /proc/PID/fd at the read
	size  int64  // st_size of /proc/PID/fd at the read: open fds (0: not reported)
	nfds  int    // fds listed by the read
	socks []uint32
	// unreadable: the directory or its links could not be read.
	unreadable bool
	// noFDs: the last check could not open the directory for lack of a
	// file descriptor (EMFILE, ENFILE); socks are the last read's.
	noFDs   error
	due     time.Time // read again by then even if unchanged
	readGen uint64    // scan generation of the last read
	listed  bool      // in this scan's /proc listing
	// skipped: this scan left the process out (another network
	// namespace, see Attributor.onlyNS); its cache entry is kept.
	skipped bool
	// deferred: check found it must be read in full, and left the read
	// to after every check (the iterator may serve it, see fditer.go);
	// stIno and stSize are the stat taken then.
	deferred bool
	stIno    uint64
	stSize   int64

	// During a read, shared by the workers reading its chunks.
	mu      sync.Mutex
	dfd     int
	fdnums  []int32
	pending atomic.Int32
	denied  atomic.Bool
}

// readPolicy selects the processes a scan reads in full.
type readPolicy uint8

const (
	// readChanged reads new processes, changed fd directories and due
	// refreshes.
	readChanged readPolicy = iota
	// readAllSince also reads every process not read since generation
	// sinceGen.
	readAllSince
)

// chunk is a range of one process's fds for one worker to read.
type chunk struct {
	e        *pidFDs
	from, to int
}

// scanQueue hands out pids and chunks to the workers.
type scanQueue struct {
	mu      sync.Mutex
	cond    sync.Cond
	chunks  []chunk
	next    int // next index into the pid list
	n       int // pids in the list
	listing int // workers that may still add chunks
}

// get returns the next chunk, or else the next pid index (i >= 0), or
// ok=false when all work is done.
func (q *scanQueue) get() (c chunk, i int, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		if n := len(q.chunks); n > 0 {
			c = q.chunks[n-1]
			q.chunks = q.chunks[:n-1]
			return c, -1, true
		}
		if q.next < q.n {
			q.next++
			q.listing++
			return chunk{}, q.next - 1, true
		}
		if q.listing == 0 {
			return chunk{}, -1, false
		}
		q.cond.Wait()
	}
}

// listed ends the listing of one pid, adding its chunks.
func (q *scanQueue) listed(cs []chunk) {
	q.mu.Lock()
	q.chunks = append(q.chunks, cs...)
	q.listing--
	q.mu.Unlock()
	q.cond.Broadcast()
}

// scanAll lists ProcRoot, checks every process's fd directory and reads
// those the policy selects; it then rebuilds the links and fd counts of r
// from the cache. It returns how many processes it read.
//
// With filtered and an onlyNS set, processes of other network namespaces
// are left out (unless they held a socket of it at the last join).
func (a *Attributor) scanAll(r *ScanResult, policy readPolicy, sinceGen uint64, filtered bool) (int, error) {
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
	a.gen++
	gen := a.gen
	for _, e := range a.fdc {
		e.listed = false
	}
	entries := a.entries[:0]
	for _, pid := range pids {
		e := a.fdc[pid]
		if e == nil {
			e = &pidFDs{pid: pid}
			a.fdc[pid] = e
		}
		e.listed = true
		entries = append(entries, e)
	}
	a.entries = entries
	for pid, e := range a.fdc {
		if !e.listed {
			delete(a.fdc, pid)
		}
	}

	now := time.Now()
	refresh := a.Refresh
	if refresh <= 0 {
		refresh = defaultRefresh
	}
	var only *NamespaceID
	if filtered {
		only = a.onlyNS
	}
	// While the iterator may serve this scan, reads are deferred until
	// every process is checked: then the fds to read are known.
	deferReads := !a.NoFDIter && (!a.iter.tried || a.iter.lister != nil)
	var reads, deferred, pendingFDs, totalFDs atomic.Int64
	a.runWorkers(len(entries), func(w *scanWorker, i int) []chunk {
		e := entries[i]
		e.deferred = false
		e.skipped = only != nil && !a.nsHolders[e.pid] && w.otherNS(procfd, e.pid, *only)
		if e.skipped {
			return nil
		}
		cs, read, size := w.check(procfd, e, policy, sinceGen, gen, now, refresh, deferReads)
		totalFDs.Add(size)
		if e.deferred {
			deferred.Add(1)
			pendingFDs.Add(size)
		}
		if read {
			reads.Add(1)
		}
		return cs
	})
	if deferred.Load() > 0 {
		if a.iterUsable(pendingFDs.Load(), totalFDs.Load()) && a.iterPass(pendingFDs.Load()) {
			defs := a.alsoFromPass(a.deferredOf(entries), entries, gen)
			a.runWorkers(len(defs), func(w *scanWorker, i int) []chunk {
				if w.iterRead(procfd, a, defs[i], gen, now, refresh) {
					reads.Add(1)
				}
				return nil
			})
			clear(defs)
		} else {
			defs := a.deferredOf(entries)
			a.runWorkers(len(defs), func(w *scanWorker, i int) []chunk {
				cs, read := w.startRead(procfd, defs[i], gen, now, refresh)
				if read {
					reads.Add(1)
				}
				return cs
			})
			clear(defs)
		}
	}

	// The links are rebuilt in the buffer of the last ones (a.links)
	// when the caller passes it: as they are written, they are compared
	// with what it held, and a.linksVer moves only when they differ (the
	// inode table of 100k sockets is then not built again).
	prev := 0
	if unsafe.SliceData(r.links) == unsafe.SliceData(a.links) {
		prev = len(a.links)
	}
	old := r.links[:prev]
	same := true
	r.links, r.fds, r.Unreadable, r.UnreadablePIDs = r.links[:0], r.fds[:0], 0, nil
	r.OutOfFDs, r.FDErr = 0, nil
	for _, e := range entries {
		if e.skipped {
			continue
		}
		if e.noFDs != nil {
			r.OutOfFDs++
			if r.FDErr == nil {
				r.FDErr = e.noFDs
			}
		}
		if e.unreadable {
			r.Unreadable++
			if len(r.UnreadablePIDs) < MaxUnreadablePIDs {
				r.UnreadablePIDs = append(r.UnreadablePIDs, e.pid)
			}
			continue
		}
		if e.ino == 0 { // gone before it could be checked
			continue
		}
		for _, ino := range e.socks {
			l := fdLink{ino, e.pid}
			if same && (len(r.links) >= len(old) || old[len(r.links)] != l) {
				same = false
			}
			r.links = append(r.links, l)
		}
		n := e.nfds
		if e.size > 0 {
			n = int(e.size)
		}
		r.fds = append(r.fds, pidCount{e.pid, n})
	}
	if !same || len(r.links) != len(old) {
		a.linksVer++
	}
	return int(reads.Load()), nil
}

// alsoFromPass adds to defs, the deferred entries an iterator pass
// serves, every other process this scan checked and found unchanged: the
// pass lists every process's sockets, so they are refreshed from it for
// one permission check each (iterRead), and their own refreshes do not
// come due one by one later, each a read through /proc. At 100k sockets
// over six processes, one such refresh of a 15,000-fd process cost
// 55-58 ms of CPU through /proc, a pass over all 90,000 fds 26-40 ms
// (issue 18: four refreshes every ~31 s were ~0.5 % of a core).
func (a *Attributor) alsoFromPass(defs, entries []*pidFDs, gen uint64) []*pidFDs {
	for _, e := range entries {
		if !e.skipped && !e.deferred && e.noFDs == nil && e.readGen != 0 && e.readGen != gen &&
			e.ino != 0 && e.stIno == e.ino && e.stSize == e.size && e.stSize > 0 {
			e.deferred = true // as iterRead expects; it clears it
			defs = append(defs, e)
		}
	}
	a.deferred = defs
	return defs
}

// deferredOf lists the deferred entries (in a.deferred: clear it after).
func (a *Attributor) deferredOf(entries []*pidFDs) []*pidFDs {
	defs := a.deferred[:0]
	for _, e := range entries {
		if e.deferred {
			defs = append(defs, e)
		}
	}
	a.deferred = defs
	return defs
}

// runWorkers runs item for indexes [0, n) on the scan workers; the
// chunks an item returns are shared out among them.
func (a *Attributor) runWorkers(n int, item func(w *scanWorker, i int) []chunk) {
	q := &scanQueue{n: n}
	q.cond.L = &q.mu
	var wg sync.WaitGroup
	for _, w := range a.workers {
		wg.Go(func() {
			for {
				c, i, ok := q.get()
				if !ok {
					return
				}
				if i < 0 {
					w.readChunk(c)
					continue
				}
				cs := item(w, i)
				if len(cs) == 0 {
					q.listed(nil)
					continue
				}
				// Share all but the first chunk, then read the first.
				q.listed(cs[1:])
				w.readChunk(cs[0])
			}
		})
	}
	wg.Wait()
}

// iterRead fills a deferred process's read from the iterator's pass: its
// socket inodes, and the fd count of the stat as the count of fds listed.
// The iterator ignores permissions, so first it opens /proc/PID/fdinfo:
// the kernel lets that open through on the same ptrace check
// (PTRACE_MODE_READ_FSCREDS, Linux 5.18+) as reading the links of
// /proc/PID/fd, so a process /proc would not show stays unreadable.
func (w *scanWorker) iterRead(procfd int, a *Attributor, e *pidFDs, gen uint64, now time.Time, refresh time.Duration) bool {
	e.deferred = false
	w.path = strconv.AppendInt(w.path[:0], int64(e.pid), 10)
	w.path = append(w.path, "/fdinfo"...)
	dfd, err := unix.Openat(procfd, string(w.path), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err == unix.EMFILE || err == unix.ENFILE {
		// As startReadPath: keep what the last read found.
		e.noFDs = err
		if e.stIno != e.ino {
			e.ino, e.socks, e.nfds, e.size = 0, e.socks[:0], 0, 0
		}
		return false
	}
	e.ino, e.size, e.readGen = e.stIno, e.stSize, gen
	// Not spread: the processes a pass refreshed come due together, so
	// that one pass, not a read through /proc each, refreshes them next.
	e.due = now.Add(refresh * 3 / 4)
	e.socks, e.nfds, e.unreadable = e.socks[:0], 0, false
	if err != nil {
		e.unreadable = err == unix.EACCES || err == unix.EPERM
		if !e.unreadable {
			e.ino = 0 // ENOENT: the process is gone
		}
		return true
	}
	unix.Close(dfd)
	e.socks = a.iterSocks(e.socks, e.pid)
	e.nfds = int(e.stSize)
	return true
}

// otherNS reports whether process pid is known to be in a network
// namespace other than id (one fstatat of /proc/PID/ns/net; a process
// whose namespace cannot be read is not known to be elsewhere).
func (w *scanWorker) otherNS(procfd int, pid int32, id NamespaceID) bool {
	w.path = strconv.AppendInt(w.path[:0], int64(pid), 10)
	w.path = append(w.path, "/ns/net"...)
	var st unix.Stat_t
	if err := unix.Fstatat(procfd, string(w.path), &st, 0); err != nil {
		return false
	}
	return uint64(st.Dev) != id.Dev || st.Ino != id.Inode
}

// check stats one process's fd directory and, when the policy says so,
// starts reading it: it lists the fds and returns them as chunks (the
// caller reads them; the last one to finish closes the directory). With
// deferRead it only marks the process deferred (see scanAll). It also
// returns the directory's fd count.
func (w *scanWorker) check(procfd int, e *pidFDs, policy readPolicy, sinceGen, gen uint64, now time.Time, refresh time.Duration, deferRead bool) ([]chunk, bool, int64) {
	w.path = strconv.AppendInt(w.path[:0], int64(e.pid), 10)
	w.path = append(w.path, "/fd"...)
	e.noFDs = nil
	var st unix.Stat_t
	if err := unix.Fstatat(procfd, string(w.path), &st, 0); err != nil {
		e.ino, e.socks, e.nfds, e.size = 0, e.socks[:0], 0, 0
		e.unreadable = err == unix.EACCES || err == unix.EPERM
		return nil, false, 0
	}
	// Unchanged: same directory inode (same process) and fd count, or a
	// process with no fds at all (kernel threads: their fd directory gets
	// a new inode at every lookup). A zero count with fds listed is a
	// kernel that does not report the count: read every time.
	unchanged := e.readGen != 0 && st.Size == e.size && now.Before(e.due) &&
		((st.Ino == e.ino && st.Size > 0) || (st.Size == 0 && e.nfds == 0))
	e.stIno, e.stSize = st.Ino, st.Size // an iterator pass may refresh it (alsoFromPass)
	if unchanged && (policy == readChanged || e.readGen >= sinceGen) {
		return nil, false, st.Size
	}
	if deferRead {
		e.deferred = true
		return nil, false, st.Size
	}
	cs, read := w.startReadPath(procfd, e, gen, now, refresh)
	return cs, read, st.Size
}

// startRead reads a deferred process in full through /proc (see check).
func (w *scanWorker) startRead(procfd int, e *pidFDs, gen uint64, now time.Time, refresh time.Duration) ([]chunk, bool) {
	e.deferred = false
	w.path = strconv.AppendInt(w.path[:0], int64(e.pid), 10)
	w.path = append(w.path, "/fd"...)
	return w.startReadPath(procfd, e, gen, now, refresh)
}

// startReadPath opens w.path, the fd directory of e, whose stat check
// took (e.stIno, e.stSize), lists it and returns its fds as chunks, and
// whether it counts as a read (not when tcptop is out of descriptors).
func (w *scanWorker) startReadPath(procfd int, e *pidFDs, gen uint64, now time.Time, refresh time.Duration) ([]chunk, bool) {
	// Read it in full. The stat is the one taken before the listing: a
	// change during the read shows at the next check.
	dfd, err := unix.Openat(procfd, string(w.path), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err == unix.EMFILE || err == unix.ENFILE {
		// Not a gone process: tcptop has no descriptor left. Keep what
		// the last read of this same process found, and say so.
		e.noFDs = err
		if e.stIno != e.ino { // another process: nothing to keep
			e.ino, e.socks, e.nfds, e.size = 0, e.socks[:0], 0, 0
		}
		return nil, false
	}
	e.ino, e.size, e.readGen = e.stIno, e.stSize, gen
	e.due = now.Add(spread(refresh, e.pid))
	e.socks, e.nfds, e.unreadable = e.socks[:0], 0, false
	e.denied.Store(false)
	if err != nil {
		e.unreadable = err == unix.EACCES || err == unix.EPERM
		if !e.unreadable {
			e.ino = 0 // ENOENT: the process is gone
		}
		return nil, true
	}
	fdnums := e.fdnums[:0]
	_ = readDirNames(dfd, w.dirent, func(name []byte) {
		if fd, ok := atoiFD(name); ok {
			fdnums = append(fdnums, fd)
		}
	})
	e.fdnums, e.nfds = fdnums, len(fdnums)
	if len(fdnums) == 0 {
		unix.Close(dfd)
		return nil, true
	}
	e.dfd = dfd
	cs := w.chunks[:0]
	for from := 0; from < len(fdnums); from += chunkFDs {
		cs = append(cs, chunk{e: e, from: from, to: min(from+chunkFDs, len(fdnums))})
	}
	w.chunks = cs
	e.pending.Store(int32(len(cs)))
	return cs, true
}

// readChunk reads the links of a range of one process's fds.
func (w *scanWorker) readChunk(c chunk) {
	e := c.e
	inodes := w.inodes[:0]
	for _, fd := range e.fdnums[c.from:c.to] {
		if e.denied.Load() {
			break
		}
		w.name = strconv.AppendInt(w.name[:0], int64(fd), 10)
		w.name = append(w.name, 0)
		n, err := readlinkat(e.dfd, w.name, w.link)
		if err != nil {
			// The links of a process that is not dumpable (or another
			// user's) are unreadable even when the directory opens.
			if err == unix.EACCES || err == unix.EPERM {
				e.denied.Store(true)
			}
			continue
		}
		if ino, ok := parseSocketLink(w.link[:n]); ok {
			inodes = append(inodes, ino)
		}
	}
	w.inodes = inodes
	e.mu.Lock()
	e.socks = append(e.socks, inodes...)
	e.mu.Unlock()
	if e.pending.Add(-1) == 0 {
		unix.Close(e.dfd)
		e.dfd = -1
		if e.denied.Load() {
			e.unreadable, e.socks = true, e.socks[:0]
		}
	}
}

// spread returns a refresh period in [d/2, d) that depends on the pid, so
// that processes read at the same time do not all come due together.
func spread(d time.Duration, pid int32) time.Duration {
	h := uint32(pid) * 2654435761 // Knuth's multiplicative hash
	return d/2 + time.Duration(uint64(h)*uint64(d/2)>>32)
}

// atoiFD parses an fd number (0 included).
func atoiFD(b []byte) (int32, bool) { return atoiInt31(b) }

// scanWorker holds one scanning goroutine's buffers.
type scanWorker struct {
	dirent, name, link, path []byte
	inodes                   []uint32
	chunks                   []chunk
}

func newScanWorker() *scanWorker {
	return &scanWorker{dirent: make([]byte, 32<<10), link: make([]byte, 64)}
}

// inodeTable maps socket inodes to a slot (a process) with open
// addressing: at 100k sockets a Go map insert per fd was a tenth of a poll.
// Key and value share a cell, so a probe costs one cache miss. Inode 0
// marks an empty cell (no socket fd has inode 0).
type inodeTable struct {
	cells []inodeCell
	mask  uint32
}

type inodeCell struct {
	key uint32
	val int32
}

// reset empties the table and sizes it for n keys.
func (t *inodeTable) reset(n int) {
	size := tableSize(n)
	if len(t.cells) != size {
		t.cells = make([]inodeCell, size)
	} else {
		clear(t.cells)
	}
	t.mask = uint32(size - 1)
}

// tableSize is the slot count of an open-addressing table for n keys: a
// power of two, at least 1024, at most half full.
func tableSize(n int) int {
	size := 1024
	for size < 2*n {
		size *= 2
	}
	return size
}

func hashInode(k uint32) uint32 { return k * 2654435761 }

// put stores k → v unless k is there; it returns the value stored and
// whether k was there already.
func (t *inodeTable) put(k uint32, v int32) (int32, bool) {
	for i := hashInode(k) & t.mask; ; i = (i + 1) & t.mask {
		c := &t.cells[i]
		switch c.key {
		case k:
			return c.val, true
		case 0:
			c.key, c.val = k, v
			return v, false
		}
	}
}

// get returns the value of k.
func (t *inodeTable) get(k uint32) (int32, bool) {
	if len(t.cells) == 0 {
		return 0, false
	}
	for i := hashInode(k) & t.mask; ; i = (i + 1) & t.mask {
		c := t.cells[i]
		switch c.key {
		case k:
			return c.val, true
		case 0:
			return 0, false
		}
	}
}

// idxTable is an open-addressing hash set of indexes (stored as i+1, 0 is
// empty) into a caller's slice, keyed by socket cookie: the caller compares
// the cookie at the stored index. Four bytes a cell keep it small (1 MiB at
// 100k sockets): in a one-shot run every page of a fresh table is a page
// fault, which made a table of cookie/value cells cost more than sorting.
type idxTable struct {
	slots []uint32
	mask  uint64
}

// reset empties the table and sizes it for n keys.
func (t *idxTable) reset(n int) {
	size := tableSize(n)
	if len(t.slots) != size {
		t.slots = make([]uint32, size)
	} else {
		clear(t.slots)
	}
	t.mask = uint64(size - 1)
}

func hashCookie(k uint64) uint64 { return (k ^ k>>29) * 0x9e3779b97f4a7c15 >> 20 }
