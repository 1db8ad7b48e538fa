package record

import (
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/tcptop/tcptop/source"
)

// Default periods: a key frame starts a chunk group every KeyEvery, a
// chunk is closed every ChunkEvery (a torn tail loses at most that).
const (
	DefaultKeyEvery   = 60 * time.Second
	DefaultChunkEvery = 10 * time.Second
	// maxPending closes a chunk early when its raw frames grow past it:
	// the open chunk's raw frames are memory a monitor holds until they
	// are compressed, and its buffer is kept for the next chunk. At 100k
	// sockets with 25k of them dumped each second (5k CLOSE_WAIT whose
	// tcp_info changes every poll) a 10 s chunk grew ~8 MiB raw; at
	// 2 MiB the peak RSS of the monitor went down 5-19 MiB in three
	// side-by-side runs, for recordings 0.5 % larger (BenchmarkSize*).
	maxPending = 2 << 20
	// soloKey closes a chunk after its first frame, a key frame of more
	// raw bytes than this, at the next Add: a big table's key frame
	// (~10 MiB raw at 100k sockets, every KeyEvery) is compressed a
	// second after it was written, not held raw for a whole ChunkEvery
	// beside the frames after it; and its buffer is not kept for the
	// chunks after it when larger than keepRaw (kept, it held those
	// ~10 MiB for the whole run: a tenth of a monitor's memory at 100k;
	// issue 18).
	soloKey = 1 << 20
	keepRaw = 1 << 20
)

// EncoderOptions tune an Encoder.
type EncoderOptions struct {
	// KeyEvery is how often a chunk starts with self-contained frames
	// (DefaultKeyEvery when 0); ChunkEvery how often a chunk is closed
	// (DefaultChunkEvery when 0).
	KeyEvery, ChunkEvery time.Duration
	// Redact, when set, replaces addresses and command lines before
	// anything is encoded.
	Redact *Redactor
}

var (
	zdecOnce sync.Once
	zdec     *zstd.Decoder
)

// zstdDecoder is the shared, stateless (DecodeAll) decoder.
func zstdDecoder() *zstd.Decoder {
	zdecOnce.Do(func() {
		zdec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxChunkLen))
	})
	return zdec
}

// newZstdEncoder is the encoder of an Encoder's chunks, kept for all of
// them. Its window is 2 MiB, the most raw bytes a chunk holds but for a
// big key frame (maxPending; a key frame matches within itself, well
// inside 2 MiB): the default 8 MiB window and its tables, kept, were a
// third of the flight recorder's memory at 100k sockets, and an encoder
// made anew for each chunk cost ~1 ms a second in allocations and heap
// spikes (issue 18: at 100k sockets, peak RSS ~10 MiB lower and CPU a
// little lower than with a new encoder per chunk, side by side).
// EncodeAll starts from a reset state either way: the bytes are the
// same as a new encoder's of the same options.
func newZstdEncoder() *zstd.Encoder {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithLowerEncoderMem(true),
		zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithWindowSize(2<<20))
	if err != nil {
		panic(err) // the options are constant and valid
	}
	return enc
}

// Encoder turns samples into chunks: each Add may return the chunk the
// sample closed. It is not safe for concurrent use.
type Encoder struct {
	opt      EncoderOptions
	c        codec
	raw      []byte
	cur      chunkInfo
	lastKey  time.Time
	open     bool
	needsKey bool
	z        *zstd.Encoder // made at the first chunk (newZstdEncoder)
}

// NewEncoder returns an Encoder whose first chunk starts with a key frame.
func NewEncoder(opt EncoderOptions) *Encoder {
	if opt.KeyEvery <= 0 {
		opt.KeyEvery = DefaultKeyEvery
	}
	if opt.ChunkEvery <= 0 {
		opt.ChunkEvery = DefaultChunkEvery
	}
	if opt.ChunkEvery > opt.KeyEvery {
		opt.ChunkEvery = opt.KeyEvery
	}
	return &Encoder{opt: opt, needsKey: true}
}

// Chunk is one encoded chunk, header included, ready to append to a file.
type Chunk struct {
	Bytes []byte
	// Key is true when the chunk starts with self-contained frames.
	Key bool
	// First and Last are its first and last sample times.
	First, Last time.Time
}

// Add encodes s; when s falls after the open chunk's period, that chunk
// is closed first and returned.
func (e *Encoder) Add(s *source.Sample) (*Chunk, error) {
	if e.opt.Redact != nil {
		s = e.opt.Redact.Sample(s)
	}
	var done *Chunk
	if e.open && (s.Time.Sub(time.Unix(0, e.cur.first)) >= e.opt.ChunkEvery || len(e.raw) > maxPending ||
		e.cur.key && e.cur.frames == 1 && len(e.raw) > soloKey ||
		s.Time.Sub(e.lastKey) >= e.opt.KeyEvery || s.Time.Before(time.Unix(0, e.cur.last))) {
		done = e.finish()
	}
	if !e.open {
		key := e.needsKey || s.Time.Sub(e.lastKey) >= e.opt.KeyEvery || s.Time.Before(e.lastKey)
		if key {
			e.c.reset()
			e.lastKey = s.Time
			e.needsKey = false
		}
		e.cur = chunkInfo{key: key, first: s.Time.UnixNano()}
		e.raw = e.raw[:0]
		e.open = true
	}
	mark := len(e.raw)
	raw, err := e.c.appendFrame(e.raw, s)
	if err != nil {
		e.raw = e.raw[:mark]
		// The codec state may be half updated: the next chunk starts
		// afresh.
		e.needsKey = true
		return done, err
	}
	e.raw = raw
	e.cur.frames++
	e.cur.last = s.Time.UnixNano()
	return done, nil
}

// Flush closes the open chunk and returns it (nil when none is open).
func (e *Encoder) Flush() *Chunk {
	if !e.open {
		return nil
	}
	return e.finish()
}

// Peek returns the open chunk as it would be closed now, without closing
// it (a flight-recorder dump); nil when none is open.
func (e *Encoder) Peek() *Chunk {
	if !e.open {
		return nil
	}
	return e.seal()
}

func (e *Encoder) finish() *Chunk {
	c := e.seal()
	e.open = false
	if e.cur.key && e.cur.frames == 1 && cap(e.raw) > keepRaw {
		// A big key frame's buffer: the delta chunks after it need far
		// less (under heavy churn they grow their own, then keep it).
		e.raw = nil
	}
	return c
}

// seal compresses the open chunk, then copies it out at its exact size
// (a flight recorder holds its chunks for minutes: no spare capacity).
// The output buffer is scratch of this call only (the compressor is kept:
// newZstdEncoder).
func (e *Encoder) seal() *Chunk {
	if e.z == nil {
		e.z = newZstdEncoder()
	}
	pay := e.z.EncodeAll(e.raw, nil)
	ci, raw := e.cur, e.raw
	ci.rawLen, ci.payLen, ci.payCRC = len(raw), len(pay), crc(pay)
	b := appendChunkHeader(make([]byte, 0, chunkHdrLen+len(pay)), ci)
	b = append(b, pay...)
	return &Chunk{Bytes: b, Key: ci.key, First: time.Unix(0, ci.first), Last: time.Unix(0, ci.last)}
}
