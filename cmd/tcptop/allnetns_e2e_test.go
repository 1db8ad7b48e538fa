package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tcptop/tcptop/internal/nstest"
)

// The v1 named systemd hierarchy, where a test can make cgroups named as
// each runtime names them (as the pipeline tests do).
const cgroupV1 = "/sys/fs/cgroup/systemd"

func hexID(n int) string {
	b := make([]byte, n/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// podLeak starts, in a new network namespace, sockpop holding 12
// CLOSE_WAIT sockets, moved into a cgroup named as containerd names a
// Kubernetes pod's container, with the runtime's config.json naming the
// pod prod/api-<rnd> in a fixture tree; it returns the pod's name, the
// root flags that point tcptop at the tree, sockpop's pid and when its
// sockets stood.
func podLeak(t *testing.T) (pod string, flags []string, pid int, ready time.Time) {
	t.Helper()
	_, sockpop := bins(t)
	if _, err := os.Stat(cgroupV1 + "/cgroup.procs"); err != nil {
		t.Skip("needs the cgroup v1 named systemd hierarchy")
	}
	ctrID, podUID := hexID(64), "1b2c3d4e-aaaa-bbbb-cccc-"+hexID(12)
	pod = "api-" + hexID(6)
	fix := t.TempDir()
	dir := filepath.Join(fix, "run/k8s.io", ctrID)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`{"annotations":{"io.kubernetes.cri.sandbox-name":%q,"io.kubernetes.cri.sandbox-namespace":"prod"}}`, pod)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	top := "tcptop-e2e-" + hexID(8)
	cg := filepath.Join(cgroupV1, top, "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"+
		strings.ReplaceAll(podUID, "-", "_")+".slice/cri-containerd-"+ctrID+".scope")
	if err := os.MkdirAll(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for d := cg; strings.HasPrefix(d, cgroupV1+"/"); d = filepath.Dir(d) {
			os.Remove(d)
		}
	})
	// One pid from unshare to sockpop (exec all along), so the pid moved
	// into the cgroup is the holder's.
	cmd := exec.Command("unshare", "-n", "sh", "-c", "ip link set lo up && exec "+sockpop+" -addr 127.0.0.1 -closewait 12 -port 7000")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Skipf("unshare: %v", err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	if err := os.WriteFile(cg+"/cgroup.procs", []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "READY ") {
		t.Fatalf("sockpop in the pod: %q, %v", line, err)
	}
	return "prod/" + pod, []string{"--runtime-root", filepath.Join(fix, "run"), "--docker-root", filepath.Join(fix, "docker"),
		"--pods-log-root", filepath.Join(fix, "pods")}, cmd.Process.Pid, time.Now()
}

// tcptop -A --check exits 1 naming the namespace (as its pod) and the
// leak; the overview stream names it within two refreshes.
func TestAllNetnsCheckAndOverviewNameThePod(t *testing.T) {
	pod, roots, pid, ready := podLeak(t)
	// close-wait-age (5 s) from the kernel's tcp_info at the first look:
	// wait until the sockets are that old, then two refreshes must do.
	time.Sleep(time.Until(ready.Add(5500 * time.Millisecond)))

	out, errs, code := runTcptop(t, nil, append([]string{"-A", "--interval", "1s", "--count", "2"}, roots...)...)
	if code != 0 || errs != "" {
		t.Fatalf("-A --count 2: exit %d, stderr %q", code, errs)
	}
	row := ""
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, pod) && strings.Contains(l, "WARNING close_wait_leak") {
			row = l
		}
	}
	if row == "" {
		t.Errorf("no overview row names %s with WARNING close_wait_leak within two refreshes:\n%s", pod, out)
	}
	if want := fmt.Sprintf("[pod %s] CLOSE_WAIT leak: sockpop[%d] holds 12 sockets", pod, pid); !strings.Contains(out, want) {
		t.Errorf("the findings do not say %q:\n%s", want, out)
	}

	out, errs, code = runTcptop(t, nil, append([]string{"-A", "--check", "--interval", "300ms"}, roots...)...)
	if code != exitFailure || errs != "" {
		t.Errorf("-A --check: exit %d, stderr %q; want 1 and nothing on stderr", code, errs)
	}
	for _, want := range []string{fmt.Sprintf("[pod %s] CLOSE_WAIT leak: sockpop[%d]", pod, pid), "(rule close_wait_leak)", "CHECK FAILED "} {
		if !strings.Contains(out, want) {
			t.Errorf("-A --check output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out[strings.Index(out, "CHECK FAILED"):], pod) {
		t.Errorf("the verdict line does not name the pod %s:\n%s", pod, out)
	}
}

// As nobody: namespaces that cannot be entered are listed and marked,
// with vital signs where readable (a namespace of nobody's own process),
// no error on stderr, exit 0.
func TestAllNetnsUnprivileged(t *testing.T) {
	bins(t)
	bound, _ := nstest.New(t, "tcptop-an-nobody")
	nobody := asNobody(t)
	// A namespace of nobody's own (in a user namespace nobody owns).
	own := exec.Command(nobody[0], append(nobody[1:], "unshare", "-rn", "sleep", "30")...)
	if err := own.Start(); err != nil {
		t.Skipf("unshare -rn as nobody: %v", err)
	}
	t.Cleanup(func() { own.Process.Kill(); own.Wait() })
	var ownNS string
	for i := 0; i < 200 && ownNS == ""; i++ {
		time.Sleep(10 * time.Millisecond)
		self, _ := os.Readlink("/proc/self/ns/net")
		// setpriv execs unshare, which execs sleep: one pid throughout.
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", own.Process.Pid)); err == nil && l != self {
			ownNS = l
		}
	}
	if ownNS == "" {
		t.Skip("unshare -rn as nobody never entered its namespace")
	}

	out, errs, code := runTcptop(t, nobody, "-A", "--once", "--json")
	if code != 0 || errs != "" {
		t.Fatalf("-A --once --json as nobody: exit %d, stderr %q", code, errs)
	}
	var doc struct {
		Namespaces []struct {
			ID        string          `json:"id"`
			NetnsName string          `json:"netns_name"`
			Initial   bool            `json:"initial"`
			Entered   bool            `json:"entered"`
			Vitals    json.RawMessage `json:"vitals"`
			Total     *int            `json:"total"`
		} `json:"namespaces"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	seen := map[string]bool{}
	for _, n := range doc.Namespaces {
		switch {
		case n.NetnsName == bound:
			seen["bound"] = true
			if n.Entered || n.Total != nil {
				t.Errorf("%s as nobody: entered %v, detail %v; want neither", bound, n.Entered, n.Total != nil)
			}
		case n.ID == ownNS:
			seen["own"] = true
			if n.Entered || string(n.Vitals) == "null" || len(n.Vitals) == 0 {
				t.Errorf("nobody's own namespace: entered %v, vitals %s; want vital signs without entering", n.Entered, n.Vitals)
			}
		case n.Initial:
			seen["host"] = true
			if !n.Entered || n.Total == nil {
				t.Errorf("the host namespace as nobody: entered %v; want its full detail", n.Entered)
			}
		}
	}
	for _, k := range []string{"bound", "own", "host"} {
		if !seen[k] {
			t.Errorf("as nobody the %s namespace is not listed:\n%s", k, out)
		}
	}

	out, errs, code = runTcptop(t, nobody, "-A", "--once")
	if code != 0 || errs != "" {
		t.Fatalf("-A --once as nobody: exit %d, stderr %q", code, errs)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, bound+" ") && !strings.Contains(l, "(cannot enter; vital signs unreadable)") {
			t.Errorf("the bound namespace is not marked:\n%s", l)
		}
		if strings.HasPrefix(l, ownNS+" ") && !strings.Contains(l, "(cannot enter: vital signs only)") {
			t.Errorf("nobody's own namespace is not marked with its vital signs:\n%s", l)
		}
	}
}
