package source

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// maxProcLine bounds one line of a /proc counter file. The longest real line
// (the TcpExt header) is under 3 KiB; the bound only stops a runaway input.
const maxProcLine = 1 << 20

// lineBufs holds scanner buffers so that ReadCounters, called every poll,
// does not allocate a fresh one per file.
var lineBufs = sync.Pool{New: func() any {
	b := make([]byte, 16<<10)
	return &b
}}

func newLineScanner(r io.Reader) (*bufio.Scanner, *[]byte) {
	buf := lineBufs.Get().(*[]byte)
	sc := bufio.NewScanner(r)
	sc.Buffer(*buf, maxProcLine)
	return sc, buf
}

// ParseCounterPairs parses the paired-line format of /proc/net/netstat and
// /proc/net/snmp: a header line "TcpExt: SyncookiesSent ..." followed by a
// value line "TcpExt: 0 ...". Only the prefixes in want are kept (e.g.
// "TcpExt", "Tcp"); the result maps prefix -> name -> value and has an entry
// only for a prefix that has at least one counter. Values can be negative (Tcp MaxConn
// is -1). Lines with other prefixes are skipped unread. A value count that
// differs from the header's, a value line without a header, a header without
// a value line, or a value that is not a decimal int64 is an error naming the
// line.
func ParseCounterPairs(r io.Reader, want ...string) (map[string]map[string]int64, error) {
	out := make(map[string]map[string]int64, len(want))
	err := scanCounterPairs(r, want, func(prefix, name string, v int64) {
		m := out[prefix]
		if m == nil {
			m = make(map[string]int64)
			out[prefix] = m
		}
		m[name] = v
	})
	return out, err
}

