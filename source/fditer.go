package source

import (
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/tcptop/tcptop/source/ebpf/sockfds"
)

// The fast path of the fd scan: a BPF task_file iterator (package
// sockfds) lists every socket fd of every process in one pass, ~0.3 µs a
// file in the kernel, where /proc costs a readlinkat per fd (~2 µs, see
// fdscan.go). The scan still stats every /proc/PID/fd (the cache's inode
// and fd count come from there); only the reading in full is replaced,
// and only when there is much to read (a cold start, every process
// changed): a warm poll reads a few processes through /proc, which costs
// less than walking every file on the machine.
//
// It is used only where it sees exactly what /proc would show:
//
//   - ProcRoot is /proc, and it is this process's: the iterator names
//     processes by their pid in the initial pid namespace, so tcptop must
//     be in that namespace (/proc/self/ns/pid is PROC_PID_INIT_INO) and
//     /proc/self must be tcptop's own pid (a /proc mounted from another
//     pid namespace would name others);
//   - the kernel reports the fd count as the st_size of /proc/PID/fd
//     (Linux 6.2+): the count replaces the listing;
//   - the iterator ignores permissions: a process counts as read only
//     if tcptop may open its /proc/PID/fdinfo, which the kernel allows
//     on the same ptrace check as reading its fd links (fdscan.go,
//     iterRead);
//   - the program loads: CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN), the
//     kernel's BTF, Linux 5.8+.
//
// Otherwise, or when a pass fails, the scan reads /proc as before; the
// reason is in Attributor.FDIterStatus. Only thread group leaders' files
// are listed (see bpf/sockfds.bpf.c), as /proc/PID/fd shows the leader's
// table.

// Measured at 100k sockets (80,000 socket fds, 2 cores): /proc reads
// ~2.1 µs of wall time per fd with its workers, the iterator walks
// ~0.3 µs per file, loading it costs ~4.5 ms (sockfds.Load; ~55 ms on its
// fallback through cilium/ebpf's full CO-RE). In CPU, what a monitor
// pays: reading one process's 14,943 fds through /proc took 55-58 ms,
// 3.7 µs an fd over the two workers, and a pass over all 90,370 socket
// fds on the machine 26-40 ms, 0.3-0.45 µs a file (issue 18; 2026-12-01).
//
// A pass lists every process: the ones whose cache was still trusted are
// refreshed from it too (alsoFromPass, fdscan.go), and come due again
// together.
const (
	// fdIterMinFDs is how many fds there must be to read in full for a
	// scan to run the iterator once it is loaded: below, /proc is about
	// as fast and leaves the iterator's fixed costs out.
	fdIterMinFDs = 2048
	// fdIterLoadFDs is the same before the first use, which loads it:
	// /proc reads ~2,000 fds in the time of the load.
	fdIterLoadFDs = 8192
	// fdIterShare: at least 1/fdIterShare of all the fds of the processes
	// checked must be to read, since the iterator walks every file of
	// every process, at ~a tenth of the CPU of a read through /proc each.
	// (It was 4, from wall times: a monitor at 100k sockets then read
	// 15,000-fd processes through /proc for twice the CPU of a pass.)
	fdIterShare = 10
)

// procPIDInitIno is the inode of the initial pid namespace
// (PROC_PID_INIT_INO).
const procPIDInitIno = 0xEFFFFFFC

// fdIter is the Attributor's iterator state.
type fdIter struct {
	tried  bool
	lister *sockfds.Lister
	err    error // why it is not used (nil: usable)
	// minFDs overrides the thresholds when > 0 (tests: -1 is always).
	minFDs int
	passes int
	recs   []sockfds.FD
	// spans maps a tgid to its records in recs.
	spans map[int32][2]int32
}

// FDIterStatus says whether the scan's BPF fast path is in use: how many
// scans it has served and, when it cannot be used, why (one line for
// people). Before the first scan with much to read it has not been tried:
// err is nil and passes 0.
func (a *Attributor) FDIterStatus() (passes int, err error) {
	if a.NoFDIter && a.iter.lister == nil {
		return a.iter.passes, errOff
	}
	return a.iter.passes, a.iter.err
}

