package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Reader produces Samples. The kernel is one Reader; a recorded or
// synthetic sample can stand in for it in tests and replays.
type Reader interface {
	Read(ctx context.Context) (*Sample, error)
}

// Options configures a Kernel reader.
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
}

// Kernel reads Samples from the running kernel.
type Kernel struct {
	opts   Options
	ns     *Namespace
	dumper *Dumper
	attr   *Attributor
	host   string
	last   int
}

// Open prepares a Kernel reader: it enters the namespace once to open the
// sock_diag socket there and checks that the kernel answers TCP dumps, so
// that a missing namespace, a lack of privilege or a kernel without
// inet_diag is reported before the first poll.
func Open(opts Options) (*Kernel, error) {
	if opts.ProcRoot == "" {
		opts.ProcRoot = "/proc"
	}
	if opts.States == 0 {
		opts.States = AllStatesMask
	}
	ns, err := OpenNamespace(opts.Netns)
	if err != nil {
		return nil, err
	}
	k := &Kernel{opts: opts, ns: ns}
	err = ns.Do(func() error {
		d, err := NewDumper()
		if err != nil {
			return err
		}
		k.dumper = d
		return nil
	})
	if err != nil {
		ns.Close()
		return nil, err
	}
	// A LISTEN-only dump costs next to nothing and proves the kernel answers.
	if _, err := k.dumper.Dump(MaskOf(Listen), 0, 16); err != nil {
		k.Close()
		return nil, err
	}
	if opts.Attribute {
		k.attr = NewAttributor(opts.ProcRoot)
	}
	k.host, _ = os.Hostname()
	return k, nil
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

// Namespace returns the label of the namespace being read.
func (k *Kernel) Namespace() string { return k.ns.Label() }

// Read takes one Sample. Only a failed socket dump is an error; unreadable
// /proc files become warnings on the Sample.
func (k *Kernel) Read(ctx context.Context) (*Sample, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t0 := time.Now()
	s := &Sample{Time: t0, Host: k.host, Netns: k.ns.Label()}
	// The /proc scan needs no sockets: run it on the other core while the
	// kernel dumps, and match the two afterwards.
	var scan ScanResult
	var scanErr error
	scanned := make(chan struct{})
	if k.attr != nil {
		go func() {
			defer close(scanned)
			scan, scanErr = k.attr.Scan()
		}()
	} else {
		close(scanned)
	}
	socks, err := k.dumper.Dump(k.opts.States, k.opts.Ext, k.sizeHint())
	t1 := time.Now()
	<-scanned
	if err != nil {
		if errors.Is(err, ErrNoInetDiag) {
			return nil, err
		}
		return nil, fmt.Errorf("dump TCP sockets: %w", err)
	}
	k.last = len(socks)
	s.Took.Dump = t1.Sub(t0)

	if k.attr != nil {
		t2 := time.Now()
		if scanErr != nil {
			s.Warnings = append(s.Warnings, "process attribution: "+scanErr.Error())
		} else {
			s.Procs = k.attr.Join(socks, scan)
			s.Unreadable, s.Attributed = k.attr.lastUnreadable, true
		}
		// The scan overlapped the dump; its own time plus the join's is
		// what attribution cost.
		s.Took.Attribute = scan.Took + time.Since(t2)
	}
	t2 := time.Now()
	s.Sockets = socks

	fs := ProcFS{Root: k.opts.ProcRoot}
	err = k.ns.Do(func() error {
		var w []string
		s.Sysctl, w = fs.ReadSysctls()
		s.Warnings = append(s.Warnings, w...)
		s.Counters, w = fs.ReadCounters()
		s.Warnings = append(s.Warnings, w...)
		s.Sockstat, w = fs.ReadSockstat()
		s.Warnings = append(s.Warnings, w...)
		return nil
	})
	if err != nil {
		s.Warnings = append(s.Warnings, err.Error())
	}
	if k.ns.Name != "" && len(s.Sysctl.Missing) > 0 {
		s.Warnings = fillGlobalSysctls(fs, &s.Sysctl, s.Warnings)
	}
	s.Warnings = quietGlobalSysctls(s.Sysctl.Missing, s.Warnings)
	t3 := time.Now()
	s.Took.Proc = t3.Sub(t2)
	s.Took.Total = t3.Sub(t0)
	return s, nil
}

// sizeHint guesses how many sockets the next dump returns: the last count,
// or before the first dump the kernel's own tally in sockstat, so the
// first dump allocates once instead of growing.
func (k *Kernel) sizeHint() int {
	n := k.last
	if n == 0 {
		_ = k.ns.Do(func() error {
			n = countFromSockstat(k.opts.ProcRoot)
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
	if b, err := os.ReadFile(root + "/thread-self/net/sockstat6"); err == nil {
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
func quietGlobalSysctls(missing, warns []string) []string {
	for _, name := range missing {
		if _, global := globalSysctls[name]; !global {
			continue
		}
		kept := warns[:0]
		for _, w := range warns {
			if !strings.HasPrefix(w, "sysctl "+name+":") {
				kept = append(kept, w)
			}
		}
		warns = kept
	}
	return warns
}

// fillGlobalSysctls reads the global tunables missing inside another
// namespace from the caller's own, dropping their warnings.
func fillGlobalSysctls(fs ProcFS, sc *Sysctls, warns []string) []string {
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
		kept := warns[:0]
		for _, w := range warns {
			if !strings.HasPrefix(w, "sysctl "+name+":") {
				kept = append(kept, w)
			}
		}
		warns = kept
	}
	sc.Missing = missing
	return warns
}