// scanCounterPairs is ParseCounterPairs without the result maps: emit is called
// for every counter of a wanted prefix, with prefix being an element of want
// and name a substring of the header line (one allocation per header line).
// A pair is emitted only once its whole value line has been checked, so a
// malformed file leaves only complete pairs emitted.
func scanCounterPairs(r io.Reader, want []string, emit func(prefix, name string, v int64)) error {
	sc, buf := newLineScanner(r)
	defer lineBufs.Put(buf)

	var (
		pending    bool   // a header is waiting for its value line
		pendPrefix string // its prefix (an element of want)
		pendNames  string // its names, space separated
		pendLine   int    // its line number
	)
	n := 0
	for sc.Scan() {
		n++
		prefix, rest, ok := splitPrefix(sc.Bytes())
		if !ok {
			continue
		}
		w, ok := wanted(prefix, want)
		if !ok {
			continue
		}
		switch {
		case pending && w == pendPrefix:
			if err := checkValues(pendNames, rest); err != nil {
				return fmt.Errorf("line %d: %s: %w (header at line %d)", n, w, err, pendLine)
			}
			names := pendNames
			for {
				var name string
				var val []byte
				name, names = nextField(names)
				val, rest = nextField(rest)
				if len(name) == 0 {
					break
				}
				v, _ := parseInt(val)
				emit(w, name, v)
			}
			pending = false
		case pending:
			return fmt.Errorf("line %d: %s header has no value line", pendLine, pendPrefix)
		default:
			if first, _ := nextField(rest); len(first) > 0 && (first[0] == '-' || isDigit(first[0])) {
				return fmt.Errorf("line %d: %s values without a header line", n, w)
			}
			pending, pendPrefix, pendNames, pendLine = true, w, string(rest), n
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("line %d: %w", n+1, err)
	}
	if pending {
		return fmt.Errorf("line %d: %s header has no value line", pendLine, pendPrefix)
	}
	return nil
}

// checkValues reports whether vals holds exactly one decimal int64 per name.
func checkValues(names string, vals []byte) error {
	nn, nv := 0, 0
	for {
		var name string
		var val []byte
		name, names = nextField(names)
		val, vals = nextField(vals)
		if len(name) == 0 && len(val) == 0 {
			break
		}
		if len(name) > 0 {
			nn++
		}
		if len(val) > 0 {
			nv++
			if _, ok := parseInt(val); !ok {
				return fmt.Errorf("value %d (%q) is not an integer", nv, truncate(val))
			}
		}
	}
	if nn != nv {
		return fmt.Errorf("%d values for %d names", nv, nn)
	}
	return nil
}

// splitPrefix splits "Prefix: rest" at the first colon.
func splitPrefix(line []byte) (prefix, rest []byte, ok bool) {
	for i, c := range line {
		if c == ':' {
			return line[:i], line[i+1:], true
		}
	}
	return nil, nil, false
}

// wanted returns the element of want equal to prefix, without allocating.
func wanted(prefix []byte, want []string) (string, bool) {
	for _, w := range want {
		if string(prefix) == w {
			return w, true
		}
	}
	return "", false
}

// ParsePortRange parses net.ipv4.ip_local_port_range ("32768\t60999\n"): two
// integers with 0 <= lo <= hi <= 65535. (The kernel itself refuses lo < 1 and
// lo below net.ipv4.ip_unprivileged_port_start; this parser only checks what a
// port can be.)
func ParsePortRange(s string) (lo, hi int, err error) {
	a, rest := nextField(s)
	b, rest := nextField(rest)
	if extra, _ := nextField(rest); len(a) == 0 || len(b) == 0 || len(extra) > 0 {
		return 0, 0, fmt.Errorf("port range %q: want two numbers", truncate(s))
	}
	lo, okLo := parsePort(a)
	hi, okHi := parsePort(b)
	if !okLo || !okHi {
		return 0, 0, fmt.Errorf("port range %q: not ports in 0..65535", truncate(s))
	}
	if lo > hi {
		return 0, 0, fmt.Errorf("port range %q: low end above high end", truncate(s))
	}
	return lo, hi, nil
}

// ParseReservedPorts parses net.ipv4.ip_local_reserved_ports: "" (or "\n")
// for none, else comma-separated ports and lo-hi ranges ("8080,9000-9010\n").
// Each port is in 0..65535 and lo <= hi. The result is sorted, with
// overlapping and adjacent ranges merged (as the kernel prints them), and nil
// when no port is reserved.
func ParseReservedPorts(s string) ([]PortRange, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	out := make([]PortRange, 0, strings.Count(s, ",")+1)
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		a, b, isRange := strings.Cut(item, "-")
		lo, okLo := parsePort(a)
		hi, okHi := lo, okLo
		if isRange {
			hi, okHi = parsePort(b)
		}
		if !okLo || !okHi {
			return nil, fmt.Errorf("reserved ports: %q is not a port or lo-hi range in 0..65535", truncate(item))
		}
		if lo > hi {
			return nil, fmt.Errorf("reserved ports: %q: low end above high end", truncate(item))
		}
		out = append(out, PortRange{lo, hi})
	}
	slices.SortFunc(out, func(a, b PortRange) int { return a.Lo - b.Lo })
	merged := out[:1]
	for _, r := range out[1:] {
		last := &merged[len(merged)-1]
		if r.Lo <= last.Hi+1 {
			last.Hi = max(last.Hi, r.Hi)
			continue
		}
		merged = append(merged, r)
	}
	return merged, nil
}

// ReservedInRange counts the ports of r that fall in [lo, hi]. r must be
// sorted and non-overlapping, as ParseReservedPorts returns it.
func ReservedInRange(r []PortRange, lo, hi int) int {
	n := 0
	for _, p := range r {
		a, b := max(p.Lo, lo), min(p.Hi, hi)
		if a <= b {
			n += b - a + 1
		}
	}
	return n
}

// IsReserved reports whether port lies in one of the ranges. r must be sorted
// and non-overlapping, as ParseReservedPorts returns it.
func IsReserved(r []PortRange, port int) bool {
	i, _ := slices.BinarySearchFunc(r, port, func(p PortRange, port int) int {
		if p.Hi < port {
			return -1
		}
		return 1
	})
	return i < len(r) && r[i].Lo <= port && port <= r[i].Hi
}

