// Package record writes and reads tcptop recordings: the samples the
// analyzer was fed (source.Sample), not the screens, so a replay re-runs
// the findings of the tcptop that replays it. See docs/RECORDING.md for
// the format and its compatibility promise.
//
// A recording is a header followed by chunks:
//
//	header: magic "TCPTOPRC", u16 format version, u16 flags (0),
//	        u32 length, CBOR Header, u32 CRC-32C of all of it
//	chunk:  "CHNK", u8 flags (1: starts with a key frame), 3 zero bytes,
//	        u32 frames, i64 first and last sample time (Unix ns),
//	        u32 raw length, u32 payload length, u32 payload CRC-32C,
//	        u32 CRC-32C of the 40 bytes before it, then the payload: the frames,
//	        zstd-compressed
//
// The chunk headers are the index: opening a recording hops from header
// to header (44 bytes each) without reading payloads, and a chunk whose
// header or payload fails its checksum is skipped with the delta chunks
// that depend on it, up to the next key chunk.
package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/tcptop/tcptop/model"
)

// FormatVersion is the format this package writes. Readers accept every
// version up to it; see docs/RECORDING.md.
const FormatVersion = 2

// Magic starts every recording.
const Magic = "TCPTOPRC"

const (
	chunkMagic   = "CHNK"
	chunkHdrLen  = 44
	fileHdrFixed = 8 + 2 + 2 + 4 // magic, version, flags, length
	// maxHeaderLen and maxChunkLen bound what a reader allocates for a
	// (possibly corrupt) length field.
	maxHeaderLen = 1 << 20
	maxChunkLen  = 256 << 20
	flagKey      = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// Header describes a recording: what wrote it, where and how.
type Header struct {
	// Format is the format version the file was written in.
	Format int `cbor:"1,keyasint"`
	// Version is the tcptop version that wrote it.
	Version string `cbor:"2,keyasint"`
	// Created is when the recording started.
	Created time.Time `cbor:"3,keyasint"`
	// Host is the host name; Kernel the kernel release (uname -r).
	Host   string `cbor:"4,keyasint"`
	Kernel string `cbor:"5,keyasint"`
	// Interval is the poll interval the recording was made with.
	Interval time.Duration `cbor:"6,keyasint"`
	// Thresholds are the thresholds in force when recording; a replay
	// uses them unless told otherwise.
	Thresholds model.Thresholds `cbor:"7,keyasint"`
	// Namespaces are the labels of the namespaces read.
	Namespaces []string `cbor:"8,keyasint"`
	// Redacted is true when addresses and command lines were replaced by
	// keyed hashes (--redact).
	Redacted bool `cbor:"9,keyasint"`
	// KeyEvery and ChunkEvery are the key-frame and chunk periods.
	KeyEvery   time.Duration `cbor:"10,keyasint"`
	ChunkEvery time.Duration `cbor:"11,keyasint"`
	// Flight is true for a flight-recorder dump.
	Flight bool `cbor:"12,keyasint"`
}

// Errors a reader reports; each says in one line what is wrong.
var (
	// ErrNotRecording: the file does not start with the magic.
	ErrNotRecording = errors.New("not a tcptop recording")
	// ErrEmpty: the file has no header (empty, or cut inside it).
	ErrEmpty = errors.New("empty or truncated recording (no complete header)")
	// ErrNoFrames: the header is intact but no poll could be read.
	ErrNoFrames = errors.New("recording holds no intact poll")
)

// FutureError is a recording from a newer tcptop.
type FutureError struct{ Version int }

func (e FutureError) Error() string {
	return fmt.Sprintf("recording format version %d is newer than this tcptop reads (%d): replay it with a newer tcptop", e.Version, FormatVersion)
}

var cborEnc cbor.EncMode

func init() {
	var err error
	cborEnc, err = cbor.EncOptions{Time: cbor.TimeRFC3339Nano, Sort: cbor.SortNone}.EncMode()
	if err != nil {
		panic(err)
	}
}

var cborDec, _ = cbor.DecOptions{MaxArrayElements: 1 << 24, MaxMapPairs: 1 << 24}.DecMode()

// encodeHeader returns the file header bytes.
func encodeHeader(h Header) ([]byte, error) {
	h.Format = FormatVersion
	body, err := cborEnc.Marshal(h)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, fileHdrFixed+len(body)+4)
	b = append(b, Magic...)
	b = binary.LittleEndian.AppendUint16(b, FormatVersion)
	b = binary.LittleEndian.AppendUint16(b, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(body)))
	b = append(b, body...)
	return binary.LittleEndian.AppendUint32(b, crc(b)), nil
}

// chunkInfo is one chunk's header: an index entry.
type chunkInfo struct {
	off         int64 // of the chunk header
	key         bool
	frames      int
	first, last int64 // Unix ns
	rawLen      int
	payLen      int
	payCRC      uint32
	base        int // the global position of its first frame
	bad         bool
}

func appendChunkHeader(b []byte, c chunkInfo) []byte {
	start := len(b)
	b = append(b, chunkMagic...)
	fl := byte(0)
	if c.key {
		fl = flagKey
	}
	b = append(b, fl, 0, 0, 0)
	b = binary.LittleEndian.AppendUint32(b, uint32(c.frames))
	b = binary.LittleEndian.AppendUint64(b, uint64(c.first))
	b = binary.LittleEndian.AppendUint64(b, uint64(c.last))
	b = binary.LittleEndian.AppendUint32(b, uint32(c.rawLen))
	b = binary.LittleEndian.AppendUint32(b, uint32(c.payLen))
	b = binary.LittleEndian.AppendUint32(b, c.payCRC)
	return binary.LittleEndian.AppendUint32(b, crc(b[start:]))
}

// parseChunkHeader checks and reads a 44-byte chunk header.
func parseChunkHeader(b []byte) (chunkInfo, bool) {
	if len(b) < chunkHdrLen || string(b[:4]) != chunkMagic {
		return chunkInfo{}, false
	}
	le := binary.LittleEndian
	if crc(b[:40]) != le.Uint32(b[40:44]) {
		return chunkInfo{}, false
	}
	c := chunkInfo{
		key:    b[4]&flagKey != 0,
		frames: int(le.Uint32(b[8:])),
		first:  int64(le.Uint64(b[12:])),
		last:   int64(le.Uint64(b[20:])),
		rawLen: int(le.Uint32(b[28:])),
		payLen: int(le.Uint32(b[32:])),
		payCRC: le.Uint32(b[36:]),
	}
	if c.payLen > maxChunkLen || c.rawLen > maxChunkLen || c.frames <= 0 || c.frames > 1<<20 {
		return chunkInfo{}, false
	}
	return c, true
}
