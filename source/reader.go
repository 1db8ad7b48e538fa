package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Reader produces Samples. The kernel is one Reader; a recorded or
// synthetic sample can stand in for it in tests and replays.
type Reader interface {
	Read(ctx context.Context) (*Sample, error)
}

// Options configures a Kernel reader of one namespace with a Machine of
// its own (see Open).
type Options struct {
	// ProcRoot is where procfs is mounted ("/proc" when empty).
	ProcRoot string
	// Netns is a namespace name (as `ip netns list` shows it) or a path
	// such as /proc/PID/ns/net; "" reads the caller's own namespace.
	Netns string
	// States selects the socket states to dump (AllStatesMask when 0).
	States StateMask
	// Ext selects optional per-socket attributes; none for a plain poll.
	Ext Extensions
	// Attribute maps sockets to processes through /proc/*/fd.
	Attribute bool
	// CloseWaitInfo is ReadOptions.CloseWaitInfo.
	CloseWaitInfo int
	// Tracer adds eBPF aggregates to each Sample (nil: none).
	Tracer Tracer
	// OneRead is ReadOptions.OneRead.
	OneRead bool
	// Scheduled is ReadOptions.Scheduled.
	Scheduled bool
}

// Kernel reads Samples of one network namespace from the running kernel.
// It owns the namespace's handle, its sock_diag socket (created inside the
// namespace) and its dump size hint; process attribution comes from its
// Machine, shared with the machine's other readers. Read must not be
// called concurrently on one Kernel; different Kernels may read at once.
type Kernel struct {
	m      *Machine
	opts   ReadOptions
	ns     *Namespace
	dumper *Dumper
	last   int       // sockets in the last dump, for the next size hint
	dumped bool      // a dump succeeded: this is no longer the first read
	js     joinState // this namespace's attribution history
	round  uint64    // the last scan round this reader took part in
	// The CLOSE_WAIT sockets' tcp_info of the last masked dump, by
	// cookie, and when it ran (closewait.go).
	cwInfo map[uint64]TCPInfo
	// splits counts the reads whose dump was split (dump; tests).
	splits int
	cwAt   time.Time
	// The last full read's ESTABLISHED sockets (schedule_dump.go).
	carry carry
}

// Open prepares a Kernel reader of one namespace, with a Machine of its
// own: NewMachine(opts.ProcRoot, opts.Attribute).Open(opts.Netns, ...).
// To read several namespaces, make one Machine and open a reader of each
// with it, so that they share one /proc scan.
//
// A reader of another namespace than the caller's (opts.Netns set) scans
// only the processes of that namespace, plus those found holding its
// sockets from outside (see Machine.scanOnly).
func Open(opts Options) (*Kernel, error) {
	m := NewMachine(opts.ProcRoot, opts.Attribute)
	m.SetTracer(opts.Tracer)
	k, err := m.Open(opts.Netns, ReadOptions{States: opts.States, Ext: opts.Ext, CloseWaitInfo: opts.CloseWaitInfo, OneRead: opts.OneRead, Scheduled: opts.Scheduled})
	if err == nil && opts.Netns != "" && !k.ns.Own {
		m.scanOnly(k.ns.ID)
	}
	return k, err
}

// Close releases the netlink socket and namespace handles.
func (k *Kernel) Close() error {
	var err error
	if k.dumper != nil {
		err = k.dumper.Close()
	}
	k.ns.Close()
	return err
}

// Namespace returns the label of the namespace being read (see
// Namespace.Label).
func (k *Kernel) Namespace() string { return k.ns.Label() }

// Netns returns the namespace being read (owned by the Kernel: do not
// close it).
func (k *Kernel) Netns() *Namespace { return k.ns }

// Machine returns the Machine the reader shares attribution with.
func (k *Kernel) Machine() *Machine { return k.m }

// Read takes one Sample. Only a failed socket dump is an error; unreadable
// /proc files become warnings on the Sample.
func (k *Kernel) Read(ctx context.Context) (*Sample, error) {
	s, err := k.read(ctx)
	if err == nil {
		k.keepFull(s) // for ReadPartial (schedule_dump.go)
	}
	return s, err
}

