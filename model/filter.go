package model

import (
	"cmp"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tcptop/tcptop/source"
)

// Filter is a parsed filter expression: space-separated terms that must all
// match (AND). A term's value may list alternatives separated by commas
// (OR): `state:TIME_WAIT,CLOSE_WAIT port:80,443`.
//
//	port:N      local or remote port     sport:N   local port
//	dport:N     remote port              pid:N     an owning pid
//	proc:NAME   an owner's name contains NAME (case-insensitive)
//	addr:IP     local or remote address (addr:CIDR for a prefix)
//	state:S     TCP state (TIME_WAIT, time-wait, timewait all work)
//	netns:NAME  (--all-netns) the namespace's name or inode contains NAME
//	pod:NAME    (--all-netns) its pod's name or namespace contains NAME
//	container:N (--all-netns) its container's name or id contains N
//	WORD        an IP or CIDR is addr:, anything else matches a process
//	            name or either address as text
//
// The zero Filter matches everything.
type Filter struct {
	expr  string
	terms []term
}

type termKind uint8

const (
	termPort termKind = iota
	termSport
	termDport
	termPID
	termProc
	termAddr
	termState
	termWord
	// Namespace terms (--all-netns): they choose namespaces, so every
	// socket of a chosen namespace passes them (see MatchNamespace).
	termNetns
	termPod
	termContainer
)

type term struct {
	kind   termKind
	ports  []uint16
	pids   []int32
	words  []string // lower case
	addrs  []netip.Prefix
	zones  []string // addrs[i]'s IPv6 scope ("eth0" of fe80::1%eth0), "" for any
	states source.StateMask
}

// filterKeys is the list shown in errors, in the order of the docs.
const filterKeys = "port:, sport:, dport:, proc:, pid:, addr:, state:, netns:, pod:, container:"

// FilterTerms returns the filter language's keys with their colon
// ("port:", "sport:", ...), in the order of the docs: for completions and
// for telling a half-typed key from a bare word. The slice is new on each
// call.
func FilterTerms() []string { return strings.Split(filterKeys, ", ") }

// ParseFilter parses a filter expression. The error is one line naming the
// offending term.
func ParseFilter(expr string) (Filter, error) {
	f := Filter{expr: strings.Join(strings.Fields(expr), " ")}
	for _, tok := range strings.Fields(expr) {
		t, err := parseTerm(tok)
		if err != nil {
			return Filter{}, fmt.Errorf("bad filter term %s: %w", quoteCut(tok), err)
		}
		f.terms = append(f.terms, t)
	}
	return f, nil
}