// errOff is the status of an Attributor with NoFDIter.
var errOff = errors.New("off")

// iterUsable reports whether the iterator may serve a scan that must read
// pending fds of total, loading it at the first use that is worth it.
func (a *Attributor) iterUsable(pending, total int64) bool {
	it := &a.iter
	if it.tried && it.lister == nil {
		return false
	}
	min := int64(fdIterLoadFDs)
	if it.lister != nil {
		min = fdIterMinFDs
	}
	switch {
	case it.minFDs < 0:
	case it.minFDs > 0:
		if pending < int64(it.minFDs) {
			return false
		}
	default:
		if pending < min || pending*fdIterShare < total {
			return false
		}
	}
	if !it.tried {
		it.tried = true
		if it.err = a.iterAllowed(); it.err == nil {
			it.lister, it.err = sockfds.Load("")
		}
	}
	return it.lister != nil
}

// iterAllowed checks what the iterator needs to show what /proc shows.
func (a *Attributor) iterAllowed() error {
	if a.NoFDIter {
		return errOff
	}
	if a.ProcRoot != "/proc" {
		return fmt.Errorf("procfs at %s, not /proc", a.ProcRoot)
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/pid", &st); err != nil {
		return fmt.Errorf("pid namespace: %v", err)
	}
	if st.Ino != procPIDInitIno {
		return errors.New("not in the initial pid namespace")
	}
	self, err := os.Readlink("/proc/self")
	if err != nil || self != strconv.Itoa(os.Getpid()) {
		return errors.New("/proc is not the initial pid namespace's")
	}
	if err := unix.Stat("/proc/self/fd", &st); err != nil || st.Size == 0 {
		return errors.New("the kernel does not report fd counts (Linux 6.2+)")
	}
	return nil
}

// iterPass lists every socket fd (pending: the fds to read, a size hint) and indexes the records by tgid. On
// error the scan reads /proc, and the iterator is dropped for good unless
// the error was tcptop running out of descriptors.
func (a *Attributor) iterPass(pending int64) bool {
	it := &a.iter
	if int64(cap(it.recs)) < pending {
		// Most fds to read are sockets: one allocation for the pass.
		it.recs = make([]sockfds.FD, 0, pending)
	}
	recs, err := it.lister.List(it.recs[:0])
	if errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) {
		return false // no descriptor for the pass: this scan reads /proc
	}
	if err != nil {
		it.lister.Close()
		it.lister, it.err = nil, err
		return false
	}
	// The kernel lists tasks by pid, each one's files together; sort
	// only if a pass ever comes out otherwise.
	if !slices.IsSortedFunc(recs, func(x, y sockfds.FD) int { return int(x.TGID) - int(y.TGID) }) {
		slices.SortStableFunc(recs, func(x, y sockfds.FD) int { return int(x.TGID) - int(y.TGID) })
	}
	it.recs = recs
	if it.spans == nil {
		it.spans = make(map[int32][2]int32)
	}
	clear(it.spans)
	for i := 0; i < len(recs); {
		j := i + 1
		for j < len(recs) && recs[j].TGID == recs[i].TGID {
			j++
		}
		it.spans[recs[i].TGID] = [2]int32{int32(i), int32(j)}
		i = j
	}
	it.passes++
	return true
}

// iterSocks appends the socket inodes process pid held at the last pass.
func (a *Attributor) iterSocks(socks []uint32, pid int32) []uint32 {
	sp, ok := a.iter.spans[pid]
	if !ok {
		return socks
	}
	for _, r := range a.iter.recs[sp[0]:sp[1]] {
		if r.Inode != 0 && r.Inode <= math.MaxUint32 { // as parseSocketLink
			socks = append(socks, uint32(r.Inode))
		}
	}
	return socks
}
