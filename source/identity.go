package source

import (
	"bytes"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// What a process is called: its name, command line and user, read from
// /proc by tcptop itself (no library that reads whole files or asks NSS
// on the poll path).
//
//   - The name is comm, from the /proc/PID/stat line the start time comes
//     from (read every poll for every owner anyway). A comm of 15 bytes
//     (the kernel's cut) is lengthened from argv[0] when that starts with
//     it, as ps and gopsutil do.
//   - The command line keeps at most MaxCmdline bytes; a longer one is cut
//     at a character boundary and ends with CmdlineCut.
//   - Both are refreshed when the comm in stat changes (prctl PR_SET_NAME,
//     exec) and the command line at least every cmdlineRefresh
//     (setproctitle rewrites argv without touching comm).
//   - The user name comes from userNames: once per uid, never waited for.

// MaxCmdline is how many bytes of a command line tcptop keeps (20
// processes with 6 MB command lines once drove a --once run to 1 GB).
const MaxCmdline = 4096

// CmdlineCut ends a command line that was longer than MaxCmdline.
const CmdlineCut = " …[cut]"

// cmdlineRefresh is how often a cached command line is read again while
// the comm is unchanged (setproctitle changes only the command line).
const cmdlineRefresh = 10 * time.Second

// commLen is the length the kernel cuts comm to (TASK_COMM_LEN - 1).
const commLen = 15

// procStat is what tcptop takes from /proc/PID/stat.
type procStat struct {
	start uint64
	comm  string
}

// readStat reads /proc/PID/stat: start time and comm.
func (a *Attributor) readStat(pid int32) (procStat, bool) {
	b, _, err := readRegular(a.ProcRoot+"/"+strconv.Itoa(int(pid))+"/stat", 4096)
	if err != nil {
		return procStat{}, false
	}
	start, ok := parseStatStart(b)
	if !ok {
		return procStat{}, false
	}
	return procStat{start: start, comm: parseStatComm(b)}, true
}

// parseStatComm returns field 2 of a stat line, without its parentheses.
func parseStatComm(b []byte) string {
	i, j := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if i < 0 || j <= i {
		return ""
	}
	return string(b[i+1 : j])
}

// readCmdline reads at most MaxCmdline bytes of /proc/PID/cmdline, its
// arguments joined by spaces; cut reports a longer one.
func (a *Attributor) readCmdline(pid int32) (cmd string, argv0 string, err error) {
	b, cut, err := readRegular(a.ProcRoot+"/"+strconv.Itoa(int(pid))+"/cmdline", MaxCmdline)
	if err != nil {
		return "", "", err
	}
	return formatCmdline(b, cut)
}

// formatCmdline joins NUL-separated arguments with spaces (empty ones
// dropped, as gopsutil did) and marks a cut one.
func formatCmdline(b []byte, cut bool) (string, string, error) {
	if cut {
		// Do not end inside a UTF-8 sequence.
		for k := 1; k <= utf8.UTFMax && k <= len(b); k++ {
			if utf8.RuneStart(b[len(b)-k]) {
				if !utf8.FullRune(b[len(b)-k:]) {
					b = b[:len(b)-k]
				}
				break
			}
		}
	}
	argv0 := b
	if i := bytes.IndexByte(b, 0); i >= 0 {
		argv0 = b[:i]
	}
	fields := bytes.FieldsFunc(b, func(r rune) bool { return r == 0 })
	s := string(bytes.Join(fields, []byte(" ")))
	if cut {
		s += CmdlineCut
	}
	return s, string(argv0), nil
}

// readUID returns the process's user: the owner of /proc/PID, its
// effective uid as ps shows it (one stat, ~2 µs). A non-dumpable process's
// directory belongs to root whatever its user, so for root the real uid
// is read from /proc/PID/status ("Uid:\treal\t..."), which the kernel
// makes at a cost of up to 200 µs on a busy machine.
func (a *Attributor) readUID(pid int32) (int32, bool) {
	var st unix.Stat_t
	if err := unix.Stat(a.ProcRoot+"/"+strconv.Itoa(int(pid)), &st); err == nil && st.Uid != 0 && st.Uid < 1<<31 {
		return int32(st.Uid), true
	}
	b, _, err := readRegular(a.ProcRoot+"/"+strconv.Itoa(int(pid))+"/status", 64<<10)
	if err != nil {
		return -1, false
	}
	i := bytes.Index(b, []byte("\nUid:"))
	if i < 0 {
		return -1, false
	}
	f := bytes.Fields(b[i+5:])
	if len(f) == 0 {
		return -1, false
	}
	v, ok := atoiInt31(f[0])
	return v, ok
}

// readProcess reads name, command line, uid and fd limit. Fields it cannot
// read (a process that just exited, or no permission) stay empty; the name
// falls back to "?". The user is filled by the caller (see userNames).
func (a *Attributor) readProcess(pid int32, st procStat, haveStat bool) *Process {
	p := &Process{PID: pid, UID: -1, Name: "?"}
	if haveStat && st.comm != "" {
		p.Name = st.comm
	}
	cmd, argv0, err := a.readCmdline(pid)
	if err == nil {
		p.Cmdline = cmd
		p.Name = longName(p.Name, argv0)
	}
	if uid, ok := a.readUID(pid); ok {
		p.UID = uid
	}
	// The limit is read once per process (cached with it): prlimit(1) on a
	// running process is rare, and a stale value only misstates headroom.
	if b, _, err := readRegular(a.ProcRoot+"/"+strconv.Itoa(int(pid))+"/limits", 64<<10); err == nil {
		p.FDLimit, _ = ParseNoFileLimit(b)
	}
	return p
}

// longName lengthens a comm the kernel cut to 15 bytes from argv[0].
func longName(comm, argv0 string) string {
	if len(comm) < commLen || argv0 == "" {
		return comm
	}
	if base := filepath.Base(argv0); len(base) > len(comm) && base[:len(comm)] == comm {
		return base
	}
	return comm
}

// userNames turns uids into user names: once per uid, never on the poll's
// time. /etc/passwd is parsed by tcptop itself (re-read when it changes);
// a uid it does not list (LDAP, sssd, systemd-userdb) is looked up through
// os/user (NSS, with cgo) by one background goroutine, one uid at a time:
// a hung NSS backend (an unanswering userdb socket took 45 s a lookup)
// holds up only that goroutine, never a poll or a signal. Until a name is
// known the uid is shown as a number.
type userNames struct {
	passwd string
	lookup func(uid string) (string, error)

	mu      sync.Mutex
	names   map[int32]string
	failed  map[int32]time.Time // NSS said no: when to ask again
	pending map[int32]bool
	queue   chan int32
	started bool
	// passwd's identity at its last parse.
	pwMod  time.Time
	pwSize int64
	pw     map[int32]string
}

// retryUnknownUser is how long a uid NSS could not name stays a number
// before it is asked again.
const retryUnknownUser = 5 * time.Minute

func newUserNames(passwd string, lookup func(string) (string, error)) *userNames {
	if lookup == nil {
		lookup = func(uid string) (string, error) {
			u, err := user.LookupId(uid)
			if err != nil {
				return "", err
			}
			return u.Username, nil
		}
	}
	return &userNames{passwd: passwd, lookup: lookup, names: map[int32]string{},
		failed: map[int32]time.Time{}, pending: map[int32]bool{}}
}

// name returns the user name of uid, or the uid as a number while it is
// not known (a lookup then runs in the background).
func (u *userNames) name(uid int32) string {
	if uid < 0 {
		return ""
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if n, ok := u.names[uid]; ok {
		return n
	}
	u.readPasswd()
	if n, ok := u.pw[uid]; ok {
		u.names[uid] = n
		return n
	}
	if until, ok := u.failed[uid]; (!ok || time.Now().After(until)) && !u.pending[uid] {
		if !u.started {
			u.started = true
			u.queue = make(chan int32, 1024)
			go u.run()
		}
		select {
		case u.queue <- uid:
			u.pending[uid] = true
		default: // the lookups are stuck: ask again next poll
		}
	}
	return strconv.Itoa(int(uid))
}

// run answers queued lookups, one at a time.
func (u *userNames) run() {
	for uid := range u.queue {
		n, err := u.lookup(strconv.Itoa(int(uid)))
		u.mu.Lock()
		delete(u.pending, uid)
		if err == nil && n != "" {
			u.names[uid] = n
		} else {
			u.failed[uid] = time.Now().Add(retryUnknownUser)
		}
		u.mu.Unlock()
	}
}

// readPasswd parses the passwd file when it changed since the last parse.
// Called with u.mu held.
func (u *userNames) readPasswd() {
	fi, err := os.Stat(u.passwd)
	if err != nil || !fi.Mode().IsRegular() {
		return
	}
	if u.pw != nil && fi.ModTime().Equal(u.pwMod) && fi.Size() == u.pwSize {
		return
	}
	b, _, err := readRegular(u.passwd, 64<<20)
	if err != nil {
		return
	}
	u.pwMod, u.pwSize = fi.ModTime(), fi.Size()
	u.pw = parsePasswd(b)
}

// parsePasswd maps uids to names from passwd(5) lines; the first line of
// a uid wins, as getpwuid does.
func parsePasswd(b []byte) map[int32]string {
	m := map[int32]string{}
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		f := bytes.SplitN(line, []byte(":"), 4)
		if len(f) < 4 || len(f[0]) == 0 || f[0][0] == '+' || f[0][0] == '-' || f[0][0] == '#' {
			continue
		}
		uid, ok := atoiInt31(f[2])
		if !ok {
			continue
		}
		if _, dup := m[uid]; !dup {
			m[uid] = string(f[0])
		}
	}
	return m
}