// ParseSockstat parses /proc/net/sockstat: the "sockets: used N" line and the
// "TCP: inuse N orphan N tw N alloc N mem N" line; other lines and unknown
// keys are ignored. A file without a TCP line, a key without a value or a
// value that is not an integer is an error naming the line, and returns a
// zero Sockstat.
//
// Of the TCP fields, inuse (IPv4 sockets only: IPv6 ones are TCP6 in
// sockstat6) and tw belong to the network namespace, while orphan, alloc and
// mem (in pages) are host-wide.
func ParseSockstat(r io.Reader) (Sockstat, error) {
	var s Sockstat
	sc, buf := newLineScanner(r)
	defer lineBufs.Put(buf)
	sawTCP := false
	n := 0
	for sc.Scan() {
		n++
		prefix, rest, ok := splitPrefix(sc.Bytes())
		if !ok {
			continue
		}
		tcp := false
		switch string(prefix) {
		case "sockets":
		case "TCP":
			tcp, sawTCP = true, true
		default:
			continue
		}
		for {
			var key, val []byte
			key, rest = nextField(rest)
			if len(key) == 0 {
				break
			}
			val, rest = nextField(rest)
			v, ok := parseInt(val)
			if !ok {
				return Sockstat{}, fmt.Errorf("line %d: %s %q: value %q is not an integer",
					n, prefix, truncate(key), truncate(val))
			}
			if dst := sockstatField(&s, tcp, key); dst != nil {
				*dst = v
			}
		}
	}
	if err := sc.Err(); err != nil {
		return Sockstat{}, fmt.Errorf("line %d: %w", n+1, err)
	}
	if !sawTCP {
		return Sockstat{}, errors.New("no TCP line")
	}
	return s, nil
}

// sockstatField maps a key of the sockets or TCP line to its field, or nil.
func sockstatField(s *Sockstat, tcp bool, key []byte) *int64 {
	if !tcp {
		if string(key) == "used" {
			return &s.SocketsUsed
		}
		return nil
	}
	switch string(key) {
	case "inuse":
		return &s.InUse
	case "orphan":
		return &s.Orphan
	case "tw":
		return &s.TW
	case "alloc":
		return &s.Alloc
	case "mem":
		return &s.Mem
	}
	return nil
}

// ProcFS reads procfs below Root (normally "/proc"; empty means "/proc").
// Network files are read through Root/thread-self/net/ so that a caller
// running on an OS thread that has entered another network namespace (setns)
// reads that namespace's files; /proc/sys/net/* is also resolved per the
// calling thread's netns at open time. ProcFS itself does no thread locking:
// a caller reading another namespace must hold runtime.LockOSThread.
type ProcFS struct{ Root string }

func (p ProcFS) path(rel string) string {
	if p.Root == "" {
		return "/proc/" + rel
	}
	return strings.TrimSuffix(p.Root, "/") + "/" + rel
}

type sysctlKind uint8

const (
	sysctlInt sysctlKind = iota
	sysctlPortRange
	sysctlReserved
)