func parseTerm(tok string) (term, error) {
	key, val, hasKey := strings.Cut(tok, ":")
	// "::1" or "fe80::1" is a bare IPv6 address, not a key.
	if hasKey {
		if _, err := netip.ParseAddr(tok); err == nil {
			hasKey = false
		} else if _, err := netip.ParsePrefix(tok); err == nil {
			hasKey = false
		}
	}
	if !hasKey {
		if p, zone, ok := parseAddrOrPrefix(tok); ok {
			return term{kind: termAddr, addrs: []netip.Prefix{p}, zones: []string{zone}}, nil
		}
		return term{kind: termWord, words: []string{strings.ToLower(tok)}}, nil
	}
	alts := strings.Split(val, ",")
	for _, a := range alts {
		if a == "" {
			return term{}, fmt.Errorf("empty value after %s", quoteCut(key+":"))
		}
	}
	var t term
	switch strings.ToLower(key) {
	case "port", "sport", "dport":
		t.kind = map[string]termKind{"port": termPort, "sport": termSport, "dport": termDport}[strings.ToLower(key)]
		for _, a := range alts {
			n, err := strconv.ParseUint(a, 10, 16)
			if err != nil {
				return term{}, fmt.Errorf("%s is not a port number (0-65535)", quoteCut(a))
			}
			t.ports = append(t.ports, uint16(n))
		}
	case "pid":
		t.kind = termPID
		for _, a := range alts {
			n, err := strconv.ParseInt(a, 10, 32)
			if err != nil || n <= 0 {
				return term{}, fmt.Errorf("%s is not a pid", quoteCut(a))
			}
			t.pids = append(t.pids, int32(n))
		}
	case "proc":
		t.kind = termProc
		for _, a := range alts {
			t.words = append(t.words, strings.ToLower(a))
		}
	case "addr":
		t.kind = termAddr
		for _, a := range alts {
			p, zone, ok := parseAddrOrPrefix(a)
			if !ok {
				return term{}, fmt.Errorf("%s is not an IP address or CIDR prefix", quoteCut(a))
			}
			t.addrs, t.zones = append(t.addrs, p), append(t.zones, zone)
		}
	case "state":
		t.kind = termState
		for _, a := range alts {
			s, ok := source.ParseState(a)
			if !ok {
				return term{}, fmt.Errorf("%s is not a TCP state (ESTABLISHED, SYN_SENT, SYN_RECV, FIN_WAIT1, FIN_WAIT2, TIME_WAIT, CLOSE, CLOSE_WAIT, LAST_ACK, LISTEN, CLOSING)", quoteCut(a))
			}
			t.states |= 1 << s
		}
	case "netns", "pod", "container":
		t.kind = map[string]termKind{"netns": termNetns, "pod": termPod, "container": termContainer}[strings.ToLower(key)]
		for _, a := range alts {
			t.words = append(t.words, strings.ToLower(a))
		}
	default:
		return term{}, fmt.Errorf("unknown key %s (want %s or a bare word)", quoteCut(key+":"), filterKeys)
	}
	return t, nil
}

// parseAddrOrPrefix accepts an address (as a full-length prefix) or a CIDR
// prefix, unmapping IPv4-mapped IPv6 forms. An address's IPv6 scope
// (fe80::1%eth0) is returned apart: a link-local address means a different
// host on each link.
func parseAddrOrPrefix(s string) (netip.Prefix, string, bool) {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if a, err := netip.ParseAddr(s); err == nil {
		zone := a.Zone()
		a = a.Unmap().WithZone("")
		return netip.PrefixFrom(a, a.BitLen()), zone, true
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), "", true
	}
	return netip.Prefix{}, "", false
}

// String returns the normalised expression.
func (f Filter) String() string { return f.expr }

// Empty reports whether the filter matches everything.
func (f Filter) Empty() bool { return len(f.terms) == 0 }

// Match reports whether a socket passes every term. procs resolves owners.
func (f Filter) Match(s *source.Socket, procs map[int32]*source.Process) bool {
	for i := range f.terms {
		if !f.terms[i].match(s, procs) {
			return false
		}
	}
	return true
}

func (t *term) match(s *source.Socket, procs map[int32]*source.Process) bool {
	switch t.kind {
	case termPort:
		return hasPort(t.ports, s.Local.Port()) || hasPort(t.ports, s.Remote.Port())
	case termSport:
		return hasPort(t.ports, s.Local.Port())
	case termDport:
		return hasPort(t.ports, s.Remote.Port())
	case termPID:
		for _, p := range s.Owners {
			for _, q := range t.pids {
				if p == q {
					return true
				}
			}
		}
		return false
	case termProc:
		return ownerNameContains(s, procs, t.words)
	case termAddr:
		// Prefix.Contains never matches an address with a zone: match
		// without it, then the term's zone if it names one.
		l, r := s.Local.Addr().Unmap(), s.Remote.Addr().Unmap()
		lz, rz := l.WithZone(""), r.WithZone("")
		for i, p := range t.addrs {
			z := t.zones[i]
			if (p.Contains(lz) && (z == "" || z == l.Zone())) || (p.Contains(rz) && (z == "" || z == r.Zone())) {
				return true
			}
		}
		return false
	case termState:
		return t.states&(1<<s.State) != 0
	case termNetns, termPod, termContainer:
		return true
	case termWord:
		if ownerNameContains(s, procs, t.words) {
			return true
		}
		w := t.words[0]
		return strings.Contains(strings.ToLower(s.Local.Addr().Unmap().String()), w) ||
			strings.Contains(strings.ToLower(s.Remote.Addr().Unmap().String()), w)
	}
	return false
}

