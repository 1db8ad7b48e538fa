package source

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"runtime"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Attributor maps sockets to the processes that hold them by scanning
// ProcRoot/*/fd. It keeps between polls: each process's socket inodes
// (re-read only when its fd directory changed, see fdscan.go), process
// details (by pid and start time, so a reused pid is noticed) and the
// owners of every socket seen in the previous poll (by cookie), to infer
// owners of TIME_WAIT and orphaned sockets (request sockets get their
// listener's). It is not safe for concurrent use: a Machine serialises
// the Attributor it shares between namespaces.
//
// What it keeps is machine-wide (socket inodes, processes) except the
// owners of the previous poll's sockets and the known orphans, which
// belong to one namespace's sockets: Join keeps those for the caller of
// Join; a Machine keeps one set per namespace reader.
type Attributor struct {
	ProcRoot string
	// Refresh is how long a process's socket fds are trusted without being
	// read again while its fd directory looks unchanged (60 s when 0).
	Refresh time.Duration
	// Reads counts the fd directories read in full since NewAttributor,
	// by Scan and by Join's second looks (for tests and benchmarks).
	Reads int
	// Scans counts the full passes over /proc made by Scan since
	// NewAttributor (Join's second looks not included).
	Scans int
	// NoFDIter keeps the fd scan on /proc: the BPF iterator (fditer.go)
	// is never loaded.
	NoFDIter bool

	procs   map[int32]*procEntry
	fdc     map[int32]*pidFDs // the fd cache, by pid
	entries []*pidFDs         // this scan's processes, in /proc order
	gen     uint64            // scan generation
	links   []fdLink
	fds     []pidCount
	pids    []int32
	workers []*scanWorker
	// deferred are a scan's processes left to read after the checks.
	deferred []*pidFDs
	// iter is the BPF fast path of the scan (fditer.go).
	iter fdIter

	// last is the latest scan: Scan's, or Join's second looks'.
	last ScanResult

	// Join's machine-wide state, reused between polls.
	table    inodeTable
	tableGen uint64 // linksVer the table was built from (0: unknown)
	// linksVer numbers the distinct link lists scanAll has made in
	// a.links: an unchanged list (no process opened or closed a socket)
	// keeps its number, and its table.
	linksVer uint64
	slotPID  []int32            // slot → pid
	slotUsed []bool             // slot owns a socket in this dump
	extra    map[uint32][]int32 // shared sockets: owners after the first

	// own is the per-namespace state of Join's callers.
	own joinState

	// onlyNS, when set, limits Scan to the processes of that network
	// namespace plus nsHolders, the processes that held a socket of it at
	// the last join (see Machine.scanOnly). Sockets nobody in the
	// namespace holds are looked for in every process, as before.
	onlyNS    *NamespaceID
	nsHolders map[int32]bool

	// stats memoises /proc/PID/stat reads within one join.
	stats map[int32]statMemo
	// users names uids (see userNames).
	users *userNames
}

type statMemo struct {
	st procStat
	ok bool
}

// joinState is what joining keeps between polls for the sockets of one
// namespace: socket cookies may be per namespace (before Linux 5.12 each
// namespace counted its own), and what one namespace's dump did not hold
// says nothing about another's.
type joinState struct {
	prevTup  idxTable   // socket cookie → index into prevRefs, last poll
	curTup   idxTable   // the same, being built
	prevRefs []ownerRef // ranges of prevPIDs
	curRefs  []ownerRef
	prevPIDs []int32 // owners of prevTup's entries
	curPIDs  []int32
	// orphans are socket inodes no process was found holding by a read
	// of every process made after the dump: not looked for until due.
	orphans map[uint32]orphan
	poll    uint64
	// lastUnreadable and lastOutOfFDs are the counts of the last join.
	lastUnreadable     int
	lastOutOfFDs       int
	lastUnreadablePIDs []int32
	// lastGroups are the last join's inferred owner groups (see
	// Sample.Groups); prevGroups the ones before.
	lastGroups map[int32][]int32
	// noHistory: keep no owners by cookie for the next join
	// (ReadOptions.OneRead).
	noHistory bool
}

type procEntry struct {
	start  uint64 // starttime from /proc/PID/stat, detects pid reuse
	comm   string // comm from /proc/PID/stat at the last read: a rename or exec changes it
	proc   *Process
	used   time.Time // last time it owned a socket in a join
	cmdDue time.Time // read the command line again by then
}

// ownerRef is a socket's owners: a range of the owners arena of a cookie
// table.
type ownerRef struct {
	cookie uint64
	off, n uint32
}