// sysctlFiles lists the tunables ReadSysctls reads, in the order Missing and
// the warnings report them.
var sysctlFiles = [...]struct {
	name, rel string
	kind      sysctlKind
	field     func(*Sysctls) *int
}{
	{"net.ipv4.ip_local_port_range", "sys/net/ipv4/ip_local_port_range", sysctlPortRange, nil},
	{"net.ipv4.ip_local_reserved_ports", "sys/net/ipv4/ip_local_reserved_ports", sysctlReserved, nil},
	{"net.core.somaxconn", "sys/net/core/somaxconn", sysctlInt, func(s *Sysctls) *int { return &s.Somaxconn }},
	{"net.ipv4.tcp_max_syn_backlog", "sys/net/ipv4/tcp_max_syn_backlog", sysctlInt, func(s *Sysctls) *int { return &s.MaxSynBacklog }},
	{"net.ipv4.tcp_fin_timeout", "sys/net/ipv4/tcp_fin_timeout", sysctlInt, func(s *Sysctls) *int { return &s.FinTimeout }},
	{"net.ipv4.tcp_tw_reuse", "sys/net/ipv4/tcp_tw_reuse", sysctlInt, func(s *Sysctls) *int { return &s.TwReuse }},
	{"net.ipv4.tcp_max_tw_buckets", "sys/net/ipv4/tcp_max_tw_buckets", sysctlInt, func(s *Sysctls) *int { return &s.MaxTwBuckets }},
	{"net.ipv4.tcp_timestamps", "sys/net/ipv4/tcp_timestamps", sysctlInt, func(s *Sysctls) *int { return &s.Timestamps }},
	{"net.ipv4.tcp_max_orphans", "sys/net/ipv4/tcp_max_orphans", sysctlInt, func(s *Sysctls) *int { return &s.MaxOrphans }},
	{"net.ipv4.tcp_syn_retries", "sys/net/ipv4/tcp_syn_retries", sysctlInt, func(s *Sysctls) *int { return &s.SynRetries }},
	{"net.ipv4.tcp_synack_retries", "sys/net/ipv4/tcp_synack_retries", sysctlInt, func(s *Sysctls) *int { return &s.SynackRetries }},
	{"net.ipv4.tcp_syncookies", "sys/net/ipv4/tcp_syncookies", sysctlInt, func(s *Sysctls) *int { return &s.Syncookies }},
	{"net.ipv4.tcp_abort_on_overflow", "sys/net/ipv4/tcp_abort_on_overflow", sysctlInt, func(s *Sysctls) *int { return &s.AbortOnOverflow }},
	{"net.ipv4.tcp_keepalive_time", "sys/net/ipv4/tcp_keepalive_time", sysctlInt, func(s *Sysctls) *int { return &s.KeepaliveTime }},
}

// ReadSysctls reads the TCP tunables below Root/sys/net. Raw holds each
// readable one by dotted name ("net.ipv4.tcp_tw_reuse") with whitespace
// collapsed to single spaces ("32768 60999"). A file that cannot be read or
// parsed is listed in Missing, left out of Raw and its field left zero;
// PortRangeParsed is false when ip_local_port_range is such a file. It never
// fails as a whole: each problem is one WarnSysctl warning naming the
// tunable.
func (p ProcFS) ReadSysctls() (Sysctls, []Warning) {
	s := Sysctls{Raw: make(map[string]string, len(sysctlFiles))}
	var warns []Warning
	for _, f := range sysctlFiles {
		b, err := readProcFile(p.path(f.rel))
		if err == nil {
			v := strings.Join(strings.Fields(string(b)), " ")
			switch f.kind {
			case sysctlPortRange:
				s.PortLow, s.PortHigh, err = ParsePortRange(v)
				s.PortRangeParsed = err == nil
			case sysctlReserved:
				s.Reserved, err = ParseReservedPorts(v)
			case sysctlInt:
				var n int
				if n, err = strconv.Atoi(v); err == nil {
					*f.field(&s) = n
				} else {
					err = fmt.Errorf("%q is not an integer", truncate(v))
				}
			}
			if err == nil {
				s.Raw[f.name] = v
				continue
			}
		}
		s.Missing = append(s.Missing, f.name)
		warns = append(warns, Warning{WarnSysctl, f.name, err})
	}
	return s, warns
}

