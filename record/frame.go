package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/tcptop/tcptop/source"
)

// A frame is one sample, encoded against the previous frame of the same
// stream (namespace): sockets matched by cookie are written as a reference
// and the fields that changed; the rest of the sample (processes,
// counters, tunables) as the entries that changed. The first frame of each
// stream in a key chunk is encoded against nothing: it is self-contained.
//
// Frame layout (inside a chunk, before compression):
//
//	uvarint stream, uvarint len + CBOR meta,
//	uvarint sockets, uvarint len + order/mask column, uvarint len + values
//
// The order column holds, per socket in the sample's order, 0 for a new
// socket or 1 + zigzag(previous index - (last referenced index + 1)) for
// a known one, followed by a byte of changed-field bits.

// Changed-field bits of a known socket.
const (
	chState  = 1 << iota // family, state, timer, retransmits
	chAddr               // local and remote address and port
	chQueue              // receive and send queues
	chExpire             // timer expiry, when not as predicted (see shift)
	chOwner              // uid, inode
	chOwners             // owning pids, inferred
	chInfo               // tcp_info
	chDrops              // a listener's own drop counter (SK_MEMINFO_DROPS), the interface index
)

// maxAddrs bounds the address dictionary of a chunk group.
const maxAddrs = 1 << 20

// meta is a frame's sample apart from the sockets.
type meta struct {
	Time       int64   `cbor:"1,keyasint"`
	Host       *string `cbor:"2,keyasint,omitempty"`
	Netns      *string `cbor:"3,keyasint,omitempty"`
	Attributed bool    `cbor:"4,keyasint,omitempty"`
	Unreadable int     `cbor:"5,keyasint,omitempty"`
	// Sysctl is set when the tunables changed.
	Sysctl       *source.Sysctls  `cbor:"6,keyasint,omitempty"`
	Counters     map[string]int64 `cbor:"7,keyasint,omitempty"`
	CountersGone []string         `cbor:"8,keyasint,omitempty"`
	Sockstat     *source.Sockstat `cbor:"9,keyasint,omitempty"`
	Took         [4]int64         `cbor:"10,keyasint"`
	Warnings     []warning        `cbor:"11,keyasint,omitempty"`
	Procs        []source.Process `cbor:"12,keyasint,omitempty"`
	ProcsGone    []int32          `cbor:"13,keyasint,omitempty"`
	// Shift is how many ms every running timer ran down since the
	// previous frame: a known socket whose expiry is just that much
	// lower is written unchanged.
	Shift uint32 `cbor:"14,keyasint,omitempty"`
	// Nil bits: 1 Procs is nil, 2 Counters is nil.
	Nil uint8 `cbor:"15,keyasint,omitempty"`
	// EBPF is the in-kernel aggregates of the poll (--ebpf), whole in
	// every frame that has them: they are analyzer input too.
	EBPF *source.EBPF `cbor:"16,keyasint,omitempty"`
	// UnreadablePIDs, Privileged and Groups are the sample's, whole in
	// every frame (small, and analyzer input).
	UnreadablePIDs []int32           `cbor:"17,keyasint,omitempty"`
	Privileged     bool              `cbor:"18,keyasint,omitempty"`
	Groups         map[int32][]int32 `cbor:"19,keyasint,omitempty"`
	// Partial marks a poll that dumped every state but ESTABLISHED
	// (issue 18's schedule): its carried sockets are that old.
	Partial *source.Partial `cbor:"20,keyasint,omitempty"`
	// InfoShift (format 2) is how many ms a known CLOSE_WAIT socket's
	// tcp_info aged since the previous frame: tcptop asks the kernel
	// for it once and then advances its LastAckRecv by the time between
	// polls (source: ageCloseWait), so a socket whose tcp_info differs
	// from its previous one by just that is written unchanged (see
	// predictInfo). Format 1 has none: nothing is predicted.
	InfoShift uint32 `cbor:"21,keyasint,omitempty"`
}

