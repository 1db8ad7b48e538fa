package source

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Vitals are a namespace's cheap vital signs: the kernel's own running
// totals and counters for it, read from /proc/PID/net/{sockstat,sockstat6,
// snmp,netstat} of any process in the namespace (or through an entered
// thread for a namespace with no process). Reading them walks no socket
// table, so every namespace can have them every refresh.
type Vitals struct {
	// Time is when they were read.
	Time time.Time
	// OK reports that sockstat and snmp were read.
	OK bool
	// InUse4 and InUse6 are sockstat's and sockstat6's TCP "inuse": the
	// namespace's TCP sockets other than TIME_WAIT and request sockets.
	InUse4, InUse6 int64
	// TimeWait is sockstat's "tw": the namespace's TIME_WAIT sockets, IPv4
	// and IPv6 (one death row per namespace).
	TimeWait int64
	// CurrEstab is Tcp CurrEstab: ESTABLISHED plus CLOSE_WAIT sockets.
	CurrEstab int64
	// Counters are the Tcp (snmp) and TcpExt (netstat) counters by name.
	Counters map[string]int64
}

// Total is the namespace's TCP sockets as the kernel counts them:
// inuse of both families plus TIME_WAIT.
func (v *Vitals) Total() int64 { return v.InUse4 + v.InUse6 + v.TimeWait }

// ErrNoVitals is returned when no vital-sign file could be read.
var ErrNoVitals = errors.New("no vital signs readable")

// ReadVitals reads the vital signs from a network proc directory: dir is
// PROC/PID/net for a process's namespace, or PROC/thread-self/net on a
// thread that entered the namespace.
func ReadVitals(dir string) (Vitals, error) {
	v := Vitals{Time: time.Now(), Counters: make(map[string]int64, 48)}
	var errs []error
	okSockstat := false
	if b, err := os.ReadFile(dir + "/sockstat"); err == nil {
		if s, perr := ParseSockstat(bytes.NewReader(b)); perr == nil {
			v.InUse4, v.TimeWait = s.InUse, s.TW
			okSockstat = true
		} else {
			errs = append(errs, perr)
		}
	} else {
		errs = append(errs, err)
	}
	if b, err := os.ReadFile(dir + "/sockstat6"); err == nil {
		v.InUse6 = parseSockstat6(b)
	}
	okCounters := false
	for _, f := range [...]struct{ file, prefix string }{{"snmp", "Tcp"}, {"netstat", "TcpExt"}} {
		fh, err := os.Open(dir + "/" + f.file)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		err = scanCounterPairs(fh, []string{f.prefix}, func(_, name string, val int64) {
			if _, dup := v.Counters[name]; dup {
				name = "Tcp." + name
			}
			v.Counters[name] = val
		})
		fh.Close()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		okCounters = okCounters || f.prefix == "Tcp"
	}
	v.CurrEstab = v.Counters["CurrEstab"]
	v.OK = okSockstat && okCounters
	if !okSockstat && !okCounters {
		return v, errors.Join(append([]error{ErrNoVitals}, errs...)...)
	}
	return v, nil
}

// parseSockstat6 returns the TCP6 inuse of a sockstat6 text.
func parseSockstat6(b []byte) int64 {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		f := bytes.Fields(line)
		if len(f) >= 3 && string(f[0]) == "TCP6:" && string(f[1]) == "inuse" {
			n, _ := strconv.ParseInt(string(f[2]), 10, 64)
			return n
		}
	}
	return 0
}

// VitalsOf reads the vital signs of the namespace ns: through the first of
// pids whose net directory still shows ns (checked by identity before and
// after the read, so a pid that exited or was reused is skipped), else by
// entering ns. procRoot is where procfs is mounted.
func VitalsOf(procRoot string, ns *Namespace, pids []int32) (Vitals, error) {
	root := Discovery{ProcRoot: procRoot}.root()
	var lastErr error = ErrNoVitals
	for _, pid := range pids {
		base := root + "/" + strconv.Itoa(int(pid))
		if !sameNS(base+"/ns/net", ns.ID) {
			continue
		}
		v, err := ReadVitals(base + "/net")
		if err != nil {
			lastErr = err
			continue
		}
		if !sameNS(base+"/ns/net", ns.ID) {
			continue
		}
		return v, nil
	}
	if ns.Own || ns.entered() {
		var v Vitals
		err := ns.Do(func() error {
			var err error
			v, err = ReadVitals(root + "/thread-self/net")
			return err
		})
		if err == nil {
			return v, nil
		}
		lastErr = err
	}
	return Vitals{}, lastErr
}

// sameNS reports whether the nsfs file at path is the namespace id. When
// it cannot be stat'ed (another user's process), the process's net
// directory is trusted: its pid was seen in the namespace at discovery.
func sameNS(path string, id NamespaceID) bool {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return errors.Is(err, os.ErrPermission)
	}
	return NamespaceID{uint64(st.Dev), st.Ino} == id
}
