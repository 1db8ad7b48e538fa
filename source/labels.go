package source

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Runtime names, as Labels.Runtime holds them.
const (
	RuntimeDocker     = "docker"
	RuntimePodman     = "podman"
	RuntimeContainerd = "containerd"
	RuntimeCRIO       = "cri-o"
	RuntimeKubernetes = "kubernetes" // a pod whose runtime the path does not say
)

// Labels name a namespace the way its operator does: the container or pod
// whose sandbox owns it. Every field may be empty. Strings come from the
// system (cgroup paths, runtime files): sanitize before a terminal.
type Labels struct {
	// Runtime is one of the Runtime* names, "" when none was recognised.
	Runtime string `json:"runtime,omitempty"`
	// ContainerID is the runtime's id of the container (hex).
	ContainerID string `json:"container_id,omitempty"`
	// Container is the container's human name where a runtime file gave
	// it (Docker's config.v2.json Name).
	Container string `json:"container,omitempty"`
	// PodUID, Pod and PodNamespace name a Kubernetes pod: the uid from
	// the cgroup path, the name and namespace from the OCI annotations or
	// kubelet's pods log directory.
	PodUID       string `json:"pod_uid,omitempty"`
	Pod          string `json:"pod,omitempty"`
	PodNamespace string `json:"pod_namespace,omitempty"`
}

// Name is the label an operator knows the namespace by: "ns/pod" for a
// pod, the container's name, else its id shortened to 12; "" when none.
func (l Labels) Name() string {
	switch {
	case l.Pod != "" && l.PodNamespace != "":
		return l.PodNamespace + "/" + l.Pod
	case l.Pod != "":
		return l.Pod
	case l.PodUID != "":
		return "pod " + l.PodUID
	case l.Container != "":
		return l.Container
	case l.ContainerID != "":
		return short(l.ContainerID)
	}
	return ""
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// LabelRoots are where the runtimes' files are read; tests and tcptop run
// in a container point them elsewhere. Empty fields take the defaults.
type LabelRoots struct {
	// Docker is Docker's data root (/var/lib/docker): containers/<id>/config.v2.json.
	Docker string
	// Runtime are the directories holding OCI bundles, <root>/<id>/config.json,
	// <root>/<namespace>/<id>/config.json or <root>/<id>/userdata/config.json
	// (containerd's /run/containerd/io.containerd.runtime.v2.task, CRI-O's
	// and Podman's /run/containers/storage/overlay-containers).
	Runtime []string
	// PodsLog is kubelet's pod log root (/var/log/pods): <ns>_<name>_<uid>/.
	PodsLog string
}

// DefaultLabelRoots are the runtimes' usual places.
func DefaultLabelRoots() LabelRoots {
	return LabelRoots{
		Docker: "/var/lib/docker",
		Runtime: []string{"/run/containerd/io.containerd.runtime.v2.task",
			"/run/containers/storage/overlay-containers",
			"/var/lib/containers/storage/overlay-containers"},
		PodsLog: "/var/log/pods",
	}
}

// CgroupPaths returns the cgroup paths of a /proc/PID/cgroup text that can
// name a container: the cgroup v2 line ("0::PATH") and cgroup v1's named
// systemd hierarchy ("N:name=systemd:PATH"), in that order, then the other
// v1 hierarchies' paths (a hybrid machine can have all of them).
func CgroupPaths(b []byte) []string {
	var v2, sd, rest []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 || parts[2] == "/" {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2 = append(v2, parts[2])
		case parts[1] == "name=systemd":
			sd = append(sd, parts[2])
		default:
			rest = append(rest, parts[2])
		}
	}
	return append(append(v2, sd...), rest...)
}

// cgroupREs are the runtimes' naming patterns, compiled on first use:
// compiling them at package init cost every run of tcptop ~0.2 ms, and
// only attribution of containers reads them.
var cgroupREs = sync.OnceValue(func() *cgroupPatterns {
	hexID := `([0-9a-f]{12,64})`
	return &cgroupPatterns{
		docker1: regexp.MustCompile(`docker-` + hexID + `\.scope`),
		docker2: regexp.MustCompile(`/docker/` + hexID + `(?:/|$)`),
		podman:  regexp.MustCompile(`libpod-(?:conmon-)?` + hexID + `(?:\.scope)?`),
		cri:     regexp.MustCompile(`cri-containerd-` + hexID + `(?:\.scope)?`),
		crio:    regexp.MustCompile(`crio-(?:conmon-)?` + hexID + `(?:\.scope)?`),
		podUID:  regexp.MustCompile(`kubepods.*?pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})`),
		k8sID:   regexp.MustCompile(`/pod[0-9a-f_-]{36}/` + hexID + `(?:/|$)`),
	}
})

type cgroupPatterns struct {
	docker1, docker2, podman, cri, crio, podUID, k8sID *regexp.Regexp
}

// LabelsFromCgroup recognises a container runtime's naming in a cgroup
// path: docker-<id>.scope or /docker/<id> (Docker), libpod-<id> (Podman),
// cri-containerd-<id> (containerd), crio-<id> (CRI-O), and a Kubernetes
// pod (kubepods…pod<uid>, its "_" read as "-").
func LabelsFromCgroup(path string) Labels {
	var l Labels
	re := cgroupREs()
	if m := re.podUID.FindStringSubmatch(path); m != nil {
		l.PodUID = strings.ReplaceAll(m[1], "_", "-")
		l.Runtime = RuntimeKubernetes
	}
	for _, r := range [...]struct {
		re      *regexp.Regexp
		runtime string
	}{{re.cri, RuntimeContainerd}, {re.crio, RuntimeCRIO}, {re.podman, RuntimePodman}, {re.docker1, RuntimeDocker}, {re.docker2, RuntimeDocker}} {
		if m := r.re.FindStringSubmatch(path); m != nil {
			l.Runtime, l.ContainerID = r.runtime, m[1]
			return l
		}
	}
	if l.PodUID != "" {
		if m := re.k8sID.FindStringSubmatch(path); m != nil {
			l.ContainerID = m[1]
		}
	}
	return l
}