// warning is a source.Warning with its error as text (and, for a path
// error, its parts, so the warning prints the same).
type warning struct {
	Kind source.WarningKind `cbor:"1,keyasint"`
	Name string             `cbor:"2,keyasint,omitempty"`
	Msg  string             `cbor:"3,keyasint,omitempty"`
	Op   string             `cbor:"4,keyasint,omitempty"`
	Path string             `cbor:"5,keyasint,omitempty"`
	// NoErr is true when Err was nil.
	NoErr bool `cbor:"6,keyasint,omitempty"`
}

func toWarning(w source.Warning) warning {
	r := warning{Kind: w.Kind, Name: w.Name}
	var pe *fs.PathError
	switch {
	case w.Err == nil:
		r.NoErr = true
	case errors.As(w.Err, &pe) && pe == w.Err:
		r.Op, r.Path = pe.Op, pe.Path
		if pe.Err != nil {
			r.Msg = pe.Err.Error()
		}
	default:
		r.Msg = w.Err.Error()
	}
	return r
}

func (r warning) warning() source.Warning {
	w := source.Warning{Kind: r.Kind, Name: r.Name}
	switch {
	case r.NoErr:
	case r.Op != "" || r.Path != "":
		w.Err = &fs.PathError{Op: r.Op, Path: r.Path, Err: errors.New(r.Msg)}
	default:
		w.Err = errors.New(r.Msg)
	}
	return w
}

// sockList is a frame's sockets as its sample holds them (see
// source.Sample.Parts): carried, then fresh, numbered as one list.
type sockList struct{ carried, fresh []source.Socket }

func (l *sockList) len() int { return len(l.carried) + len(l.fresh) }

// at is socket j (0 <= j < len()).
func (l *sockList) at(j int) *source.Socket {
	if j < len(l.carried) {
		return &l.carried[j]
	}
	return &l.fresh[j-len(l.carried)]
}

// stream is what encoder and decoder remember of a namespace's last frame.
type stream struct {
	socks      sockList
	index      // encoder: socks by cookie (index.go)
	host       string
	netns      string
	procs      map[int32]*source.Process
	sysctl     source.Sysctls
	sysctlRaw  []byte
	counters   map[string]int64
	sockstat   source.Sockstat
	started    bool
	attributed bool
	unreadable int
}

// codec is the state shared by the frames of one chunk group (a key
// chunk and the delta chunks after it); reset at every key chunk.
type codec struct {
	streams map[string]int // encoder: netns label → stream id
	st      []*stream
	// Encoder scratch, reused by every frame: the matched index of each
	// socket, the shift counts, the order column.
	refs  []int32
	shift shiftCounter
	// infoShift counts the known CLOSE_WAIT sockets' tcp_info ageing
	// (meta.InfoShift); frameInfoShift is the frame's, as written.
	infoShift      shiftCounter
	frameInfoShift uint32
	noInfoShift    bool // tests: write format 1's frames
	col            []byte
	free           []index // indexes of a previous group's streams, to reuse
	// The fast path (matchCarried): fastN is how many carried sockets of
	// the frame it matched (0: none), exc the places among them it matched
	// one by one; stolen and shScratch its scratch. noFast turns it off
	// (tests: the bytes must be those of the general path).
	fastN       int
	exc, stolen []int32
	shScratch   []int32
	noFast      bool
	// The encoder's address dictionary (address → its number, from 1),
	// IPv4 addresses apart: 8 bytes an entry instead of 32 (a
	// netip.Addr is 24), and most addresses are IPv4 (at 100k sockets
	// with as many peers the single map took ~5 MiB); nAddrs is how many
	// both hold.
	addrs4  map[uint32]uint32
	addrs   map[netip.Addr]uint32
	nAddrs  int
	addrTab []netip.Addr // decoder
}

func (c *codec) reset() {
	c.streams = map[string]int{}
	// The encoder's indexes and address dictionary keep their memory
	// for the next group (at 100k sockets, maps of 100k entries each
	// key chunk); nothing else of a stream carries over.
	for _, p := range c.st {
		if p.rest.s != nil {
			c.free = append(c.free, p.index.recycle())
		}
	}
	c.st = c.st[:0]
	if c.addrs == nil {
		c.addrs, c.addrs4 = map[netip.Addr]uint32{}, map[uint32]uint32{}
	}
	clear(c.addrs)
	clear(c.addrs4)
	c.nAddrs = 0
	c.addrTab = c.addrTab[:0]
}