// read is one poll with the reader's options.
func (k *Kernel) read(ctx context.Context) (*Sample, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m := k.m
	t0 := time.Now()
	s := &Sample{Time: t0, Host: m.host, Netns: k.ns.Label(), Privileged: os.Geteuid() == 0}
	// The /proc scan needs no sockets: run it on the other core while the
	// kernel dumps (or share the round's, see Machine), and match the two
	// afterwards.
	var round *scanRound
	started := false
	if m.attr != nil {
		round, started = m.scanFor(k)
	}
	hint := k.sizeHint()
	socks, err := k.dump(hint)
	if err == nil {
		k.last, k.dumped = len(socks), true
		if aerr := k.ageCloseWait(socks); aerr != nil {
			s.Warnings = append(s.Warnings, Warning{Kind: WarnCloseWaitAge, Err: aerr})
		}
		if derr := k.listenDrops(socks); derr != nil {
			s.Warnings = append(s.Warnings, Warning{Kind: WarnListenDrops, Err: derr})
		}
	}
	t1 := time.Now()
	if round != nil {
		<-round.done
	}
	if err != nil {
		if errors.Is(err, ErrNoInetDiag) {
			return nil, err
		}
		return nil, fmt.Errorf("dump TCP sockets: %w", err)
	}
	s.Took.Dump = t1.Sub(t0)

	if round != nil {
		t2 := time.Now()
		switch {
		case round.err != nil && isOutOfFDs(round.err):
			s.Warnings = append(s.Warnings, Warning{Kind: WarnOutOfFDs, Err: round.err})
		case round.err != nil:
			s.Warnings = append(s.Warnings, Warning{Kind: WarnAttribution, Err: round.err})
		default:
			m.attrMu.Lock()
			s.Procs = m.attr.joinLatest(&k.js, socks)
			s.Unreadable, s.Attributed = k.js.lastUnreadable, true
			s.Groups = k.js.lastGroups
			s.UnreadablePIDs = k.js.lastUnreadablePIDs
			noFDs, fdErr := k.js.lastOutOfFDs, m.attr.last.FDErr
			m.attrMu.Unlock()
			if noFDs > 0 {
				s.Warnings = append(s.Warnings, Warning{Kind: WarnOutOfFDs,
					Err: fmt.Errorf("%w; %d %s not read", fdErr, noFDs, plural(noFDs, "process", "processes"))})
			}
		}
		// Attribution cost the scan (when this read started it: it
		// overlapped the dump) plus the join.
		s.Took.Attribute = time.Since(t2)
		if started {
			s.Took.Attribute += round.took
		}
	}
	t2 := time.Now()
	s.Sockets = socks

	fs := ProcFS{Root: m.procRoot}
	err = k.ns.Do(func() error {
		nameScopes(s.Sockets)
		var w []Warning
		s.Sysctl, w = fs.ReadSysctls()
		s.Warnings = append(s.Warnings, w...)
		s.Counters, w = fs.ReadCounters()
		s.Warnings = append(s.Warnings, w...)
		s.Sockstat, w = fs.ReadSockstat()
		s.Warnings = append(s.Warnings, w...)
		return nil
	})
	if err != nil {
		s.Warnings = append(s.Warnings, Warning{Kind: WarnNamespace, Name: k.ns.Label(), Err: err})
	}
	if k.ns.entered() && len(s.Sysctl.Missing) > 0 {
		s.Warnings = fillGlobalSysctls(fs, &s.Sysctl, s.Warnings)
	}
	s.Warnings = quietGlobalSysctls(s.Sysctl.Missing, s.Warnings)
	if m.tracer != nil {
		s.EBPF = m.tracer.Read(k.ns.ID.Inode)
	}
	t3 := time.Now()
	s.Took.Proc = t3.Sub(t2)
	s.Took.Total = t3.Sub(t0)
	return s, nil
}

// splitDumpMin is the fewest sockets (the namespace's sockstat count,
// before the first dump) for which the first read splits its dump over
// two netlink sockets (Dumper.DumpSplit). A variable so that tests can
// make small tables take that path.
var splitDumpMin = 20000