type orphan struct {
	due  time.Time
	poll uint64 // last poll that saw it
}

// NewAttributor returns an Attributor reading procfs at procRoot.
func NewAttributor(procRoot string) *Attributor {
	workers := make([]*scanWorker, max(1, min(runtime.GOMAXPROCS(0), 4)))
	for i := range workers {
		workers[i] = newScanWorker()
	}
	return &Attributor{
		ProcRoot: procRoot,
		procs:    make(map[int32]*procEntry),
		fdc:      make(map[int32]*pidFDs),
		workers:  workers,
		users:    newUserNames("/etc/passwd", nil),
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
	procs := a.Join(socks, scan)
	return procs, a.own.lastUnreadable, nil
}

// ScanResult is what one pass over /proc/*/fd found: every socket fd.
type ScanResult struct {
	links []fdLink
	// fds counts each readable process's open files.
	fds []pidCount
	// Unreadable counts processes whose fds could not be read
	// (permission); UnreadablePIDs names the first few of them.
	Unreadable     int
	UnreadablePIDs []int32
	// OutOfFDs counts processes whose fds were not read because tcptop
	// had no file descriptor left (EMFILE, ENFILE); what an earlier read
	// found for them is kept. FDErr is that error.
	OutOfFDs int
	FDErr    error
	// Took is how long the scan took.
	Took time.Duration
	// Read is how many processes' fd directories were read in full (the
	// others were unchanged since their last read).
	Read int
	// cached: some processes' sockets came from the cache, so sockets
	// nobody is known to hold may be worth a second look.
	cached bool
}

type fdLink struct {
	inode uint32
	pid   int32
}

type pidCount struct {
	pid int32
	n   int
}

// Scan checks every ProcRoot/PID/fd and reads those that changed. It needs
// no sockets, so it can run while the sockets are being dumped; Join then
// matches the two (and reads more if some sockets are unexplained). Scan
// and Join must not run concurrently with each other on one Attributor.
func (a *Attributor) Scan() (ScanResult, error) {
	t0 := time.Now()
	r := ScanResult{links: a.links[:0], fds: a.fds[:0]}
	var err error
	r.Read, err = a.scanAll(&r, readChanged, 0, true)
	a.Reads += r.Read
	a.Scans++
	a.links, a.fds = r.links, r.fds
	// Processes left out (another namespace) count as cached: a socket
	// nobody scanned holds is worth a look at every process.
	r.cached = r.Read < len(a.entries) || a.onlyNS != nil
	r.Took = time.Since(t0)
	if err == nil {
		a.last = r
	}
	return r, err
}

// Join fills Owners of socks from a scan and infers the owners of sockets
// without a file, returning the details of every owning process. When the
// scan used cached fds and a socket's inode is held by no known process,
// it reads the fd directories again (see fdscan.go) before giving up on it.
func (a *Attributor) Join(socks []Socket, scan ScanResult) map[int32]*Process {
	a.tableGen = 0 // the scan may come from anywhere: build the table
	return a.join(&a.own, socks, scan)
}

// joinLatest is Join with the latest scan, for the namespace whose state
// is js: the inode table is built once per scan, however many namespaces
// join it.
func (a *Attributor) joinLatest(js *joinState, socks []Socket) map[int32]*Process {
	return a.join(js, socks, a.last)
}

func (a *Attributor) join(js *joinState, socks []Socket, scan ScanResult) map[int32]*Process {
	js.poll++
	now := time.Now()
	clear(a.stats)
	if a.tableGen == 0 || a.tableGen != a.linksVer || !a.isLinks(scan.links) {
		a.buildTable(scan.links)
		if a.isLinks(scan.links) {
			a.tableGen = a.linksVer // the table is the latest scan's
		}
	} else {
		clear(a.slotUsed)
	}
	// Owners slices share one arena: one allocation instead of one per socket.
	arena := make([]int32, 0, len(socks)+len(a.extra))
	owned := make(map[int32]struct{})
	listeners := make(map[uint16][]listenerOwner)
	missed := a.assign(js, socks, &arena, owned, listeners, now, false)
	if missed > 0 && scan.cached {
		// First the fd directories that changed since the scan (cheap: a
		// stat per process), then every process not read since the dump.
		gen := a.gen + 1
		for _, policy := range []readPolicy{readChanged, readAllSince} {
			r := ScanResult{links: a.links[:0], fds: a.fds[:0]}
			reads, err := a.scanAll(&r, policy, gen, false)
			if err != nil {
				break
			}
			a.Reads += reads
			a.links, a.fds = r.links, r.fds
			scan.links, scan.fds, scan.Unreadable, scan.UnreadablePIDs = r.links, r.fds, r.Unreadable, r.UnreadablePIDs
			scan.OutOfFDs, scan.FDErr = r.OutOfFDs, r.FDErr
			// The second look is now the latest scan, for every namespace.
			a.last.links, a.last.fds, a.last.Unreadable, a.last.UnreadablePIDs = r.links, r.fds, r.Unreadable, r.UnreadablePIDs
			a.last.OutOfFDs, a.last.FDErr = r.OutOfFDs, r.FDErr
			a.buildTable(scan.links)
			a.tableGen = a.linksVer
			arena = arena[:0]
			clear(owned)
			clear(listeners)
			final := policy == readAllSince
			if missed = a.assign(js, socks, &arena, owned, listeners, now, final); missed == 0 {
				break
			}
		}
	}
	js.lastUnreadable, js.lastOutOfFDs = scan.Unreadable, scan.OutOfFDs
	js.lastUnreadablePIDs = append(js.lastUnreadablePIDs[:0:0], scan.UnreadablePIDs...)
	for ino, o := range js.orphans {
		if o.poll != js.poll {
			delete(js.orphans, ino)
		}
	}
	for slot, used := range a.slotUsed {
		if used {
			owned[a.slotPID[slot]] = struct{}{}
		}
	}
	if a.onlyNS != nil {
		// Holders from outside the namespace (a socket made there, then
		// setns back; one passed over a unix socket) stay scanned.
		clear(a.nsHolders)
		if a.nsHolders == nil {
			a.nsHolders = make(map[int32]bool, len(owned))
		}
		for p := range owned {
			a.nsHolders[p] = true
		}
	}

	// Sockets without a file: infer from the same socket in the previous
	// poll, else from the listener of their local port. A socket is known
	// by its cookie: a TIME_WAIT socket inherits the cookie of the socket
	// it replaces (inet_twsk_alloc), an orphan keeps its own, and a cookie,
	// unlike a 4-tuple, is never reused. (A uint64 key also hashes far
	// cheaper than the 4-tuple did: that map was a fifth of a poll's CPU.)
	tup, refs, pids := &js.curTup, js.curRefs[:0], js.curPIDs[:0]
	if !js.noHistory {
		tup.reset(len(socks))
	}
	var live map[int32]bool // pids the scan saw, built when first needed
	prevGroups := js.lastGroups
	var groups map[int32][]int32
	leads := map[*int32][]int32{} // a listener's owners → its inferred owner
	for i := range socks {
		s := &socks[i]
		if s.Owners == nil && s.Inode != 0 {
			// A socket with a file that no read found this time: a
			// process re-read was late or cut short (a slow /proc under
			// load). The same socket (cookie) keeps the owners the
			// previous poll read for it while they are alive, instead
			// of turning "unknown" for a poll.
			if o, ok := js.prevOwners(s.Cookie); ok {
				if live == nil {
					live = make(map[int32]bool, len(scan.fds))
					for _, f := range scan.fds {
						live[f.pid] = true
					}
				}
				prev := js.prevPIDs[o.off : o.off+o.n]
				keep := len(prev) > 0
				for _, p := range prev {
					keep = keep && live[p]
				}
				if keep {
					start := len(arena)
					arena = append(arena, prev...)
					s.Owners = arena[start:len(arena):len(arena)]
					for _, p := range s.Owners {
						owned[p] = struct{}{}
					}
				}
			}
		}
		if s.Owners == nil && s.Inode == 0 {
			if o, ok := js.prevOwners(s.Cookie); ok {
				// Copy out of the previous poll's arena (reused).
				start := len(arena)
				arena = append(arena, js.prevPIDs[o.off:o.off+o.n]...)
				s.Owners, s.OwnerInferred = arena[start:len(arena):len(arena)], true
				if len(s.Owners) == 1 && groups[s.Owners[0]] == nil {
					if g := prevGroups[s.Owners[0]]; g != nil {
						// Still a group's: copied once, not pinning
						// the previous poll's arena.
						if groups == nil {
							groups = map[int32][]int32{}
						}
						groups[s.Owners[0]] = append([]int32(nil), g...)
					}
				}
			} else if o := matchListener(listeners[s.Local.Port()], s.Local.Addr()); o != nil {
				if len(o) > 1 {
					// A listener shared by a pre-fork server's workers:
					// its inferred sockets are the group's, counted once
					// under the group's oldest process, not once per
					// worker (1000 workers × 10k TIME_WAIT was 10
					// million owner entries a poll).
					lead := leads[unsafe.SliceData(o)]
					if lead == nil {
						start := len(arena)
						arena = append(arena, a.groupLead(o))
						lead = arena[start:len(arena):len(arena)]
						leads[unsafe.SliceData(o)] = lead
						if groups == nil {
							groups = map[int32][]int32{}
						}
						if g, dup := groups[lead[0]]; !dup || len(o) > len(g) {
							groups[lead[0]] = o
						}
					}
					o = lead
				}
				s.Owners, s.OwnerInferred = o, true
			}
			for _, p := range s.Owners {
				owned[p] = struct{}{}
			}
		}
		if s.Owners != nil && s.State != Listen && !js.noHistory {
			c := s.Cookie
			for j := hashCookie(c) & tup.mask; ; j = (j + 1) & tup.mask {
				v := tup.slots[j]
				if v == 0 {
					refs = append(refs, ownerRef{c, uint32(len(pids)), uint32(len(s.Owners))})
					pids = append(pids, s.Owners...)
					tup.slots[j] = uint32(len(refs))
					break
				}
				if refs[v-1].cookie == c {
					break // seen twice in one dump: the first one counts
				}
			}
		}
	}
	js.prevTup, js.curTup = js.curTup, js.prevTup
	js.prevRefs, js.curRefs = refs, js.prevRefs
	js.prevPIDs, js.curPIDs = pids, js.prevPIDs
	js.lastGroups = groups
	return a.details(owned, scan.fds, now)
}

// isLinks reports whether links are the latest scan's (a.links).
func (a *Attributor) isLinks(links []fdLink) bool {
	return links != nil && len(links) == len(a.links) && unsafe.SliceData(links) == unsafe.SliceData(a.links)
}

// groupLead picks the process a shared listener's inferred sockets are
// counted under: the oldest holder (a pre-fork server's master listened
// before it forked its workers), the lowest pid among equals.
func (a *Attributor) groupLead(owners []int32) int32 {
	lead := owners[0]
	best, _ := a.stat(lead)
	for _, p := range owners[1:] {
		st, ok := a.stat(p)
		switch {
		case !ok:
			continue
		case best.start == 0 || st.start < best.start || (st.start == best.start && p < lead):
			lead, best = p, st
		}
	}
	return lead
}

// stat reads /proc/PID/stat once per join.
func (a *Attributor) stat(pid int32) (procStat, bool) {
	if m, ok := a.stats[pid]; ok {
		return m.st, m.ok
	}
	st, ok := a.readStat(pid)
	if a.stats == nil {
		a.stats = make(map[int32]statMemo)
	}
	a.stats[pid] = statMemo{st, ok}
	return st, ok
}

// prevOwners returns the owners the socket with cookie c had in the
// previous poll.
func (js *joinState) prevOwners(c uint64) (ownerRef, bool) {
	t := &js.prevTup
	if len(t.slots) == 0 {
		return ownerRef{}, false
	}
	for j := hashCookie(c) & t.mask; ; j = (j + 1) & t.mask {
		v := t.slots[j]
		if v == 0 {
			return ownerRef{}, false
		}
		if o := js.prevRefs[v-1]; o.cookie == c {
			return o, true
		}
	}
}

// buildTable indexes links by inode: one slot per process, extra owners of
// shared sockets in a.extra.
func (a *Attributor) buildTable(links []fdLink) {
	a.table.reset(len(links))
	a.slotPID, a.slotUsed = a.slotPID[:0], a.slotUsed[:0]
	clear(a.extra)
	var slotOf map[int32]int32
	last := int32(-1)
	for i, l := range links {
		// Links come grouped by process: a new slot when the pid changes
		// (a map only for ungrouped input, as in tests).
		if i == 0 || l.pid != a.slotPID[last] {
			if slotOf == nil {
				slotOf = make(map[int32]int32)
			}
			s, ok := slotOf[l.pid]
			if !ok {
				s = int32(len(a.slotPID))
				slotOf[l.pid] = s
				a.slotPID = append(a.slotPID, l.pid)
				a.slotUsed = append(a.slotUsed, false)
			}
			last = s
		}
		if v, dup := a.table.put(l.inode, last); dup && v != last {
			if a.extra == nil {
				a.extra = make(map[uint32][]int32)
			}
			if !containsPID(a.extra[l.inode], l.pid) {
				a.extra[l.inode] = append(a.extra[l.inode], l.pid)
			}
		}
	}
}

// assign sets the Owners of the sockets that have a file from the table
// (clearing every other socket's), marks the slots used, collects the
// listeners' owners, and counts the sockets whose inode no process is known
// to hold, leaving out orphans not yet due. With final, every such inode
// becomes an orphan: a read of every process after the dump did not find
// it.
func (a *Attributor) assign(js *joinState, socks []Socket, arena *[]int32, owned map[int32]struct{}, listeners map[uint16][]listenerOwner, now time.Time, final bool) int {
	missed := 0
	ar := *arena
	for i := range socks {
		s := &socks[i]
		s.Owners, s.OwnerInferred = nil, false
		if s.Inode == 0 {
			continue
		}
		slot, ok := a.table.get(s.Inode)
		if !ok {
			if a.orphan(js, s.Inode, now, final) {
				missed++
			}
			continue
		}
		a.slotUsed[slot] = true
		start := len(ar)
		ar = append(ar, a.slotPID[slot])
		if len(a.extra) > 0 {
			if ex := a.extra[s.Inode]; len(ex) > 0 {
				ar = append(ar, ex...)
				for _, p := range ex {
					owned[p] = struct{}{}
				}
			}
		}
		s.Owners = ar[start:len(ar):len(ar)]
		if s.State == Listen {
			listeners[s.Local.Port()] = append(listeners[s.Local.Port()], listenerOwner{s.Local.Addr(), s.Owners})
		}
	}
	*arena = ar
	return missed
}

// orphan handles an inode no process is known to hold: it reports whether
// it is worth another look (not a known orphan, or one that is due), and
// with final records it as an orphan instead.
func (a *Attributor) orphan(js *joinState, ino uint32, now time.Time, final bool) bool {
	o, known := js.orphans[ino]
	if known && now.Before(o.due) {
		o.poll = js.poll
		js.orphans[ino] = o
		return false
	}
	if final {
		if js.orphans == nil {
			js.orphans = make(map[uint32]orphan)
		}
		js.orphans[ino] = orphan{due: now.Add(a.refresh()), poll: js.poll}
		return false
	}
	return true
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

func containsPID(ps []int32, p int32) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// refresh is Refresh or its default.
func (a *Attributor) refresh() time.Duration {
	if a.Refresh > 0 {
		return a.Refresh
	}
	return defaultRefresh
}

// details returns the Process of every pid in owned, from the cache when
// the pid still has the same start time (or its start time cannot be read
// at all: out of file descriptors, or gone since the scan). A process
// whose comm changed (a rename, an exec) is read again, and its command
// line at least every cmdlineRefresh (setproctitle). Each poll gets its
// own copies: the open-fd count changes between polls, and an older
// Sample may still be on screen. A cached process is dropped once it has
// owned no socket of any namespace for a refresh period.
func (a *Attributor) details(owned map[int32]struct{}, fds []pidCount, now time.Time) map[int32]*Process {
	out := make(map[int32]*Process, len(owned))
	procs := make([]Process, 0, len(owned))
	for pid := range owned {
		st, ok := a.stat(pid)
		e := a.procs[pid]
		switch {
		case e == nil || (ok && e.start != st.start):
			e = &procEntry{start: st.start, comm: st.comm, proc: a.readProcess(pid, st, ok), cmdDue: now.Add(cmdlineRefresh)}
			e.proc.Start = st.start
			a.procs[pid] = e
		case ok && st.comm != e.comm:
			// Renamed (prctl PR_SET_NAME) or exec'd: what it is called
			// now, not what it was.
			p := a.readProcess(pid, st, true)
			p.Start = e.start
			e.proc, e.comm, e.cmdDue = p, st.comm, now.Add(cmdlineRefresh)
		case now.After(e.cmdDue):
			if cmd, argv0, err := a.readCmdline(pid); err == nil {
				p := *e.proc
				p.Cmdline, p.Name = cmd, longName(e.comm, argv0)
				if e.comm == "" {
					p.Name = e.proc.Name
				}
				e.proc = &p
			}
			e.cmdDue = now.Add(cmdlineRefresh)
		}
		e.used = now
		procs = append(procs, *e.proc)
		p := &procs[len(procs)-1]
		p.FDs = -1
		p.User = a.users.name(p.UID)
		out[pid] = p
	}
	for _, c := range fds {
		if p := out[c.pid]; p != nil {
			p.FDs = c.n
		}
	}
	keep := a.refresh()
	for pid, e := range a.procs {
		if now.Sub(e.used) > keep {
			delete(a.procs, pid)
		}
	}
	return out
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
	v, ok := atoiInt31(b)
	return v, ok && v > 0
}

// atoiInt31 parses a decimal in 0..2^31-1 without allocating.
func atoiInt31(b []byte) (int32, bool) {
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
	if v > 1<<31-1 {
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
