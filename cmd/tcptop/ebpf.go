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

// reasonOnePoll is why "auto" leaves the programs unloaded for a run of a
// single poll (ebpf.reason in the JSON, the text header's line).
const reasonOnePoll = "off (one poll: nothing to count; --ebpf on loads it)"

// openTracer loads the eBPF programs as --ebpf asks: "auto" loads them
// where the kernel and privileges allow and otherwise returns a tracer
// that says why (in the JSON's ebpf.reason and the text header); "on"
// fails with that one line; "off" never tries. close releases them.
//
// onePoll (--once, --count 1) makes "auto" not try either: the programs
// count from the moment they load, so the only poll, taken right after,
// would find next to nothing, and loading them (the kernel's BTF parsed,
// the programs verified) was a third of a --once run at 100k sockets.
// "on" still loads them.
func openTracer(mode, btfPath string, onePoll bool) (t source.Tracer, close func(), err error) {
	nothing := func() {}
	switch mode {
	case ebpfOff:
		return source.NoTracer("off (--ebpf off)"), nothing, nil
	case ebpfAuto:
		if onePoll {
			return source.NoTracer(reasonOnePoll), nothing, nil
		}
	case ebpfOn:
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

// onePoll reports whether the run takes a single poll (--once, --count 1),
// for openTracer. --check watches over several polls: it loads them.
func (c config) onePoll() bool { return c.once || c.count == 1 }
