package sockfds

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"
)

// errFastLoad marks a fast load that could not be prepared (the kernel's
// BTF is not as expected): Load then tries cilium/ebpf's full CO-RE.
var errFastLoad = errors.New("fast load")

// fastLoad loads the program with its CO-RE relocations resolved against
// a BTF holding only the fields it reads, as found by walkBTF, and its
// attach target given by type ID: no parse of the kernel's whole BTF.
func fastLoad(spec *ebpf.CollectionSpec, btfPath string) (*ebpf.Program, error) {
	k, err := readKernelBTF(btfPath)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errFastLoad, err)
	}
	target, err := targetSpec(k)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errFastLoad, err)
	}
	ps := spec.Programs["sock_fds"]
	if ps == nil {
		return nil, fmt.Errorf("%w: no program sock_fds", errFastLoad)
	}
	insns := slices.Clone(ps.Instructions)
	var relos []*btf.CORERelocation
	var at []int
	for i := range insns {
		if r := btf.CORERelocationMetadata(&insns[i]); r != nil {
			relos = append(relos, r)
			at = append(at, i)
		}
		if insns[i].Reference() != "" || insns[i].IsLoadFromMap() {
			return nil, fmt.Errorf("%w: instruction %d refers to %q", errFastLoad, i, insns[i].Reference())
		}
	}
	fixups, err := btf.CORERelocate(relos, []*btf.Spec{target}, ps.ByteOrder, func(btf.Type) (btf.TypeID, error) {
		return 0, errors.New("no local type IDs")
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errFastLoad, err)
	}
	for j, f := range fixups {
		if err := f.Apply(&insns[at[j]]); err != nil {
			return nil, fmt.Errorf("%w: %v", errFastLoad, err)
		}
	}
	var code bytes.Buffer
	if err := insns.Marshal(&code, ps.ByteOrder); err != nil {
		return nil, fmt.Errorf("%w: %v", errFastLoad, err)
	}
	fd, err := progLoad(code.Bytes(), ps.License, k.iterTarget)
	if err != nil {
		return nil, err
	}
	return ebpf.NewProgramFromFD(fd)
}

// progLoad is bpf(BPF_PROG_LOAD) of a task_file iterator program: union
// bpf_attr's fields up to attach_btf_id (include/uapi/linux/bpf.h).
func progLoad(code []byte, license string, attachBTFID uint32) (int, error) {
	const (
		cmdProgLoad     = 5
		progTypeTracing = 26
		attachTraceIter = 28
	)
	lic := append([]byte(license), 0)
	var attr [128]byte
	bo := binary.NativeEndian
	bo.PutUint32(attr[0:], progTypeTracing)
	bo.PutUint32(attr[4:], uint32(len(code)/asm.InstructionSize))
	bo.PutUint64(attr[8:], uint64(uintptr(unsafe.Pointer(&code[0]))))
	bo.PutUint64(attr[16:], uint64(uintptr(unsafe.Pointer(&lic[0]))))
	copy(attr[48:64], "sock_fds")
	bo.PutUint32(attr[68:], attachTraceIter)
	bo.PutUint32(attr[108:], attachBTFID)
	fd, _, errno := unix.Syscall(unix.SYS_BPF, cmdProgLoad, uintptr(unsafe.Pointer(&attr[0])), unsafe.Sizeof(attr))
	runtime.KeepAlive(code)
	runtime.KeepAlive(lic)
	if errno != 0 {
		return -1, fmt.Errorf("load program: %w", errno)
	}
	return int(fd), nil
}

// targetSpec is a BTF of the structs the program reads, each with only
// those fields, at the kernel's offsets. Field sizes must be the ones
// bpf/sockfds.h declares: another size (a kernel that changed a type)
// takes the full CO-RE path, which knows how to adjust loads.
func targetSpec(k *kernelBTF) (*btf.Spec, error) {
	ptr := func(t btf.Type) btf.Type { return &btf.Pointer{Target: t} }
	s32 := &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}
	types := map[string]btf.Type{
		"pid":     &btf.Typedef{Name: "pid_t", Type: s32},
		"i_mode":  &btf.Typedef{Name: "umode_t", Type: &btf.Int{Name: "unsigned short", Size: 2}},
		"i_ino":   &btf.Int{Name: "long unsigned int", Size: 8},
		"fd":      &btf.Int{Name: "unsigned int", Size: 4},
		"seq":     ptr(&btf.Fwd{Name: "seq_file", Kind: btf.FwdStruct}),
		"f_inode": nil, "meta": nil, "task": nil, "file": nil, "tgid": nil,
	}
	types["tgid"] = types["pid"]
	structs := make(map[string]*btf.Struct)
	for s := range wantFields {
		structs[s] = &btf.Struct{Name: s, Size: k.sizes[s]}
	}
	types["f_inode"] = ptr(structs["inode"])
	types["meta"] = ptr(structs["bpf_iter_meta"])
	types["task"] = ptr(structs["task_struct"])
	types["file"] = ptr(structs["file"])
	var all []btf.Type
	for s, fields := range wantFields {
		st := structs[s]
		for _, f := range fields {
			fl := k.fields[s+"."+f]
			typ := types[f]
			want, err := btf.Sizeof(typ)
			if err != nil {
				return nil, err
			}
			if uint32(want) != fl.size {
				return nil, fmt.Errorf("%s.%s is %d bytes, not %d", s, f, fl.size, want)
			}
			st.Members = append(st.Members, btf.Member{Name: f, Type: typ, Offset: btf.Bits(fl.off * 8)})
		}
		slices.SortFunc(st.Members, func(a, b btf.Member) int { return int(a.Offset) - int(b.Offset) })
		all = append(all, st)
	}
	b, err := btf.NewBuilder(all, nil)
	if err != nil {
		return nil, err
	}
	raw, err := b.Marshal(nil, nil)
	if err != nil {
		return nil, err
	}
	return btf.LoadSpecFromReader(bytes.NewReader(raw))
}
