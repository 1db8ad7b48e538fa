package record

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"slices"

	"github.com/tcptop/tcptop/source"
)

// Redactor replaces addresses, command lines and the host name with
// hashes keyed per recording: the same address is the same stand-in
// everywhere in one recording (so peers and findings still group), but
// without the key, which is never written, the stand-ins cannot be
// matched to addresses even by trying all of IPv4. Ports, states, process
// names, users and counters are kept: the findings need them.
//
// An IPv4 address becomes another IPv4 address, an IPv6 one another IPv6
// (an IPv4-mapped one stays mapped); unspecified and loopback addresses
// are kept (they say "any" and "this machine", nothing private).
type Redactor struct {
	key   []byte
	addrs map[netip.Addr]netip.Addr
	cmds  map[string]string
	// The last carried slice redacted (its first socket and length) and
	// its redacted copy: see Sample.
	carriedIn  *source.Socket
	carriedN   int
	carriedOut []source.Socket
}

// NewRedactor returns a Redactor with a fresh random key.
func NewRedactor() *Redactor {
	k := make([]byte, 32)
	rand.Read(k)
	return NewRedactorKey(k)
}

// NewRedactorKey returns a Redactor with the given key (tests).
func NewRedactorKey(key []byte) *Redactor {
	return &Redactor{key: key, addrs: map[netip.Addr]netip.Addr{}, cmds: map[string]string{}}
}

func (r *Redactor) sum(kind byte, b []byte) []byte {
	h := hmac.New(sha256.New, r.key)
	h.Write([]byte{kind})
	h.Write(b)
	return h.Sum(nil)
}

// Addr returns a's stand-in.
func (r *Redactor) Addr(a netip.Addr) netip.Addr {
	if !a.IsValid() || a.IsUnspecified() || a.IsLoopback() {
		return a
	}
	if v, ok := r.addrs[a]; ok {
		return v
	}
	var out netip.Addr
	switch {
	case a.Is4():
		out = r.addr4(a)
	case a.Is4In6():
		out = netip.AddrFrom16(r.addr4(a.Unmap()).As16())
	default:
		v := a.As16()
		s := r.sum(6, v[:])
		var b [16]byte
		copy(b[:], s)
		b[0] = 0xfd // unique local: never a real public address
		out = netip.AddrFrom16(b)
	}
	if len(r.addrs) > 1<<20 {
		clear(r.addrs)
	}
	r.addrs[a] = out
	return out
}

func (r *Redactor) addr4(a netip.Addr) netip.Addr {
	v := a.As4()
	s := r.sum(4, v[:])
	b := [4]byte{s[0], s[1], s[2], s[3]}
	if b[0] == 0 || b[0] == 127 {
		b[0] ^= 0x40
	}
	return netip.AddrFrom4(b)
}

// Text returns a command line's (or host name's) stand-in:
// "redacted-" and 12 hex digits; "" stays "".
func (r *Redactor) Text(s string) string {
	if s == "" {
		return ""
	}
	if v, ok := r.cmds[s]; ok {
		return v
	}
	v := "redacted-" + hex.EncodeToString(r.sum('c', []byte(s))[:6])
	if len(r.cmds) > 1<<16 {
		clear(r.cmds)
	}
	r.cmds[s] = v
	return v
}

// Sample returns a redacted copy of s (s is not modified).
//
// The copy's carried sockets are shared as s's are: the partial samples
// of one full dump carry the same read-only slice (source.Sample.Carried),
// so it is redacted once, and the copy carries one redacted slice too,
// the same in each: a poll does not copy and redact 90k sockets again,
// and the encoder's fast path for a shared carried slice still applies
// (issue 18). The stand-ins depend on the key alone, so a slice redacted
// once is what redacting it again would give.
func (r *Redactor) Sample(s *source.Sample) *source.Sample {
	c := *s
	c.Host = r.Text(s.Host)
	c.Carried = r.carried(s.Carried)
	c.Sockets = r.sockets(s.Sockets)
	if s.Procs != nil {
		c.Procs = make(map[int32]*source.Process, len(s.Procs))
		for pid, p := range s.Procs {
			if p == nil {
				continue
			}
			q := *p
			q.Cmdline = r.Text(p.Cmdline)
			c.Procs[pid] = &q
		}
	}
	return &c
}

// carried is the redacted copy of a sample's carried sockets, made once
// for a slice shared between samples (see Sample).
func (r *Redactor) carried(in []source.Socket) []source.Socket {
	if len(in) == 0 {
		return nil
	}
	if &in[0] != r.carriedIn || len(in) != r.carriedN {
		// Holding the slice keeps its address from being reused by
		// another one while it is remembered.
		r.carriedIn, r.carriedN = &in[0], len(in)
		r.carriedOut = slices.Clip(r.sockets(in))
	}
	return r.carriedOut
}

// sockets is a redacted copy of socks.
func (r *Redactor) sockets(socks []source.Socket) []source.Socket {
	out := make([]source.Socket, len(socks))
	for i := range socks {
		sk := &socks[i]
		out[i] = *sk
		out[i].Local = netip.AddrPortFrom(r.Addr(sk.Local.Addr()), sk.Local.Port())
		out[i].Remote = netip.AddrPortFrom(r.Addr(sk.Remote.Addr()), sk.Remote.Port())
	}
	return out
}