// newStream is a stream with no frame yet.
func (c *codec) newStream() *stream {
	p := &stream{}
	if n := len(c.free); n > 0 {
		p.index, c.free = c.free[n-1], c.free[:n-1]
	}
	return p
}

// appendFrame encodes s at the end of b.
func (c *codec) appendFrame(b []byte, s *source.Sample) ([]byte, error) {
	id, ok := c.streams[s.Netns]
	if !ok {
		id = len(c.st)
		c.streams[s.Netns] = id
		c.st = append(c.st, c.newStream())
	}
	p := c.st[id]
	b = binary.AppendUvarint(b, uint64(id))

	m := meta{Time: s.Time.UnixNano(), Attributed: s.Attributed, Unreadable: s.Unreadable,
		Took: [4]int64{int64(s.Took.Dump), int64(s.Took.Attribute), int64(s.Took.Proc), int64(s.Took.Total)}}
	if !p.started || s.Host != p.host {
		m.Host = &s.Host
	}
	if !p.started || s.Netns != p.netns {
		m.Netns = &s.Netns
	}
	sys, err := cborEnc.Marshal(s.Sysctl)
	if err != nil {
		return nil, err
	}
	if !p.started || string(sys) != string(p.sysctlRaw) {
		m.Sysctl = &s.Sysctl
		p.sysctlRaw = sys
	}
	m.EBPF = s.EBPF
	m.UnreadablePIDs, m.Privileged, m.Groups = s.UnreadablePIDs, s.Privileged, s.Groups
	m.Partial = s.Partial
	if s.Procs == nil {
		m.Nil |= 1
	}
	if s.Counters == nil {
		m.Nil |= 2
	}
	for k, v := range s.Counters {
		if old, ok := p.counters[k]; !ok || old != v {
			if m.Counters == nil {
				m.Counters = map[string]int64{}
			}
			m.Counters[k] = v
		}
	}
	for k := range p.counters {
		if _, ok := s.Counters[k]; !ok {
			m.CountersGone = append(m.CountersGone, k)
		}
	}
	slices.Sort(m.CountersGone)
	if !p.started || s.Sockstat != p.sockstat {
		m.Sockstat = &s.Sockstat
	}
	for _, w := range s.Warnings {
		m.Warnings = append(m.Warnings, toWarning(w))
	}
	for pid, pr := range s.Procs {
		if pr == nil {
			continue
		}
		if old, ok := p.procs[pid]; !ok || *old != *pr {
			m.Procs = append(m.Procs, *pr)
		}
	}
	slices.SortFunc(m.Procs, func(a, b source.Process) int { return int(a.PID) - int(b.PID) })
	for pid := range p.procs {
		if s.Procs[pid] == nil {
			m.ProcsGone = append(m.ProcsGone, pid)
		}
	}
	slices.Sort(m.ProcsGone)

	// Sockets: match by cookie (a cookie seen twice in one dump is
	// matched once; cookie 0 never).
	refs := c.match(p, s)
	m.Shift = c.shift.best()
	if !c.noInfoShift {
		m.InfoShift = c.infoShift.best()
	}
	c.frameInfoShift = m.InfoShift
	mb, err := cborEnc.Marshal(m)
	if err != nil {
		return nil, err
	}
	b = binary.AppendUvarint(b, uint64(len(mb)))
	b = append(b, mb...)

	// The value column is written straight into b, where it ends up,
	// and moved up once behind the socket count and the order column
	// when their lengths are known: a copy of it kept for the next frame
	// held ~4 MiB at 100k sockets (issue 18).
	col, start := c.col[:0], len(b)
	val := b
	last := -1
	var lastCookie, lastInode uint64
	i := 0
	if c.fastN > 0 {
		// The carried sockets the fast path matched: each is itself but
		// for the exceptions (c.exc).
		for _, e := range c.exc {
			col, val, last = c.appendSelf(col, val, &p.index, i, int(e), last, m.Shift)
			col, val, last = c.appendOne(col, val, p, s.Socket(int(e)), refs[e], last, m.Shift, &lastCookie, &lastInode)
			i = int(e) + 1
		}
		col, val, last = c.appendSelf(col, val, &p.index, i, c.fastN, last, m.Shift)
		i = c.fastN
	}
	for ; i < s.NumSockets(); i++ {
		col, val, last = c.appendOne(col, val, p, s.Socket(i), refs[i], last, m.Shift, &lastCookie, &lastInode)
	}
	nval := len(val) - start
	var pre [2 * binary.MaxVarintLen64]byte
	n1 := binary.AppendUvarint(pre[:0], uint64(s.NumSockets()))
	n1 = binary.AppendUvarint(n1, uint64(len(col)))
	var vl [binary.MaxVarintLen64]byte
	n2 := binary.AppendUvarint(vl[:0], uint64(nval))
	head := len(n1) + len(col) + len(n2)
	b = slices.Grow(val, head)[:start+head+nval]
	copy(b[start+head:], b[start:start+nval])
	k := start + copy(b[start:], n1)
	k += copy(b[k:], col)
	copy(b[k:], n2)
	c.col = col

	p.socks = sockList{s.Carried, s.Sockets}
	p.index.commit(s)
	p.host, p.netns, p.started = s.Host, s.Netns, true
	p.counters = s.Counters
	p.sockstat = s.Sockstat
	p.procs = s.Procs
	return b, nil
}