func hasPort(ps []uint16, p uint16) bool {
	for _, q := range ps {
		if p == q {
			return true
		}
	}
	return false
}

func ownerNameContains(s *source.Socket, procs map[int32]*source.Process, words []string) bool {
	for _, pid := range s.Owners {
		p := procs[pid]
		if p == nil {
			continue
		}
		name := strings.ToLower(p.Name)
		for _, w := range words {
			if strings.Contains(name, w) {
				return true
			}
		}
	}
	return false
}

// SortKey orders peers, processes and ports: by one state's count, or by
// total; largest first unless Reverse. The zero SortKey is "total".
type SortKey struct {
	State source.State // 0 means total
	// Reverse puts the smallest first.
	Reverse bool
}

// sortColumns is the display order of the sort keys the TUI cycles through.
var sortColumns = []source.State{source.Established, source.TimeWait, source.CloseWait,
	source.SynSent, source.SynRecv, source.FinWait1, source.FinWait2, source.LastAck, 0}

// SortColumns returns the sort keys a user steps through, in display order:
// ESTABLISHED, TIME_WAIT, CLOSE_WAIT, SYN_SENT, SYN_RECV, FIN_WAIT1,
// FIN_WAIT2, LAST_ACK, total. None is reversed. The slice is new on each call.
func SortColumns() []SortKey {
	keys := make([]SortKey, len(sortColumns))
	for i, st := range sortColumns {
		keys[i] = SortKey{State: st}
	}
	return keys
}

// ParseSortKey accepts "total" or a state name in any spelling ParseState
// takes, optionally after one "-" meaning Reverse ("-TIME_WAIT", "-total").
// The empty string is "total".
func ParseSortKey(s string) (SortKey, error) {
	var k SortKey
	name := s
	if rest, ok := strings.CutPrefix(s, "-"); ok {
		// ParseState ignores dashes, so "--x" and a bare "-" must be
		// refused here rather than read as a reversed key.
		if rest == "" || strings.HasPrefix(rest, "-") {
			return SortKey{}, sortKeyError(s)
		}
		k.Reverse, name = true, rest
	}
	if name == "" || strings.EqualFold(name, "total") {
		return k, nil
	}
	st, ok := source.ParseState(name)
	if !ok {
		return SortKey{}, sortKeyError(s)
	}
	k.State = st
	return k, nil
}

func sortKeyError(s string) error {
	return fmt.Errorf("unknown sort key %s (want total or a TCP state such as TIME_WAIT, CLOSE_WAIT, ESTABLISHED; a leading - puts the smallest first)", quoteCut(s))
}

// String returns "total" or the state name, after "-" when Reverse;
// ParseSortKey reads it back.
func (k SortKey) String() string {
	name := "total"
	if k.State != 0 {
		name = k.State.String()
	}
	if k.Reverse {
		return "-" + name
	}
	return name
}

func (k SortKey) value(c *StateCounts, total int) int {
	if k.State == 0 {
		return total
	}
	return c.Get(k.State)
}

// compare orders two rows by the key alone: negative when x comes first,
// that is when x has more (fewer when Reverse). Callers add tie-breaks.
func (k SortKey) compare(xc *StateCounts, xt int, yc *StateCounts, yt int) int {
	c := cmp.Compare(k.value(yc, yt), k.value(xc, xt))
	if k.Reverse {
		return -c
	}
	return c
}

// quoteCut quotes user input for an error message: at most 48 bytes of
// it, so a huge filter's error stays one short line.
func quoteCut(s string) string {
	const max = 48
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + fmt.Sprintf("…(%d bytes)", len(s))
}