// Labeler names namespaces from the cgroups of their processes and the
// runtimes' files, caching what it read by container and pod.
type Labeler struct {
	ProcRoot string
	Roots    LabelRoots

	mu    sync.Mutex
	cache map[string]Labels // by runtime+id or pod uid
}

// NewLabeler returns a Labeler over roots; empty roots take the defaults.
func NewLabeler(procRoot string, roots LabelRoots) *Labeler {
	def := DefaultLabelRoots()
	if roots.Docker == "" {
		roots.Docker = def.Docker
	}
	if len(roots.Runtime) == 0 {
		roots.Runtime = def.Runtime
	}
	if roots.PodsLog == "" {
		roots.PodsLog = def.PodsLog
	}
	return &Labeler{ProcRoot: Discovery{ProcRoot: procRoot}.root(), Roots: roots, cache: map[string]Labels{}}
}

// Label names the namespace whose processes are pids: the first process
// whose cgroup names a container or pod decides (a pod's containers all
// name the same pod). A namespace whose processes name nothing gets no
// labels.
func (lb *Labeler) Label(pids []int32) Labels {
	for _, pid := range pids {
		b, err := os.ReadFile(lb.ProcRoot + "/" + strconv.Itoa(int(pid)) + "/cgroup")
		if err != nil {
			continue
		}
		for _, p := range CgroupPaths(b) {
			if l := LabelsFromCgroup(p); l.Runtime != "" {
				return lb.resolve(l)
			}
		}
	}
	return Labels{}
}

// resolve adds the human names from the runtimes' files, cached.
func (lb *Labeler) resolve(l Labels) Labels {
	key := l.Runtime + "/" + l.ContainerID + "/" + l.PodUID
	lb.mu.Lock()
	c, ok := lb.cache[key]
	lb.mu.Unlock()
	if ok {
		return c
	}
	if l.ContainerID != "" && l.Runtime == RuntimeDocker {
		l.Container = dockerName(lb.Roots.Docker, l.ContainerID)
	}
	if l.ContainerID != "" {
		if ann := lb.ociAnnotations(l.ContainerID); ann != nil {
			if l.PodUID == "" {
				l.PodUID = ann["io.kubernetes.cri.sandbox-uid"]
			}
			l.Pod = first(ann["io.kubernetes.cri.sandbox-name"], ann["io.kubernetes.pod.name"])
			l.PodNamespace = first(ann["io.kubernetes.cri.sandbox-namespace"], ann["io.kubernetes.pod.namespace"])
			if l.Container == "" {
				l.Container = first(ann["io.kubernetes.cri.container-name"], ann["io.kubernetes.container.name"])
			}
		}
	}
	if l.PodUID != "" && l.Pod == "" {
		l.PodNamespace, l.Pod = podFromLogs(lb.Roots.PodsLog, l.PodUID)
	}
	if l.PodUID != "" || l.Pod != "" {
		// A pod's namespace belongs to its sandbox: it is the pod's,
		// not one container's.
		l.Container = ""
	}
	lb.mu.Lock()
	lb.cache[key] = l
	lb.mu.Unlock()
	return l
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// dockerName reads Name from containers/<id>/config.v2.json ("/web" → "web").
func dockerName(root, id string) string {
	b, err := readSmall(filepath.Join(root, "containers", id, "config.v2.json"))
	if err != nil {
		return ""
	}
	var c struct{ Name string }
	if json.Unmarshal(b, &c) != nil {
		return ""
	}
	return strings.TrimPrefix(c.Name, "/")
}

// ociAnnotations reads the annotations of the container's OCI config.json
// under the runtime roots.
func (lb *Labeler) ociAnnotations(id string) map[string]string {
	for _, root := range lb.Roots.Runtime {
		cands := []string{filepath.Join(root, id, "config.json"), filepath.Join(root, id, "userdata", "config.json")}
		if m, _ := filepath.Glob(filepath.Join(root, "*", id, "config.json")); len(m) > 0 {
			cands = append(cands, m...)
		}
		for _, p := range cands {
			b, err := readSmall(p)
			if err != nil {
				continue
			}
			var c struct {
				Annotations map[string]string `json:"annotations"`
			}
			if json.Unmarshal(b, &c) == nil && c.Annotations != nil {
				return c.Annotations
			}
		}
	}
	return nil
}

// podFromLogs finds kubelet's <ns>_<name>_<uid> log directory of a pod.
func podFromLogs(root, uid string) (ns, name string) {
	m, _ := filepath.Glob(filepath.Join(root, "*_*_"+uid))
	for _, p := range m {
		parts := strings.SplitN(filepath.Base(p), "_", 3)
		if len(parts) == 3 && parts[2] == uid {
			return parts[0], parts[1]
		}
	}
	return "", ""
}

// readSmall reads a runtime file of at most 4 MiB.
func readSmall(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(io.LimitReader(f, 4<<20))
	return b.Bytes(), err
}