// appendOne writes socket sk of a frame, j the previous socket it refers
// to (-1: none), last the one the previous reference was to: its order
// entry to col and its values to val.
func (c *codec) appendOne(col, val []byte, p *stream, sk *source.Socket, j int32, last int, shift uint32,
	lastCookie, lastInode *uint64) ([]byte, []byte, int) {
	if j < 0 {
		col = append(col, 0)
		return col, c.appendSocket(val, sk, lastCookie, lastInode), last
	}
	col = binary.AppendUvarint(col, 1+zigzag(int64(int(j)-(last+1))))
	o := p.socks.at(int(j))
	var mask byte
	if sk.Family != o.Family || sk.State != o.State || sk.Timer != o.Timer || sk.Retrans != o.Retrans {
		mask |= chState
	}
	if sk.Local != o.Local || sk.Remote != o.Remote {
		mask |= chAddr
	}
	if sk.RecvQ != o.RecvQ || sk.SendQ != o.SendQ {
		mask |= chQueue
	}
	if sk.Expires != predict(o, shift) {
		mask |= chExpire
	}
	if sk.UID != o.UID || sk.Inode != o.Inode {
		mask |= chOwner
	}
	if sk.OwnerInferred != o.OwnerInferred || !slices.Equal(sk.Owners, o.Owners) {
		mask |= chOwners
	}
	if !infoAsPredicted(sk.Info, o, c.frameInfoShift) {
		mask |= chInfo
	}
	if sk.Drops != o.Drops || sk.DropsKnown != o.DropsKnown || sk.Iface != o.Iface {
		mask |= chDrops
	}
	col = append(col, mask)
	return col, c.appendFields(val, sk, mask), int(j)
}

// appendSelf writes carried sockets [a, b), each matched with itself
// (matchCarried), as appendOne would: each the same as before but for an
// expiry that does not run down by the frame's shift, which a running
// timer's does not (predict) unless the shift is 0 or more than the
// expiry. So the entries are 1 (the next place) and mask 0, but for the
// first (its place counted from last) and those timers, and only these
// are read (x.tmPos, x.tmExp), not the sockets.
func (c *codec) appendSelf(col, val []byte, x *index, a, b, last int, shift uint32) ([]byte, []byte, int) {
	if a >= b {
		return col, val, last
	}
	col = binary.AppendUvarint(col, 1+zigzag(int64(a-(last+1))))
	at := len(col) // mask of place a; place i's is at at+2*(i-a)
	col = append(col, 0)
	if n := 2 * (b - a - 1); n > 0 {
		col = slices.Grow(col, n)
		pairs := col[len(col) : len(col)+n]
		pairs[0], pairs[1] = 1, 0
		for k := 2; k < n; k *= 2 {
			copy(pairs[k:], pairs[:k])
		}
		col = col[:len(col)+n]
	}
	if shift != 0 {
		for t := searchFrom(x.tmPos, 0, int32(a)); t < len(x.tmPos) && int(x.tmPos[t]) < b; t++ {
			if exp := x.tmExp[t]; exp >= shift {
				col[at+2*(int(x.tmPos[t])-a)] = chExpire
				val = binary.AppendUvarint(val, uint64(exp))
			}
		}
	}
	return col, val, b - 1
}