// dump is the read's socket dump. The first read of a big table (the
// whole of a --once, and a monitor's first screen) splits it in two
// halves dumped at once on two cores: at 100k sockets the dump is most of
// a --once's wall time, and a second core halves the messages each walk
// builds and parses. Later reads dump on one socket: the monitor's cost
// is CPU, and each half walks the whole table. Where the split cannot be
// made (one CPU, no second socket, a kernel that refuses the filter) it
// is the plain dump.
func (k *Kernel) dump(hint int) ([]Socket, error) {
	states, ext := k.opts.States, k.opts.Ext
	if k.dumped || hint < splitDumpMin || runtime.NumCPU() < 2 {
		return k.dumper.Dump(states, ext, hint)
	}
	var other *Dumper
	mid := uint16(46884) // the middle of Linux's default 32768-60999
	err := k.ns.Do(func() error {
		var err error
		if other, err = NewDumper(); err != nil {
			return err
		}
		if b, err := os.ReadFile(k.m.procRoot + "/sys/net/ipv4/ip_local_port_range"); err == nil {
			if lo, hi, err := ParsePortRange(string(b)); err == nil && hi > lo {
				mid = uint16((lo + hi + 1) / 2)
			}
		}
		return nil
	})
	if err != nil {
		return k.dumper.Dump(states, ext, hint)
	}
	defer other.Close()
	socks, err := k.dumper.DumpSplit(other, mid, states, ext, hint)
	if err != nil && !errors.Is(err, ErrNoInetDiag) {
		return k.dumper.Dump(states, ext, hint)
	}
	if err == nil {
		k.splits++
	}
	return socks, err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// sizeHint guesses how many sockets the next dump returns: the last count,
// or before the first dump the kernel's own tally in sockstat, so the
// first dump allocates once instead of growing.
func (k *Kernel) sizeHint() int {
	n := k.last
	if n == 0 {
		_ = k.ns.Do(func() error {
			n = countFromSockstat(k.m.procRoot)
			return nil
		})
	}
	return n + n/8 + 64
}

// countFromSockstat adds TCP inuse and tw from sockstat (IPv4) and inuse
// from sockstat6, read in the calling thread's namespace.
func countFromSockstat(root string) int {
	n := 0
	if st, w := (ProcFS{Root: root}).ReadSockstat(); len(w) == 0 {
		n += int(st.InUse + st.TW)
	}
	if b, err := readProcFile(root + "/thread-self/net/sockstat6"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) >= 3 && f[0] == "TCP6:" && f[1] == "inuse" {
				if v, err := strconv.Atoi(f[2]); err == nil {
					n += v
				}
			}
		}
	}
	return n
}

// globalSysctls are tunables the kernel keeps for the whole machine: they
// are visible only in the initial network namespace, and apply to all.
var globalSysctls = map[string]func(*Sysctls) *int{
	"net.ipv4.tcp_max_orphans": func(s *Sysctls) *int { return &s.MaxOrphans },
}

// quietGlobalSysctls drops the warnings of global tunables that are still
// missing: run inside a non-initial namespace (ip netns exec, a container)
// the kernel does not show them there at all, and saying so every poll is
// noise. They stay in Sysctls.Missing and show as unreadable.
func quietGlobalSysctls(missing []string, warns []Warning) []Warning {
	for _, name := range missing {
		if _, global := globalSysctls[name]; global {
			warns = dropSysctlWarning(warns, name)
		}
	}
	return warns
}

// dropSysctlWarning removes the warnings about the tunable name.
func dropSysctlWarning(warns []Warning, name string) []Warning {
	return slices.DeleteFunc(warns, func(w Warning) bool {
		return w.Kind == WarnSysctl && w.Name == name
	})
}

// fillGlobalSysctls reads the global tunables missing inside another
// namespace from the caller's own, dropping their warnings.
func fillGlobalSysctls(fs ProcFS, sc *Sysctls, warns []Warning) []Warning {
	var host *Sysctls
	missing := sc.Missing[:0:0]
	for _, name := range sc.Missing {
		field, global := globalSysctls[name]
		if !global {
			missing = append(missing, name)
			continue
		}
		if host == nil {
			h, _ := fs.ReadSysctls()
			host = &h
		}
		v, ok := host.Raw[name]
		if !ok {
			missing = append(missing, name)
			continue
		}
		sc.Raw[name] = v
		*field(sc) = *field(host)
		warns = dropSysctlWarning(warns, name)
	}
	sc.Missing = missing
	return warns
}
