package ebpf

import (
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
)

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(es)
}

// TestLoadAccountsAndCloses: every program of the object is either loaded
// and attached or named in Skipped (and then optional), never both; and
// Close gives back every descriptor Load took (maps, programs, links, and
// the copies of the maps each program was loaded against), and holds no
// more than it needs meanwhile.
func TestLoadAccountsAndCloses(t *testing.T) {
	if err := Check(Options{}); err != nil {
		t.Skip(err)
	}
	// A first load opens what the process keeps anyway (the Go runtime's
	// poller); the count starts after it.
	tr, err := Load(Options{})
	if err != nil {
		t.Fatal(err)
	}
	tr.Close()
	// No collection meanwhile: the garbage collector closes descriptors
	// that were dropped without Close, hiding the leak.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	runtime.GC()
	before := openFDs(t)
	tr, err = Load(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("skipped: %q", tr.Skipped)
	// Loaded, the tracer holds a descriptor per map, per link, and per
	// program and its BTF; nothing more.
	if held, most := openFDs(t)-before, len(tr.coll.Maps)+len(tr.links)+2*len(tr.coll.Programs); held > most {
		t.Errorf("%d descriptors held while loaded, at most %d expected", held, most)
	}
	spec, err := loadTcptop()
	if err != nil {
		t.Fatal(err)
	}
	for name := range spec.Programs {
		_, loaded := tr.coll.Programs[name]
		skipped := slices.ContainsFunc(tr.Skipped, func(s string) bool { return strings.HasPrefix(s, name+" (") })
		switch {
		case loaded && skipped:
			t.Errorf("%s both loaded and skipped", name)
		case !loaded && !skipped:
			t.Errorf("%s neither loaded nor skipped", name)
		case skipped && optional[name] == "":
			t.Errorf("%s skipped but not optional", name)
		}
	}
	if len(tr.links)+len(tr.Skipped) != len(spec.Programs) {
		t.Errorf("%d links and %d skipped for %d programs", len(tr.links), len(tr.Skipped), len(spec.Programs))
	}
	if len(tr.coll.Maps) != len(spec.Maps) {
		t.Errorf("%d maps, want %d", len(tr.coll.Maps), len(spec.Maps))
	}
	if err := tr.Close(); err != nil {
		t.Error(err)
	}
	if after := openFDs(t); after != before {
		t.Errorf("%d descriptors open before Load, %d after Close", before, after)
	}
}