// predict is a known socket's expiry if nothing but time changed.
func predict(o *source.Socket, shift uint32) uint32 {
	if o.Timer != 0 && o.Expires >= shift {
		return o.Expires - shift
	}
	return o.Expires
}

// predictsInfo tells whether a known socket's tcp_info is predicted to
// age by a frame's InfoShift: a CLOSE_WAIT socket's with one, its
// LastAckRecv advanced (agedInfo), as the source advances it.
func predictsInfo(o *source.Socket, shift uint32) bool {
	return shift != 0 && o.State == source.CloseWait && o.Info != nil
}

// agedInfo is in with LastAckRecv advanced by shift ms (at most
// MaxUint32, as the source caps it).
func agedInfo(in source.TCPInfo, shift uint32) source.TCPInfo {
	in.LastAckRecv = uint32(min(uint64(in.LastAckRecv)+uint64(shift), math.MaxUint32))
	return in
}

// infoAsPredicted tells whether a, a socket's tcp_info now, is what the
// frame predicts from the known socket o: o's own, aged when
// predictsInfo.
func infoAsPredicted(a *source.TCPInfo, o *source.Socket, shift uint32) bool {
	if !predictsInfo(o, shift) || a == nil {
		return infoEqual(a, o.Info)
	}
	return *a == agedInfo(*o.Info, shift)
}

// infoAge counts how far a matched CLOSE_WAIT socket's tcp_info aged
// (its LastAckRecv grew) into c.infoShift.
func (c *codec) infoAge(o, sk *source.Socket) {
	if o.State == source.CloseWait && o.Info != nil && sk.Info != nil && sk.Info.LastAckRecv >= o.Info.LastAckRecv {
		c.infoShift.add(sk.Info.LastAckRecv - o.Info.LastAckRecv)
	}
}

func infoEqual(a, b *source.TCPInfo) bool {
	if a == nil || b == nil || a == b {
		return a == b
	}
	return *a == *b
}

