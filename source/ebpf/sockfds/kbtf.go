package sockfds

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// The program needs from the kernel's BTF a dozen field offsets (its CO-RE
// relocations) and the type ID of the iterator's target function. Through
// cilium/ebpf that costs a parse of all of vmlinux's BTF and an index of
// its names (~25 ms, more than the iterator's pass at 100k sockets); this
// file finds just those in one walk of the raw types (~2 ms). Load falls
// back to cilium/ebpf's full CO-RE when the walk finds something it does
// not expect.

// btfField is one field the program reads: its byte offset and size.
type btfField struct {
	off, size uint32
}

// kernelBTF is what the walk finds.
type kernelBTF struct {
	iterTarget uint32 // type ID of FUNC bpf_iter_task_file
	// sizes of the structs, by name, and their fields, by "struct.field".
	sizes  map[string]uint32
	fields map[string]btfField
}

// wantFields are the fields of bpf/sockfds.h, by struct.
var wantFields = map[string][]string{
	"task_struct":         {"pid", "tgid"},
	"file":                {"f_inode"},
	"inode":               {"i_mode", "i_ino"},
	"bpf_iter_meta":       {"seq"},
	"bpf_iter__task_file": {"meta", "task", "fd", "file"},
}

// BTF kinds (include/uapi/linux/btf.h).
const (
	kindInt      = 1
	kindPtr      = 2
	kindArray    = 3
	kindStruct   = 4
	kindUnion    = 5
	kindEnum     = 6
	kindFwd      = 7
	kindTypedef  = 8
	kindVolatile = 9
	kindConst    = 10
	kindRestrict = 11
	kindFunc     = 12
	kindProto    = 13
	kindVar      = 14
	kindDatasec  = 15
	kindFloat    = 16
	kindDeclTag  = 17
	kindTypeTag  = 18
	kindEnum64   = 19
)

// readKernelBTF maps path (the kernel's BTF) and walks it.
func readKernelBTF(path string) (*kernelBTF, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	raw, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		// Kernels before 6.16 cannot map it.
		if raw, err = os.ReadFile(path); err != nil {
			return nil, err
		}
		return walkBTF(raw)
	}
	defer unix.Munmap(raw)
	return walkBTF(raw)
}

