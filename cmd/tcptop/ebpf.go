package main

import (
	"errors"
	"fmt"

	"github.com/tcptop/tcptop/source"
	"github.com/tcptop/tcptop/source/ebpf"
)

// eBPF modes (--ebpf).
const (
	ebpfAuto = "auto"
	ebpfOn   = "on"
	ebpfOff  = "off"
)

// openTracer loads the eBPF programs as --ebpf asks: "auto" loads them
// where the kernel and privileges allow and otherwise returns a tracer
// that says why (in the JSON's ebpf.reason and the text header); "on"
// fails with that one line; "off" never tries. close releases them.
func openTracer(mode, btfPath string) (t source.Tracer, close func(), err error) {
	nothing := func() {}
	switch mode {
	case ebpfOff:
		return source.NoTracer("off (--ebpf off)"), nothing, nil
	case ebpfAuto, ebpfOn:
	default:
		return nil, nothing, usageError{fmt.Errorf("--ebpf: %q is not auto, on or off", mode)}
	}
	tr, err := ebpf.Load(ebpf.Options{BTFPath: btfPath})
	if err != nil {
		if mode == ebpfOn {
			return nil, nothing, errors.New("--ebpf on: " + err.Error())
		}
		return source.NoTracer("unavailable: " + err.Error()), nothing, nil
	}
	return tr, func() { tr.Close() }, nil
}