func zigzag(v int64) uint64   { return uint64(v<<1) ^ uint64(v>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

func (c *codec) appendAddr(b []byte, ap netip.AddrPort) []byte {
	a := ap.Addr()
	var i uint32
	var ok bool
	if a.Is4() {
		i, ok = c.addrs4[addr4(a)]
	} else {
		i, ok = c.addrs[a]
	}
	if ok {
		b = binary.AppendUvarint(b, uint64(i))
	} else {
		b = append(b, 0)
		switch {
		case !a.IsValid():
			b = append(b, 0)
		case a.Is4():
			v := a.As4()
			b = append(b, 4)
			b = append(b, v[:]...)
		case a.Zone() != "":
			// A link-local address keeps its scope: fe80::1 on two
			// links are two addresses.
			v, z := a.As16(), a.Zone()
			b = append(b, 17)
			b = append(b, v[:]...)
			b = binary.AppendUvarint(b, uint64(len(z)))
			b = append(b, z...)
		default:
			v := a.As16()
			b = append(b, 16)
			b = append(b, v[:]...)
		}
		if c.nAddrs < maxAddrs {
			c.nAddrs++
			if a.Is4() {
				c.addrs4[addr4(a)] = uint32(c.nAddrs)
			} else {
				c.addrs[a] = uint32(c.nAddrs)
			}
		}
	}
	return binary.LittleEndian.AppendUint16(b, ap.Port())
}

// addr4 is an IPv4 address as a map key.
func addr4(a netip.Addr) uint32 {
	v := a.As4()
	return binary.BigEndian.Uint32(v[:])
}

func (c *codec) appendSocket(b []byte, sk *source.Socket, lastCookie, lastInode *uint64) []byte {
	b = binary.AppendUvarint(b, zigzag(int64(sk.Cookie-*lastCookie)))
	*lastCookie = sk.Cookie
	b = append(b, sk.Family, byte(sk.State), sk.Timer, sk.Retrans)
	b = c.appendAddr(b, sk.Local)
	b = c.appendAddr(b, sk.Remote)
	b = binary.AppendUvarint(b, uint64(sk.RecvQ))
	b = binary.AppendUvarint(b, uint64(sk.SendQ))
	b = binary.AppendUvarint(b, uint64(sk.Expires))
	b = binary.AppendUvarint(b, uint64(sk.UID))
	b = binary.AppendUvarint(b, zigzag(int64(uint64(sk.Inode)-*lastInode)))
	if sk.Inode != 0 {
		*lastInode = uint64(sk.Inode)
	}
	b = appendOwners(b, sk)
	b = appendInfo(b, sk.Info)
	return appendDrops(b, sk)
}

// appendDrops writes a listener's drop counter (0 when unknown, else the
// count + 1) and the socket's interface index.
func appendDrops(b []byte, sk *source.Socket) []byte {
	if !sk.DropsKnown {
		b = append(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(sk.Drops)+1)
	}
	return binary.AppendUvarint(b, uint64(sk.Iface))
}

func (c *codec) appendFields(b []byte, sk *source.Socket, mask byte) []byte {
	if mask&chState != 0 {
		b = append(b, sk.Family, byte(sk.State), sk.Timer, sk.Retrans)
	}
	if mask&chAddr != 0 {
		b = c.appendAddr(b, sk.Local)
		b = c.appendAddr(b, sk.Remote)
	}
	if mask&chQueue != 0 {
		b = binary.AppendUvarint(b, uint64(sk.RecvQ))
		b = binary.AppendUvarint(b, uint64(sk.SendQ))
	}
	if mask&chExpire != 0 {
		b = binary.AppendUvarint(b, uint64(sk.Expires))
	}
	if mask&chOwner != 0 {
		b = binary.AppendUvarint(b, uint64(sk.UID))
		b = binary.AppendUvarint(b, uint64(sk.Inode))
	}
	if mask&chOwners != 0 {
		b = appendOwners(b, sk)
	}
	if mask&chInfo != 0 {
		b = appendInfo(b, sk.Info)
	}
	if mask&chDrops != 0 {
		b = appendDrops(b, sk)
	}
	return b
}

func appendOwners(b []byte, sk *source.Socket) []byte {
	n := uint64(len(sk.Owners)) << 2
	if sk.OwnerInferred {
		n |= 1
	}
	if sk.Owners != nil {
		n |= 2
	}
	b = binary.AppendUvarint(b, n)
	for _, pid := range sk.Owners {
		b = binary.AppendUvarint(b, uint64(uint32(pid)))
	}
	return b
}

// errCorrupt: a frame does not parse (the chunk's checksum matched, so
// this is a bug or a crafted file).
var errCorrupt = errors.New("corrupt frame")

// cursor reads a frame without ever panicking on short input.
type cursor struct {
	b   []byte
	err error
}

func (r *cursor) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *cursor) u32() uint32 {
	v := r.uvarint()
	if v > 1<<32-1 {
		r.err = errCorrupt
	}
	return uint32(v)
}

// arr4 and arr16 make an address from bytes a short read returned (nil:
// the cursor already holds the error; never a panic on a crafted file).
func arr4(b []byte) (a [4]byte) {
	copy(a[:], b)
	return a
}

func arr16(b []byte) (a [16]byte) {
	copy(a[:], b)
	return a
}

func (r *cursor) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = errCorrupt
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *cursor) byte1() byte {
	v := r.bytes(1)
	if v == nil {
		return 0
	}
	return v[0]
}