// walkBTF finds the program's fields and target in raw BTF (native byte
// order, as the kernel writes it).
func walkBTF(raw []byte) (*kernelBTF, error) {
	bo := binary.NativeEndian
	if len(raw) < 24 || bo.Uint16(raw) != 0xeb9f {
		return nil, errors.New("not BTF in native byte order")
	}
	hdrLen := bo.Uint32(raw[4:])
	typeOff, typeLen := hdrLen+bo.Uint32(raw[8:]), bo.Uint32(raw[12:])
	strOff, strLen := hdrLen+bo.Uint32(raw[16:]), bo.Uint32(raw[20:])
	if uint64(typeOff)+uint64(typeLen) > uint64(len(raw)) || uint64(strOff)+uint64(strLen) > uint64(len(raw)) {
		return nil, errors.New("BTF sections out of bounds")
	}
	types, strs := raw[typeOff:typeOff+typeLen], raw[strOff:strOff+strLen]

	// Names are compared by string offset: BTF strings are unique.
	nameOff := func(s string) uint32 {
		i := bytes.Index(strs, append(append([]byte{0}, s...), 0))
		if i < 0 {
			return 0
		}
		return uint32(i + 1)
	}
	structs := make(map[uint32]string) // name offset → struct name
	for s := range wantFields {
		if o := nameOff(s); o != 0 {
			structs[o] = s
		}
	}
	target := nameOff("bpf_iter_task_file")
	if target == 0 {
		return nil, errors.New("no bpf_iter_task_file in the kernel's BTF (Linux 5.8+)")
	}

	// One walk: the offset of every type (to follow member types), the
	// wanted structs and the target.
	offs := make([]uint32, 1, len(types)/16) // by type ID; ID 0 is void
	found := make(map[string]uint32)         // struct name → its type's offset
	k := &kernelBTF{sizes: make(map[string]uint32), fields: make(map[string]btfField)}
	for p := uint32(0); p < uint32(len(types)); {
		if p+12 > uint32(len(types)) {
			return nil, errors.New("truncated BTF type")
		}
		name, info := bo.Uint32(types[p:]), bo.Uint32(types[p+4:])
		kind, vlen := info>>24&0x1f, info&0xffff
		offs = append(offs, p)
		switch kind {
		case kindStruct:
			if s, ok := structs[name]; ok && vlen > 0 {
				if _, dup := found[s]; !dup {
					found[s] = p
				}
			}
		case kindFunc:
			if name == target && k.iterTarget == 0 {
				k.iterTarget = uint32(len(offs) - 1)
			}
		}
		n, err := btfTypeSize(kind, vlen)
		if err != nil {
			return nil, err
		}
		p += 12 + n
	}
	if k.iterTarget == 0 {
		return nil, errors.New("no FUNC bpf_iter_task_file in the kernel's BTF")
	}

	str := func(o uint32) string {
		if o >= uint32(len(strs)) {
			return ""
		}
		e := bytes.IndexByte(strs[o:], 0)
		if e < 0 {
			return ""
		}
		return string(strs[o : o+uint32(e)])
	}
	typeAt := func(id uint32) (kind, vlen, sizeOrType, p uint32, ok bool) {
		if id == 0 || id >= uint32(len(offs)) {
			return 0, 0, 0, 0, false
		}
		p = offs[id]
		info := bo.Uint32(types[p+4:])
		return info >> 24 & 0x1f, info & 0xffff, bo.Uint32(types[p+8:]), p, true
	}
	// sizeOf is the size of a member's type, through typedefs and
	// qualifiers; pointers are 8 (the programs are 64-bit).
	sizeOf := func(id uint32) uint32 {
		for range 32 {
			kind, _, st, _, ok := typeAt(id)
			if !ok {
				return 0
			}
			switch kind {
			case kindInt, kindEnum, kindEnum64, kindStruct, kindUnion, kindFloat:
				return st
			case kindPtr:
				return 8
			case kindTypedef, kindVolatile, kindConst, kindRestrict, kindTypeTag:
				id = st
			default:
				return 0
			}
		}
		return 0
	}
	// member finds field in the struct or union at p, looking into
	// anonymous members (the iterator contexts wrap pointers in unions).
	var member func(p uint32, field string, depth int) (btfField, bool)
	member = func(p uint32, field string, depth int) (btfField, bool) {
		info := bo.Uint32(types[p+4:])
		vlen, bitfield := info&0xffff, info>>31 == 1
		for i := range vlen {
			m := p + 12 + 12*i
			mname, mtype, moff := bo.Uint32(types[m:]), bo.Uint32(types[m+4:]), bo.Uint32(types[m+8:])
			if bitfield {
				if moff>>24 != 0 {
					continue // a bitfield: none of ours
				}
				moff &= 0xffffff
			}
			if moff%8 != 0 {
				continue
			}
			if mname == 0 && depth < 4 {
				kind, _, _, mp, ok := typeAt(mtype)
				if ok && (kind == kindStruct || kind == kindUnion) {
					if f, ok := member(mp, field, depth+1); ok {
						return btfField{off: moff/8 + f.off, size: f.size}, true
					}
				}
				continue
			}
			if str(mname) == field {
				return btfField{off: moff / 8, size: sizeOf(mtype)}, true
			}
		}
		return btfField{}, false
	}
	for s, fields := range wantFields {
		p, ok := found[s]
		if !ok {
			return nil, fmt.Errorf("no struct %s in the kernel's BTF", s)
		}
		k.sizes[s] = bo.Uint32(types[p+8:])
		for _, f := range fields {
			fl, ok := member(p, f, 0)
			if !ok {
				return nil, fmt.Errorf("no %s.%s in the kernel's BTF", s, f)
			}
			k.fields[s+"."+f] = fl
		}
	}
	return k, nil
}

// btfTypeSize is how many bytes follow a type's 12-byte header.
func btfTypeSize(kind, vlen uint32) (uint32, error) {
	switch kind {
	case kindInt, kindVar, kindDeclTag:
		return 4, nil
	case kindPtr, kindFwd, kindTypedef, kindVolatile, kindConst, kindRestrict, kindFunc, kindFloat, kindTypeTag:
		return 0, nil
	case kindArray:
		return 12, nil
	case kindStruct, kindUnion, kindDatasec, kindEnum64:
		return 12 * vlen, nil
	case kindEnum, kindProto:
		return 8 * vlen, nil
	}
	return 0, fmt.Errorf("unknown BTF kind %d", kind)
}