// ReadCounters reads TcpExt from Root/thread-self/net/netstat and Tcp from
// Root/thread-self/net/snmp into one map by counter name. The names do not
// collide; if one ever does, TcpExt wins and the Tcp one is stored as
// "Tcp.Name". A missing or malformed file is a warning, not an error (the
// complete pairs read before a malformed line are kept): a WarnCounters
// warning naming the file. The map is never nil.
func (p ProcFS) ReadCounters() (map[string]int64, []Warning) {
	m := make(map[string]int64, 192)
	var warns []Warning
	warns = p.readCounterFile(warns, "thread-self/net/netstat", "TcpExt", func(name string, v int64) {
		m[name] = v
	})
	warns = p.readCounterFile(warns, "thread-self/net/snmp", "Tcp", func(name string, v int64) {
		if _, dup := m[name]; dup {
			name = "Tcp." + name
		}
		m[name] = v
	})
	return m, warns
}

func (p ProcFS) readCounterFile(warns []Warning, rel, prefix string, set func(string, int64)) []Warning {
	path := p.path(rel)
	b, err := readProcFile(path)
	if err != nil {
		return append(warns, Warning{WarnCounters, path, err})
	}
	found := false
	err = scanCounterPairs(bytes.NewReader(b), []string{prefix}, func(_, name string, v int64) {
		found = true
		set(name, v)
	})
	switch {
	case err != nil:
		warns = append(warns, Warning{WarnCounters, path, err})
	case !found:
		warns = append(warns, Warning{WarnCounters, path, errors.New("no " + prefix + " lines")})
	}
	return warns
}

// ReadSockstat reads Root/thread-self/net/sockstat. On any problem it returns
// a zero Sockstat and a WarnSockstat warning naming the file.
func (p ProcFS) ReadSockstat() (Sockstat, []Warning) {
	path := p.path("thread-self/net/sockstat")
	b, err := readProcFile(path)
	if err != nil {
		return Sockstat{}, []Warning{{WarnSockstat, path, err}}
	}
	s, err := ParseSockstat(bytes.NewReader(b))
	if err != nil {
		return Sockstat{}, []Warning{{WarnSockstat, path, err}}
	}
	return s, nil
}

// nextField returns the first run of non-space bytes of s and what follows it.
func nextField[T string | []byte](s T) (field, rest T) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	j := i
	for j < len(s) && !isSpace(s[j]) {
		j++
	}
	return s[i:j], s[j:]
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// parseInt parses an optionally negative decimal int64 without allocating.
func parseInt[T string | []byte](s T) (int64, bool) {
	neg := false
	if len(s) > 0 && s[0] == '-' {
		neg, s = true, s[1:]
	}
	if len(s) == 0 {
		return 0, false
	}
	const cutoff = uint64(1) << 63 // |MinInt64|
	var u uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) {
			return 0, false
		}
		if u > (cutoff-uint64(c-'0'))/10 {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	if neg {
		return -int64(u), true // u == cutoff wraps to MinInt64
	}
	if u == cutoff {
		return 0, false
	}
	return int64(u), true
}

// parsePort parses an unsigned decimal port in 0..65535.
func parsePort(s string) (int, bool) {
	if len(s) == 0 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		if n = n*10 + int(s[i]-'0'); n > 65535 {
			return 0, false
		}
	}
	return n, true
}

// truncate shortens s for an error message.
func truncate[T string | []byte](s T) string {
	const limit = 40
	if len(s) > limit {
		return string(s[:limit]) + "..."
	}
	return string(s)
}

// ParseNoFileLimit reads the soft "Max open files" limit from the content
// of /proc/PID/limits: -1 when unlimited; an error when the line is
// missing or malformed.
func ParseNoFileLimit(b []byte) (int64, error) {
	const key = "Max open files"
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if !bytes.HasPrefix(line, []byte(key)) {
			continue
		}
		soft, _ := nextField(line[len(key):])
		if string(soft) == "unlimited" {
			return -1, nil
		}
		if v, ok := parseInt(soft); ok && v >= 0 {
			return v, nil
		}
		return 0, fmt.Errorf("limits: bad %q value %q", key, truncate(soft))
	}
	return 0, fmt.Errorf("limits: no %q line", key)
}