// readFrame decodes the next frame of r into a new Sample.
func (c *codec) readFrame(r *cursor) (*source.Sample, error) {
	id := r.uvarint()
	if r.err != nil {
		return nil, r.err
	}
	if id > uint64(len(c.st)) || id > 1<<16 {
		return nil, fmt.Errorf("%w: stream %d", errCorrupt, id)
	}
	if id == uint64(len(c.st)) {
		c.st = append(c.st, c.newStream())
	}
	p := c.st[id]
	mb := r.bytes(r.uvarint())
	if r.err != nil {
		return nil, r.err
	}
	var m meta
	if err := cborDec.Unmarshal(mb, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	s := &source.Sample{Time: time.Unix(0, m.Time), Attributed: m.Attributed, Unreadable: m.Unreadable,
		Took: source.Timings{Dump: time.Duration(m.Took[0]), Attribute: time.Duration(m.Took[1]),
			Proc: time.Duration(m.Took[2]), Total: time.Duration(m.Took[3])}}
	if m.Host != nil {
		p.host = *m.Host
	}
	if m.Netns != nil {
		p.netns = *m.Netns
	}
	if !p.started && (m.Host == nil || m.Netns == nil || m.Sysctl == nil || m.Sockstat == nil) {
		return nil, fmt.Errorf("%w: first frame of a stream is not self-contained", errCorrupt)
	}
	s.Host, s.Netns = p.host, p.netns
	if m.Sysctl != nil {
		p.sysctl = *m.Sysctl
	}
	s.Sysctl = p.sysctl
	if m.Sockstat != nil {
		p.sockstat = *m.Sockstat
	}
	s.Sockstat = p.sockstat
	s.EBPF = m.EBPF
	s.UnreadablePIDs, s.Privileged, s.Groups = m.UnreadablePIDs, m.Privileged, m.Groups
	s.Partial = m.Partial
	if len(m.Counters) > 0 || len(m.CountersGone) > 0 {
		n := maps.Clone(p.counters)
		if n == nil {
			n = make(map[string]int64, len(m.Counters))
		}
		maps.Copy(n, m.Counters)
		for _, k := range m.CountersGone {
			delete(n, k)
		}
		p.counters = n
	}
	if m.Nil&2 == 0 {
		s.Counters = p.counters
		if s.Counters == nil {
			s.Counters = map[string]int64{}
			p.counters = s.Counters
		}
	}
	if len(m.Procs) > 0 || len(m.ProcsGone) > 0 {
		n := maps.Clone(p.procs)
		if n == nil {
			n = make(map[int32]*source.Process, len(m.Procs))
		}
		for i := range m.Procs {
			n[m.Procs[i].PID] = &m.Procs[i]
		}
		for _, pid := range m.ProcsGone {
			delete(n, pid)
		}
		p.procs = n
	}
	if m.Nil&1 == 0 {
		s.Procs = p.procs
		if s.Procs == nil {
			s.Procs = map[int32]*source.Process{}
			p.procs = s.Procs
		}
	}
	for _, w := range m.Warnings {
		s.Warnings = append(s.Warnings, w.warning())
	}

	n := r.uvarint()
	colb := r.bytes(r.uvarint())
	valb := r.bytes(r.uvarint())
	if r.err != nil {
		return nil, r.err
	}
	if n > uint64(len(colb)) {
		return nil, fmt.Errorf("%w: %d sockets in a %d-byte column", errCorrupt, n, len(colb))
	}
	col, val := &cursor{b: colb}, &cursor{b: valb}
	socks := make([]source.Socket, n)
	last := -1
	var lastCookie, lastInode uint64
	var aged infoSlab
	for i := range socks {
		ref := col.uvarint()
		if ref == 0 {
			c.readSocket(val, &socks[i], &lastCookie, &lastInode)
		} else {
			j := int64(last+1) + unzigzag(ref-1)
			if j < 0 || j >= int64(p.socks.len()) {
				return nil, fmt.Errorf("%w: socket reference %d of %d", errCorrupt, j, p.socks.len())
			}
			last = int(j)
			o := p.socks.at(int(j))
			socks[i] = *o
			socks[i].Expires = predict(o, m.Shift)
			if predictsInfo(o, m.InfoShift) {
				socks[i].Info = aged.next(agedInfo(*o.Info, m.InfoShift))
			}
			c.readFields(val, &socks[i], col.byte1())
		}
		if col.err != nil || val.err != nil {
			return nil, errCorrupt
		}
	}
	s.Sockets = socks
	p.socks = sockList{fresh: socks}
	p.started = true
	return s, nil
}

func (c *codec) readAddr(r *cursor) netip.AddrPort {
	i := r.uvarint()
	var a netip.Addr
	if i == 0 {
		switch l := r.byte1(); l {
		case 0:
		case 4:
			a = netip.AddrFrom4(arr4(r.bytes(4)))
		case 16:
			a = netip.AddrFrom16(arr16(r.bytes(16)))
		case 17:
			a = netip.AddrFrom16(arr16(r.bytes(16)))
			if z := r.bytes(min(r.uvarint(), 64)); z != nil {
				a = a.WithZone(string(z))
			}
		default:
			r.err = errCorrupt
		}
		if r.err == nil && len(c.addrTab) < maxAddrs {
			c.addrTab = append(c.addrTab, a)
		}
	} else if i <= uint64(len(c.addrTab)) {
		a = c.addrTab[i-1]
	} else {
		r.err = errCorrupt
	}
	pb := r.bytes(2)
	if pb == nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, binary.LittleEndian.Uint16(pb))
}

