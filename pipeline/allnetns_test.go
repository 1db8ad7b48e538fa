package pipeline_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/output"
	"github.com/tcptop/tcptop/pipeline"
	"github.com/tcptop/tcptop/source"
)

const cgroupV1 = "/sys/fs/cgroup/systemd"

// cgroupDir makes a cgroup under the named systemd hierarchy (removed at
// the end) and returns its path.
func cgroupDir(t *testing.T, rel string) string {
	t.Helper()
	if _, err := os.Stat(cgroupV1 + "/cgroup.procs"); err != nil {
		t.Skip("needs the cgroup v1 named systemd hierarchy")
	}
	dir := filepath.Join(cgroupV1, rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Leaves first: a cgroup is removed with rmdir once empty.
		for d := dir; strings.HasPrefix(d, cgroupV1+"/"); d = filepath.Dir(d) {
			os.Remove(d)
		}
	})
	return dir
}

// inCgroup starts `unshare -n sleep 60` (a namespace held by its process
// only) and moves it into the cgroup dir; the process is killed at the end.
func inCgroup(t *testing.T, dir string, args ...string) *exec.Cmd {
	t.Helper()
	if len(args) == 0 {
		args = []string{"unshare", "-n", "sleep", "60"}
	}
	cmd := exec.Command(args[0], args[1:]...)
	if err := cmd.Start(); err != nil {
		t.Skipf("%v: %v", args, err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if dir != "" {
		if err := os.WriteFile(dir+"/cgroup.procs", []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Wait until unshare exec'd sleep in its new namespace.
	self, _ := os.Readlink("/proc/self/ns/net")
	for i := 0; i < 200; i++ {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid)); err == nil && l != self {
			return cmd
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("child never entered its namespace")
	return nil
}

func rndHex(n int) string {
	b := make([]byte, n/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func rowOf(ov *model.Overview, f func(*model.NamespaceRow) bool) *model.NamespaceRow {
	for i := range ov.All() {
		if f(&ov.All()[i]) {
			return &ov.All()[i]
		}
	}
	return nil
}

func nsIDOf(t *testing.T, pid int) source.NamespaceID {
	var st syscall.Stat_t
	if err := syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st); err != nil {
		t.Fatal(err)
	}
	return source.NamespaceID{Dev: st.Dev, Inode: st.Ino}
}

// TestAllNetnsNamesAndLifecycle: real namespaces and cgroups named as the
// runtimes name them, runtime files in a fixture tree; a bind-mounted
// namespace with no process; a namespace whose process leaves while
// another enters; one that disappears mid-run.
func TestAllNetnsNamesAndLifecycle(t *testing.T) {
	bound, _ := nstest.New(t, "tcptop-an")
	top := "tcptop-an-" + rndHex(8)
	dockerID := rndHex(64)
	ctrID := rndHex(64)
	podUID := "1b2c3d4e-aaaa-bbbb-cccc-" + rndHex(12)
	fix := t.TempDir()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(fix, "docker/containers", dockerID), 0o755))
	must(os.WriteFile(filepath.Join(fix, "docker/containers", dockerID, "config.v2.json"), []byte(`{"Name":"/web\u001b[31m"}`), 0o644))
	must(os.MkdirAll(filepath.Join(fix, "run/k8s.io", ctrID), 0o755))
	must(os.WriteFile(filepath.Join(fix, "run/k8s.io", ctrID, "config.json"),
		[]byte(`{"annotations":{"io.kubernetes.cri.sandbox-name":"api-7d9","io.kubernetes.cri.sandbox-namespace":"prod"}}`), 0o644))
	podUIDU := strings.ReplaceAll(podUID, "-", "_")

	dockerCg := cgroupDir(t, top+"/system.slice/docker-"+dockerID+".scope")
	podCg := cgroupDir(t, top+"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod"+podUIDU+".slice/cri-containerd-"+ctrID+".scope")
	docker := inCgroup(t, dockerCg)
	pod := inCgroup(t, podCg)
	gone := inCgroup(t, "")

	m := source.NewMachine("", false)
	a := pipeline.NewAll(pipeline.AllConfig{Machine: m, EveryPoll: true, Labels: source.LabelRoots{
		Docker: filepath.Join(fix, "docker"), Runtime: []string{filepath.Join(fix, "run")}, PodsLog: filepath.Join(fix, "pods")}})
	defer a.Close()
	ctx := context.Background()
	ov, err := a.Poll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r := rowOf(ov, func(r *model.NamespaceRow) bool { return r.NetnsName == bound }); r == nil || r.Processes != 0 || !r.HasDetail {
		t.Errorf("bind-mounted namespace with no process: %+v", r)
	}
	dID, pID, gID := nsIDOf(t, docker.Process.Pid), nsIDOf(t, pod.Process.Pid), nsIDOf(t, gone.Process.Pid)
	if r := rowOf(ov, func(r *model.NamespaceRow) bool { return r.ID == dID }); r == nil || r.Labels.Runtime != "docker" || r.Labels.Container != "web\x1b[31m" || r.Labels.ContainerID != dockerID {
		t.Errorf("docker namespace: %+v", r)
	} else if got := output.OverviewLine(r); strings.Contains(got, "\x1b") {
		t.Errorf("a name from the system reached the text unsanitized: %q", got)
	}
	if r := rowOf(ov, func(r *model.NamespaceRow) bool { return r.ID == pID }); r == nil || r.Name != "prod/api-7d9" || r.Labels.PodUID != podUID || r.Labels.Runtime != "containerd" {
		t.Errorf("pod namespace: %+v", r)
	}

	// A process enters the pod's namespace, and the first one leaves:
	// the row stays, now held by the newcomer.
	enter := exec.Command("nsenter", "-t", strconv.Itoa(pod.Process.Pid), "-n", "sleep", "60")
	must(enter.Start())
	t.Cleanup(func() { enter.Process.Kill(); enter.Wait() })
	for i := 0; i < 200 && nsIDOf(t, enter.Process.Pid) != pID; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	pod.Process.Kill()
	pod.Wait()
	gone.Process.Kill()
	gone.Wait()
	ov, err = a.Poll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r := rowOf(ov, func(r *model.NamespaceRow) bool { return r.ID == pID }); r == nil || r.Processes != 1 {
		t.Errorf("namespace a process left and another entered: %+v", r)
	}
	if r := rowOf(ov, func(r *model.NamespaceRow) bool { return r.ID == gID }); r != nil {
		t.Errorf("a namespace whose last process exited is still listed: %+v", r)
	}
	// Filters by namespace terms.
	f, _ := model.ParseFilter("pod:api")
	a.SetOptions(model.Options{Filter: f})
	ov, _ = a.Poll(ctx)
	if len(ov.Rows) != 1 || ov.Rows[0].ID != pID {
		t.Errorf("pod:api shows %d rows", len(ov.Rows))
	}
}

// TestAllNetnsCountsAndIncident: per-namespace counts equal ss inside
// the namespace (IPv4 and IPv6), and a CLOSE_WAIT leak in one namespace
// fails the check naming that namespace.
func TestAllNetnsCountsAndIncident(t *testing.T) {
	name, ns := nstest.New(t, "tcptop-anc")
	var keep []net.Conn
	var lns []net.Listener
	t.Cleanup(func() {
		for _, c := range keep {
			c.Close()
		}
		for _, l := range lns {
			l.Close()
		}
	})
	err := ns.Do(func() error {
		for _, addr := range []string{"127.0.0.1:0", "[::1]:0"} {
			network := "tcp4"
			if strings.HasPrefix(addr, "[") {
				network = "tcp6"
			}
			l, err := net.Listen(network, addr)
			if err != nil {
				return err
			}
			lns = append(lns, l)
			for i := 0; i < 15; i++ {
				c, err := net.Dial(network, l.Addr().String())
				if err != nil {
					return err
				}
				s, err := l.Accept()
				if err != nil {
					return err
				}
				keep = append(keep, s) // the server never closes: CLOSE_WAIT
				c.Close()
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	th := model.DefaultThresholds()
	th.CloseWaitAgeSec = 1
	a := pipeline.NewAll(pipeline.AllConfig{Machine: source.NewMachine("", true), EveryPoll: true, Thresholds: th})
	defer a.Close()
	var ov *model.Overview
	for i := 0; i < 4; i++ {
		before := nstest.SSCounts(t, name)
		ov, err = a.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		after := nstest.SSCounts(t, name)
		r := rowOf(ov, func(r *model.NamespaceRow) bool { return r.NetnsName == name })
		if r == nil || r.Detail == nil {
			t.Fatalf("namespace %s missing", name)
		}
		if fmt.Sprint(before) == fmt.Sprint(after) {
			for st, n := range before {
				s, _ := source.ParseState(st)
				if got := r.States.Get(s); got != n {
					t.Errorf("%s: %s %d, ss says %d", name, st, got, n)
				}
			}
			if r.States.Get(source.CloseWait) != 30 || r.Total != 62 {
				t.Errorf("want 30 CLOSE_WAIT (IPv4 and IPv6) and 62 sockets (their 30 FIN_WAIT2 peers, 2 listeners) by the kernel's counts; got %d, %d", r.States.Get(source.CloseWait), r.Total)
			}
		}
		time.Sleep(700 * time.Millisecond)
	}
	var b bytes.Buffer
	failed, err := output.WriteOverviewCheck(&b, ov)
	if err != nil || !failed {
		t.Fatalf("check: failed=%v err=%v\n%s", failed, err, b.String())
	}
	if !strings.Contains(b.String(), "CHECK FAILED netns "+name) || !strings.Contains(b.String(), "close_wait_leak") {
		t.Errorf("check does not name the namespace and the leak:\n%s", b.String())
	}
}
