package record

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/tcptop/tcptop/source"
)

// Reader replays a recording: a source.Reader whose Read returns the
// recorded samples in order (io.EOF after the last), with Seek to any
// poll. It never touches the live kernel. Opening reads the header and
// hops over the chunk headers (the index); payloads are read and
// decompressed only when a poll in them is read. Damaged parts are
// skipped and described by Damage. Not safe for concurrent use.
type Reader struct {
	ra     io.ReaderAt
	closer io.Closer
	size   int64
	hdr    Header
	chunks []chunkInfo
	total  int
	damage []string

	pos    int
	c      codec
	dec    int // the chunk whose frames are in frames (-1: none)
	frames []*source.Sample
}

// Open opens the recording at path. The error says in one line what is
// wrong: not a recording, empty, from a newer tcptop, a directory.
func Open(path string) (*Reader, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a recording", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, err := NewReader(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r.closer = f
	return r, nil
}

// NewReader reads a recording of size bytes from ra.
func NewReader(ra io.ReaderAt, size int64) (*Reader, error) {
	r := &Reader{ra: ra, size: size, dec: -1}
	off, err := r.readHeader()
	if err != nil {
		return nil, err
	}
	r.index(off)
	if r.total == 0 {
		if len(r.damage) > 0 {
			return nil, fmt.Errorf("%w (%s)", ErrNoFrames, r.damage[0])
		}
		return nil, ErrNoFrames
	}
	return r, nil
}