func (c *codec) readSocket(r *cursor, sk *source.Socket, lastCookie, lastInode *uint64) {
	sk.Cookie = *lastCookie + uint64(unzigzag(r.uvarint()))
	*lastCookie = sk.Cookie
	c.readFields(r, sk, chState|chAddr|chQueue|chExpire)
	sk.UID = r.u32()
	sk.Inode = uint32(*lastInode + uint64(unzigzag(r.uvarint())))
	if sk.Inode != 0 {
		*lastInode = uint64(sk.Inode)
	}
	c.readFields(r, sk, chOwners|chInfo|chDrops)
}

func (c *codec) readFields(r *cursor, sk *source.Socket, mask byte) {
	if mask&chState != 0 {
		if st := r.bytes(4); st != nil {
			sk.Family, sk.State, sk.Timer, sk.Retrans = st[0], source.State(st[1]), st[2], st[3]
		}
	}
	if mask&chAddr != 0 {
		sk.Local = c.readAddr(r)
		sk.Remote = c.readAddr(r)
	}
	if mask&chQueue != 0 {
		sk.RecvQ, sk.SendQ = r.u32(), r.u32()
	}
	if mask&chExpire != 0 {
		sk.Expires = r.u32()
	}
	if mask&chOwner != 0 {
		sk.UID, sk.Inode = r.u32(), r.u32()
	}
	if mask&chOwners != 0 {
		n := r.uvarint()
		sk.OwnerInferred = n&1 != 0
		cnt := n >> 2
		if cnt > uint64(len(r.b)) {
			r.err = errCorrupt
			return
		}
		sk.Owners = nil
		if n&2 != 0 {
			sk.Owners = make([]int32, cnt)
			for i := range sk.Owners {
				sk.Owners[i] = int32(r.u32())
			}
		}
	}
	if mask&chInfo != 0 {
		sk.Info = nil
		switch r.byte1() {
		case 1: // the first layout: ten fields, all of struct tcp_info's base
			in := &source.TCPInfo{Len: int(source.InfoBase)}
			if h := r.bytes(3); h != nil {
				in.Retransmits, in.Probes, in.Backoff = h[0], h[1], h[2]
			}
			for _, f := range [...]*uint32{&in.RTO, &in.RTT, &in.RTTVar, &in.SndCwnd, &in.Unacked, &in.Lost,
				&in.Retrans, &in.TotalRetrans, &in.LastDataSent, &in.LastDataRecv} {
				*f = r.u32()
			}
			sk.Info = in
		case 2:
			sk.Info = readInfo(r)
		}
	}
	if mask&chDrops != 0 {
		v := r.uvarint()
		sk.DropsKnown, sk.Drops = v > 0, uint32(max(v, 1)-1)
		sk.Iface = uint32(r.uvarint())
	}
}

// infoSlab hands out the aged tcp_info of a frame's predicted sockets
// from blocks, not one allocation each (a leak of thousands of
// CLOSE_WAIT sockets is thousands a frame).
type infoSlab struct{ block []source.TCPInfo }

func (b *infoSlab) next(in source.TCPInfo) *source.TCPInfo {
	if len(b.block) == cap(b.block) {
		b.block = make([]source.TCPInfo, 0, 256)
	}
	b.block = append(b.block, in)
	return &b.block[len(b.block)-1]
}
