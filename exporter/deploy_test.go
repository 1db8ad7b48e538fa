package exporter

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v2"

	"github.com/tcptop/tcptop/model"
)

const deployDir = "../deploy"

// needTool returns the path of a tool, or skips: CI (.ci/run) installs
// Debian's prometheus package, which brings promtool and prometheus.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed (apt-get install prometheus; .ci/run does)", name)
	}
	return p
}

func run(t testing.TB, stdin []byte, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

type alertRule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func loadAlerts(t *testing.T) []alertRule {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, "prometheus", "tcptop-alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Groups []struct {
			Name  string      `yaml:"name"`
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.UnmarshalStrict(b, &doc); err != nil {
		t.Fatal(err)
	}
	var out []alertRule
	for _, g := range doc.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

// TestAlertPerRule: every finding rule has exactly one alert on its
// tcptop_finding series, with a summary naming the namespace, pod and
// container when there are any, a description and advice; and tcptop
// down.
func TestAlertPerRule(t *testing.T) {
	alerts := loadAlerts(t)
	ruleRe := regexp.MustCompile(`tcptop_finding\{rule="([a-z_]+)"`)
	covered := map[string]string{}
	var names []string
	for _, a := range alerts {
		names = append(names, a.Alert)
		if a.Annotations["summary"] == "" || a.Annotations["advice"] == "" || a.Annotations["description"] == "" {
			t.Errorf("%s: wants summary, description and advice annotations", a.Alert)
		}
		if m := ruleRe.FindStringSubmatch(a.Expr); m != nil {
			// With --all-netns the alert is per namespace: say which.
			for _, l := range TargetLabels {
				if !strings.Contains(a.Annotations["summary"], "with $labels."+l+" }}") {
					t.Errorf("%s: the summary does not name the %s (--all-netns)", a.Alert, l)
				}
			}
			if prev, dup := covered[m[1]]; dup {
				t.Errorf("rule %s has two alerts: %s and %s", m[1], prev, a.Alert)
			}
			covered[m[1]] = a.Alert
		} else if a.Labels["severity"] == "" {
			t.Errorf("%s is not about a finding, so it needs its own severity label", a.Alert)
		}
	}
	for _, r := range model.RuleNames() {
		if covered[r] == "" {
			t.Errorf("finding rule %s has no alert in tcptop-alerts.yml", r)
		}
		delete(covered, r)
	}
	for r := range covered {
		t.Errorf("alert on unknown rule %s", r)
	}
	if !slices.Contains(names, "TcptopDown") {
		t.Error("no TcptopDown alert")
	}
}

func TestPromtoolRules(t *testing.T) {
	promtool := needTool(t, "promtool")
	dir := filepath.Join(deployDir, "prometheus")
	out := run(t, nil, promtool, "check", "rules", filepath.Join(dir, "tcptop-alerts.yml"))
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool check rules: %s", out)
	}
	cmd := exec.Command(promtool, "test", "rules", "tcptop-alerts_test.yml")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), "SUCCESS") {
		t.Errorf("promtool test rules: %v\n%s", err, b)
	}
}

// TestSystemdUnit runs systemd-analyze verify on the unit (ExecStart
// pointed at a built tcptop: verify checks it is executable) and wants
// no complaint at all.
func TestSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile(filepath.Join(deployDir, "systemd", "tcptop.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ProtectSystem=strict", "NoNewPrivileges=yes", "CapabilityBoundingSet=CAP_DAC_READ_SEARCH CAP_SYS_PTRACE",
		"AmbientCapabilities=CAP_DAC_READ_SEARCH CAP_SYS_PTRACE", "ExecStart=/usr/local/bin/tcptop --listen 127.0.0.1:9966"} {
		if !bytes.Contains(unit, []byte(want+"\n")) && !bytes.Contains(unit, []byte(want+" ")) {
			t.Errorf("the unit lacks %q", want)
		}
	}
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed; the unit's lines were checked above")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "tcptop")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/tcptop").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	path := filepath.Join(dir, "tcptop.service")
	if err := os.WriteFile(path, bytes.ReplaceAll(unit, []byte("/usr/local/bin/tcptop"), []byte(bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	if out, err := exec.Command(sa, "security", "--offline=true", path).CombinedOutput(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		t.Logf("systemd-analyze security: %s", lines[len(lines)-1])
	}
}

// TestDaemonSet parses the manifest and checks what tcptop needs from it.
func TestDaemonSet(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(deployDir, "kubernetes", "tcptop-daemonset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	type container struct {
		Name            string   `yaml:"name"`
		Image           string   `yaml:"image"`
		Args            []string `yaml:"args"`
		SecurityContext struct {
			RunAsUser                *int  `yaml:"runAsUser"`
			Privileged               *bool `yaml:"privileged"`
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
			ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
			Capabilities             struct {
				Drop []string `yaml:"drop"`
				Add  []string `yaml:"add"`
			} `yaml:"capabilities"`
		} `yaml:"securityContext"`
		Ports []struct {
			ContainerPort int `yaml:"containerPort"`
		} `yaml:"ports"`
	}
	var ds struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Template struct {
				Metadata struct {
					Labels map[string]string `yaml:"labels"`
				} `yaml:"metadata"`
				Spec struct {
					HostNetwork bool        `yaml:"hostNetwork"`
					HostPID     bool        `yaml:"hostPID"`
					Containers  []container `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(b, &ds); err != nil {
		t.Fatal(err)
	}
	sp := ds.Spec.Template.Spec
	if ds.APIVersion != "apps/v1" || ds.Kind != "DaemonSet" || ds.Metadata.Name == "" {
		t.Errorf("not an apps/v1 DaemonSet: %s %s %q", ds.APIVersion, ds.Kind, ds.Metadata.Name)
	}
	for k, v := range ds.Spec.Selector.MatchLabels {
		if ds.Spec.Template.Metadata.Labels[k] != v {
			t.Errorf("the selector %s=%s does not match the pod labels", k, v)
		}
	}
	if len(ds.Spec.Selector.MatchLabels) == 0 || !sp.HostNetwork || !sp.HostPID || len(sp.Containers) != 1 {
		t.Fatalf("selector %v, hostNetwork %v, hostPID %v, %d containers", ds.Spec.Selector.MatchLabels, sp.HostNetwork, sp.HostPID, len(sp.Containers))
	}
	c := sp.Containers[0]
	sc := c.SecurityContext
	slices.Sort(sc.Capabilities.Add)
	if !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) || !slices.Equal(sc.Capabilities.Add, []string{"DAC_READ_SEARCH", "SYS_PTRACE"}) {
		t.Errorf("capabilities drop %v add %v", sc.Capabilities.Drop, sc.Capabilities.Add)
	}
	if sc.Privileged == nil || *sc.Privileged || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("security context: %+v", sc)
	}
	if !slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--listen=") && strings.HasSuffix(a, ":9966") }) ||
		len(c.Ports) != 1 || c.Ports[0].ContainerPort != DefaultPort {
		t.Errorf("args %v, ports %+v: want --listen=...:%d and that port", c.Args, c.Ports, DefaultPort)
	}
}
