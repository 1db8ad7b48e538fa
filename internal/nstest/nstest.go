// Package nstest gives tests a private network namespace with loopback up,
// so they can build exact socket populations without seeing the host's.
package nstest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"testing"

	"github.com/tcptop/tcptop/internal/sscount"
	"github.com/tcptop/tcptop/source"
)

// New creates a namespace named prefix-<random>, brings lo up, and removes
// the namespace when the test ends. It skips the test when not root or
// when `ip` is missing. The returned Namespace runs code inside it.
func New(t testing.TB, prefix string) (string, *source.Namespace) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip to create a network namespace")
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	name := prefix + "-" + hex.EncodeToString(rnd[:])
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip -n %s link set lo up: %v: %s", name, err, out)
	}
	ns, err := source.OpenNamespace(name)
	if err != nil {
		t.Fatalf("open namespace: %v", err)
	}
	t.Cleanup(ns.Close)
	return name, ns
}

// SSCounts runs `ss -tan` inside the namespace and counts sockets per state,
// with state names as tcptop spells them (TIME_WAIT, not TIME-WAIT).
func SSCounts(t testing.TB, name string, extra ...string) map[string]int {
	t.Helper()
	args := append([]string{"-N", name, "-tan"}, extra...)
	out, err := exec.Command("ss", args...).Output()
	if err != nil {
		t.Fatalf("ss %v: %v", args, err)
	}
	return sscount.States(string(out))
}