func (r *Reader) readHeader() (int64, error) {
	fixed := make([]byte, fileHdrFixed)
	n, err := r.ra.ReadAt(fixed, 0)
	if n < len(Magic) {
		if n == 0 && (err == nil || errors.Is(err, io.EOF)) {
			return 0, ErrEmpty
		}
		if n > 0 && string(fixed[:n]) == Magic[:n] {
			return 0, ErrEmpty
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		return 0, ErrNotRecording
	}
	if string(fixed[:len(Magic)]) != Magic {
		return 0, ErrNotRecording
	}
	if n < fileHdrFixed {
		return 0, ErrEmpty
	}
	le := binary.LittleEndian
	ver := int(le.Uint16(fixed[8:]))
	if ver > FormatVersion {
		return 0, FutureError{Version: ver}
	}
	if ver == 0 {
		return 0, fmt.Errorf("bad recording header (format version 0)")
	}
	l := int64(le.Uint32(fixed[12:]))
	if l > maxHeaderLen || fileHdrFixed+l+4 > r.size {
		if fileHdrFixed+l+4 > r.size && l <= maxHeaderLen {
			return 0, ErrEmpty
		}
		return 0, fmt.Errorf("bad recording header (length %d)", l)
	}
	all := make([]byte, fileHdrFixed+l+4)
	if _, err := r.ra.ReadAt(all, 0); err != nil {
		return 0, err
	}
	body := all[fileHdrFixed : fileHdrFixed+l]
	if crc(all[:fileHdrFixed+l]) != le.Uint32(all[fileHdrFixed+l:]) {
		return 0, fmt.Errorf("bad recording header (checksum mismatch)")
	}
	// Thresholds missing from an older header keep today's defaults.
	h := Header{}
	if err := cborDec.Unmarshal(body, &h); err != nil {
		return 0, fmt.Errorf("bad recording header: %v", err)
	}
	h.Format = ver
	r.hdr = h
	return int64(len(all)), nil
}

// index hops over the chunk headers from off. A header that fails its
// checksum is searched past (resync); a chunk cut by the end of the file
// (a torn tail) ends the index.
func (r *Reader) index(off int64) {
	hb := make([]byte, chunkHdrLen)
	gap := false // a damaged header was skipped: deltas need the next key
	for off < r.size {
		n, _ := r.ra.ReadAt(hb, off)
		c, ok := parseChunkHeader(hb[:n])
		if !ok {
			if n < chunkHdrLen {
				r.damage = append(r.damage, fmt.Sprintf("torn tail at byte %d: %d bytes of a chunk header lost", off, n))
				return
			}
			next := r.resync(off + 1)
			if next < 0 {
				r.damage = append(r.damage, fmt.Sprintf("damaged chunk header at byte %d: the rest of the file (%d bytes) skipped", off, r.size-off))
				return
			}
			r.damage = append(r.damage, fmt.Sprintf("damaged chunk header at byte %d: %d bytes skipped", off, next-off))
			off, gap = next, true
			continue
		}
		if off+chunkHdrLen+int64(c.payLen) > r.size {
			r.damage = append(r.damage, fmt.Sprintf("torn tail at byte %d: the last chunk (%d polls) is incomplete", off, c.frames))
			return
		}
		c.off = off
		c.base = r.total
		gap = gap && !c.key
		c.bad = gap
		r.total += c.frames
		r.chunks = append(r.chunks, c)
		off += chunkHdrLen + int64(c.payLen)
	}
}

// resync finds the next valid chunk header at or after off (-1: none).
func (r *Reader) resync(off int64) int64 {
	const block = 1 << 20
	buf := make([]byte, block+chunkHdrLen)
	for off < r.size {
		n, _ := r.ra.ReadAt(buf, off)
		if n == 0 {
			return -1
		}
		b := buf[:n]
		for i := 0; ; {
			j := bytes.Index(b[i:], []byte(chunkMagic))
			if j < 0 {
				break
			}
			i += j
			if i+chunkHdrLen <= len(b) {
				if c, ok := parseChunkHeader(b[i : i+chunkHdrLen]); ok && off+int64(i)+chunkHdrLen+int64(c.payLen) <= r.size {
					return off + int64(i)
				}
			} else if n == len(buf) {
				break // straddles the block: the next read sees it whole
			}
			i++
		}
		if n < len(buf) {
			return -1
		}
		off += block
	}
	return -1
}

// Header is the recording's header.
func (r *Reader) Header() Header { return r.hdr }

// Len is how many polls the index holds (those of damaged chunks
// included: Read skips them).
func (r *Reader) Len() int { return r.total }

// Pos is the position of the poll the next Read returns.
func (r *Reader) Pos() int { return r.pos }

// Start and End are the first and last recorded times, from the index.
func (r *Reader) Start() time.Time { return time.Unix(0, r.chunks[0].first) }

// End is the last recorded time (see Start).
func (r *Reader) End() time.Time { return time.Unix(0, r.chunks[len(r.chunks)-1].last) }

// Damage describes what could not be read, one line each (nil when the
// recording is intact so far: damaged payloads are found when read).
func (r *Reader) Damage() []string { return r.damage }

// Seek makes the next Read return poll i (clamped to [0, Len]).
func (r *Reader) Seek(i int) {
	r.pos = max(0, min(i, r.total))
}

// SeekTime seeks to the first poll at or after t and returns its
// position (Len when t is after the end).
func (r *Reader) SeekTime(t time.Time) int {
	ns := t.UnixNano()
	k := sort.Search(len(r.chunks), func(i int) bool { return r.chunks[i].last >= ns })
	if k == len(r.chunks) {
		r.pos = r.total
		return r.pos
	}
	r.pos = r.chunks[k].base
	if err := r.load(k); err == nil {
		for i, s := range r.frames {
			if s.Time.UnixNano() >= ns {
				r.pos = r.chunks[k].base + i
				break
			}
		}
	}
	return r.pos
}

// Read returns the poll at Pos and moves past it; io.EOF after the last.
// Polls of a damaged chunk (and of the delta chunks that need it) are
// skipped, and Damage says so.
func (r *Reader) Read(ctx context.Context) (*source.Sample, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for r.pos < r.total {
		k := r.chunkOf(r.pos)
		if err := r.load(k); err != nil {
			r.pos = r.nextKeyAfter(k)
			continue
		}
		s := r.frames[r.pos-r.chunks[k].base]
		r.pos++
		return s, nil
	}
	return nil, io.EOF
}

// chunkOf returns the chunk holding poll i.
func (r *Reader) chunkOf(i int) int {
	return sort.Search(len(r.chunks), func(k int) bool { return r.chunks[k].base+r.chunks[k].frames > i })
}

// nextKeyAfter is the position of the first key chunk after chunk k.
func (r *Reader) nextKeyAfter(k int) int {
	for j := k + 1; j < len(r.chunks); j++ {
		if r.chunks[j].key && !r.chunks[j].bad {
			return r.chunks[j].base
		}
	}
	return r.total
}

// load makes chunk k's frames current, decoding from its key chunk when
// the codec is not right after chunk k-1.
func (r *Reader) load(k int) error {
	if r.chunks[k].bad {
		return errDamaged
	}
	if r.dec == k {
		return nil
	}
	start := k
	if !(r.dec == k-1 && r.dec >= 0 && !r.chunks[k].key) {
		for start > 0 && !r.chunks[start].key {
			start--
		}
	}
	if start != k || r.chunks[k].key {
		r.c.reset()
	}
	for j := start; j <= k; j++ {
		frames, err := r.decode(j)
		if err != nil {
			r.chunks[j].bad = true
			for b := j + 1; b < len(r.chunks) && !r.chunks[b].key; b++ {
				r.chunks[b].bad = true
			}
			r.damage = append(r.damage, fmt.Sprintf("chunk at byte %d: %v: polls %d-%d skipped",
				r.chunks[j].off, err, r.chunks[j].base+1, r.nextKeyAfter(j)))
			r.dec, r.frames = -1, nil
			return err
		}
		r.dec, r.frames = j, frames
	}
	return nil
}

// decode reads, checks and decodes chunk j with the current codec state.
func (r *Reader) decode(j int) ([]*source.Sample, error) {
	c := &r.chunks[j]
	if c.bad {
		return nil, errDamaged
	}
	if !c.key && j == 0 {
		return nil, errors.New("first chunk is not a key chunk")
	}
	pay := make([]byte, c.payLen)
	if _, err := r.ra.ReadAt(pay, c.off+chunkHdrLen); err != nil {
		return nil, err
	}
	if crc(pay) != c.payCRC {
		return nil, errors.New("checksum mismatch")
	}
	zd := zstdDecoder()
	raw, err := zd.DecodeAll(pay, make([]byte, 0, c.rawLen))
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	if len(raw) != c.rawLen {
		return nil, errors.New("length mismatch")
	}
	cur := &cursor{b: raw}
	frames := make([]*source.Sample, 0, c.frames)
	for len(cur.b) > 0 && cur.err == nil {
		s, err := r.c.readFrame(cur)
		if err != nil {
			return nil, err
		}
		frames = append(frames, s)
	}
	if len(frames) != c.frames {
		return nil, fmt.Errorf("%d polls where the header says %d", len(frames), c.frames)
	}
	return frames, nil
}

// errDamaged: a chunk already found damaged.
var errDamaged = errors.New("damaged")

// Close closes the file.
func (r *Reader) Close() error {
	if r.closer != nil {
		return r.closer.Close()
	}
	return nil
}
