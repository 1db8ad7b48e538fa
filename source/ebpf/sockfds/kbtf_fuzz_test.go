package sockfds

import (
	"encoding/binary"
	"os"
	"testing"
)

// FuzzWalkBTF: the one-pass reader of the kernel's BTF (fastLoad) never
// panics, whatever the file holds: a truncated, corrupt or crafted BTF is
// an error, and the load falls back to cilium/ebpf's.
func FuzzWalkBTF(f *testing.F) {
	f.Add([]byte{})
	hdr := make([]byte, 24+16)
	binary.NativeEndian.PutUint16(hdr, 0xeb9f)
	binary.NativeEndian.PutUint32(hdr[4:], 24)
	binary.NativeEndian.PutUint32(hdr[12:], 12) // a type section of one truncated type
	binary.NativeEndian.PutUint32(hdr[16:], 12)
	binary.NativeEndian.PutUint32(hdr[20:], 4)
	f.Add(hdr)
	if raw, err := os.ReadFile(DefaultBTFPath); err == nil && len(raw) > 64<<10 {
		// The kernel's own header and first types, cut short.
		f.Add(raw[:64<<10])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = walkBTF(b)
	})
}
