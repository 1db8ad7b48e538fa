package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/tcptop/tcptop/internal/nstest"
)

// freePort returns a loopback port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// daemon is a long-running child process (tcptop --listen, prometheus).
type daemon struct {
	cmd    *exec.Cmd
	stderr *logBuffer
	done   chan struct{}
}

// logBuffer collects a child's stderr; safe to read while it writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startDaemon starts argv and stops it (SIGTERM, then SIGKILL after 10 s)
// when the test ends.
func startDaemon(t *testing.T, argv ...string) *daemon {
	t.Helper()
	d := &daemon{cmd: exec.Command(argv[0], argv[1:]...), stderr: &logBuffer{}, done: make(chan struct{})}
	d.cmd.Stderr = d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.cmd.Wait(); close(d.done) }()
	t.Cleanup(func() { d.stop(t) })
	return d
}

// stop ends the daemon and returns its exit code.
func (d *daemon) stop(t *testing.T) int {
	select {
	case <-d.done:
	default:
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(10 * time.Second):
			t.Errorf("%s did not stop on SIGTERM", d.cmd.Path)
			d.cmd.Process.Kill()
			<-d.done
		}
	}
	return d.cmd.ProcessState.ExitCode()
}

// tlsClient trusts the PEM certificate given.
func tlsClient(t *testing.T, pem []byte) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("bad test certificate")
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// waitHTTP waits until url answers with want.
func waitHTTP(t *testing.T, url string, want int, d *daemon) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
		}
		select {
		case <-d.done:
			t.Fatalf("%s exited: %s", d.cmd.Path, d.stderr)
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("%s never answered %d", url, want)
}

// promQuery runs an instant query against Prometheus's HTTP API and
// returns the vector's samples by their "subject" or "listener" label (or
// "" when neither), or nil while the vector is empty.
func promQuery(t *testing.T, base, q string) map[string]float64 {
	t.Helper()
	return promQueryBy(t, base, q, "subject", "listener")
}

// promQueryBy is promQuery with the samples keyed by the labels given
// (their values joined).
func promQueryBy(t *testing.T, base, q string, by ...string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" {
		t.Fatalf("query %s: %v, status %q", q, err, r.Status)
	}
	if len(r.Data.Result) == 0 {
		return nil
	}
	out := map[string]float64{}
	for _, s := range r.Data.Result {
		v, _ := strconv.ParseFloat(s.Value[1].(string), 64)
		k := ""
		for _, l := range by {
			k += s.Metric[l]
		}
		out[k] = v
	}
	return out
}

type promAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
}

func promAlerts(t *testing.T, base string) []promAlert {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Data struct {
			Alerts []promAlert `json:"alerts"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return r.Data.Alerts
}

// TestPrometheusScrapesExporter is issue 14's acceptance test: a real
// Prometheus (Debian's package) scrapes tcptop serving a private
// namespace that holds 12 CLOSE_WAIT sockets of one process and a
// never-accepting listener; the query API gives ss's CLOSE_WAIT count and
// the listener's queue, and the shipped CLOSE_WAIT-leak alert fires (its
// for: 1m after the sockets are 5 s old: about 70 s).
//
// The same Prometheus scrapes a second tcptop serving every namespace
// (--all-netns) while a second private namespace holds ESTABLISHED pairs:
// tcptop_sockets{netns=...} equals ss in each of the two, and the leak
// alert fires a second time, for the leaking namespace only, named in its
// labels and its summary.
func TestPrometheusScrapesExporter(t *testing.T) {
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus is not installed: apt-get install prometheus (.ci/run installs it)")
	}
	tcptop, _ := bins(t)
	ns, _ := nstest.New(t, "tcptop-prom")
	pop := startPop(t, ns, "-closewait", "12", "-full-backlog", "4", "-full-clients", "8")
	quiet, _ := nstest.New(t, "tcptop-prom-quiet")
	startPop(t, quiet, "-estab", "20")

	port, allPort := freePort(t), freePort(t)
	one, all := fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", allPort)
	exp := startDaemon(t, tcptop, "--netns", ns, "--listen", one, "--interval", "1s")
	waitHTTP(t, "http://"+one+"/metrics", 200, exp)
	allExp := startDaemon(t, tcptop, "--all-netns", "--listen", all, "--interval", "1s")
	waitHTTP(t, "http://"+all+"/metrics", 200, allExp)

	dir := t.TempDir()
	rules, err := filepath.Abs("../../deploy/prometheus/tcptop-alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: tcptop
    static_configs:
      - targets: [%q, %q]
`, rules, one, all)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	pport := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", pport)
	pd := startDaemon(t, prom, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), fmt.Sprintf("--web.listen-address=127.0.0.1:%d", pport))
	waitHTTP(t, base+"/-/ready", 200, pd)

	start := time.Now()
	deadline := start.Add(150 * time.Second)
	var cw, queue, nsStates map[string]float64
	nsQuery := fmt.Sprintf(`tcptop_sockets{instance=%q,netns=~%q,state=~"CLOSE_WAIT|ESTABLISHED"}`, all, ns+"|"+quiet)
	for time.Now().Before(deadline) {
		cw = promQuery(t, base, fmt.Sprintf(`tcptop_sockets{instance=%q,state="CLOSE_WAIT"}`, one))
		queue = promQuery(t, base, fmt.Sprintf(`tcptop_listen_queue_length{instance=%q,listener="%s:%d"}`, one, pop.Addr, pop.FullPort))
		nsStates = promQueryBy(t, base, nsQuery, "netns", "state")
		if cw != nil && queue != nil && len(nsStates) == 4 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	ss := nstest.SSCounts(t, ns)
	if cw[""] != float64(ss["CLOSE_WAIT"]) || ss["CLOSE_WAIT"] != 12 {
		t.Errorf("Prometheus has tcptop_sockets{state=CLOSE_WAIT} %v, ss says %d (want 12)", cw, ss["CLOSE_WAIT"])
	}
	if q := queue[fmt.Sprintf("%s:%d", pop.Addr, pop.FullPort)]; q != 5 {
		t.Errorf("the never-accepting listener's queue in Prometheus: %v, want backlog+1 = 5", queue)
	}
	// 8 clients on a backlog of 4: the kernel drops the SYNs of those
	// that do not fit, on the listener's own counter.
	if m := promQuery(t, base, fmt.Sprintf(`tcptop_listen_drops_total{instance=%q,listener="%s:%d"}`, one, pop.Addr, pop.FullPort)); m[fmt.Sprintf("%s:%d", pop.Addr, pop.FullPort)] <= 0 {
		t.Errorf("the never-accepting listener's drops in Prometheus: %v, want some", m)
	}
	if m := promQuery(t, base, fmt.Sprintf(`tcptop_close_wait_sockets{instance=%q,process="sockpop"}`, one)); m[""] != 12 {
		t.Errorf("tcptop_close_wait_sockets{process=sockpop} = %v", m)
	}
	ssQuiet := nstest.SSCounts(t, quiet)
	for _, c := range []struct {
		netns string
		ss    map[string]int
	}{{ns, ss}, {quiet, ssQuiet}} {
		for _, st := range []string{"CLOSE_WAIT", "ESTABLISHED"} {
			if got, ok := nsStates[c.netns+st]; !ok || got != float64(c.ss[st]) {
				t.Errorf("--all-netns: Prometheus has tcptop_sockets{netns=%q,state=%q} %v (present %v), ss says %d", c.netns, st, got, ok, c.ss[st])
			}
		}
	}
	if ssQuiet["ESTABLISHED"] != 40 {
		t.Errorf("ss in %s: %v, want 40 ESTABLISHED", quiet, ssQuiet)
	}
	if age := promQueryBy(t, base, fmt.Sprintf(`tcptop_netns_detail_age_seconds{instance=%q,netns=~%q}`, all, ns+"|"+quiet), "netns"); len(age) != 2 || age[ns] > 10 || age[quiet] > 10 {
		t.Errorf("detail ages: %v", age)
	}

	// firing finds the leak alert of the one-namespace exporter and the
	// --all-netns exporter's for the leaking namespace.
	var firing, firingNS *promAlert
	for (firing == nil || firingNS == nil) && time.Now().Before(deadline) {
		for _, a := range promAlerts(t, base) {
			if a.Labels["alertname"] != "TcptopCloseWaitLeak" || a.State != "firing" {
				continue
			}
			switch {
			case a.Labels["instance"] == one:
				firing = &a
			case a.Labels["instance"] == all && a.Labels["netns"] == ns:
				firingNS = &a
			case a.Labels["instance"] == all && a.Labels["netns"] == quiet:
				t.Errorf("the leak alert fires for the quiet namespace: %v", a.Labels)
			}
		}
		if firing == nil || firingNS == nil {
			time.Sleep(time.Second)
		}
	}
	if firing == nil || firingNS == nil {
		t.Fatalf("TcptopCloseWaitLeak not firing after %v (one namespace: %v, --all-netns: %v); alerts: %+v", time.Since(start).Round(time.Second), firing != nil, firingNS != nil, promAlerts(t, base))
	}
	t.Logf("TcptopCloseWaitLeak firing after %v: %v; with --all-netns: %v", time.Since(start).Round(time.Second), firing.Labels, firingNS.Labels)
	for _, a := range []*promAlert{firing, firingNS} {
		if a.Labels["rule"] != "close_wait_leak" || a.Labels["severity"] != "warning" || !strings.HasPrefix(a.Labels["subject"], "sockpop[") {
			t.Errorf("alert labels %v", a.Labels)
		}
	}
	if _, ok := firing.Labels["netns"]; ok {
		t.Errorf("the one-namespace exporter's alert has a netns label: %v", firing.Labels)
	}
	if s := firingNS.Annotations["summary"]; !strings.Contains(s, " in netns "+ns) || !strings.Contains(s, "sockpop[") {
		t.Errorf("the --all-netns alert's summary does not name its namespace: %q", s)
	}
	if up := promQueryBy(t, base, `up{job="tcptop"}`, "instance"); up[one] != 1 || up[all] != 1 {
		t.Errorf("up = %v", up)
	}
	if errs := promQueryBy(t, base, `tcptop_poll_errors_total`, "instance"); len(errs) != 2 || errs[one] != 0 || errs[all] != 0 {
		t.Errorf("poll errors: %v", errs)
	}
	for _, d := range []*daemon{exp, allExp} {
		if code := d.stop(t); code != 0 {
			t.Errorf("%v exited %d on SIGTERM: %s", d.cmd.Args, code, d.stderr)
		}
	}
}

// TestExporterBadInput: an address in use or unparseable, a bad web
// config: one line on stderr, exit 2, nothing served.
func TestExporterBadInput(t *testing.T) {
	bins(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	badCfg := filepath.Join(dir, "bad.yml")
	os.WriteFile(badCfg, []byte("tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: /nonexistent.key\n"), 0o644)
	notYAML := filepath.Join(dir, "notyaml.yml")
	os.WriteFile(notYAML, []byte("basic_auth_users: [\n"), 0o644)
	badUser := filepath.Join(dir, "baduser.yml")
	os.WriteFile(badUser, []byte("basic_auth_users:\n  alice: not-a-bcrypt-hash\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--listen", busy.Addr().String()}, "address already in use"},
		{[]string{"--listen", "1.2.3.4:http"}, `port "http" is not a number`},
		{[]string{"--listen", "99999"}, "out of range"},
		{[]string{"--listen", ""}, "--listen needs an address"},
		{[]string{"--listen", "192.0.2.99:0"}, "cannot assign requested address"},
		{[]string{"--listen", "127.0.0.1:0", "--web-config", badCfg}, "--web-config " + badCfg},
		{[]string{"--listen", "127.0.0.1:0", "--web-config", notYAML}, "--web-config"},
		{[]string{"--listen", "127.0.0.1:0", "--web-config", badUser}, "--web-config"},
		{[]string{"--listen", "127.0.0.1:0", "--web-config", filepath.Join(dir, "missing.yml")}, "no such file"},
		{[]string{"--web-config", badCfg, "--once"}, "--web-config goes with --listen"},
		{[]string{"--listen", "127.0.0.1:0", "--once"}, "drop --once"},
		{[]string{"--listen", "127.0.0.1:0", "--json"}, "drop --json"},
		{[]string{"--listen", "127.0.0.1:0", "--check"}, "drop --check"},
		{[]string{"--listen", "127.0.0.1:0", "--count", "3"}, "drop --count"},
	} {
		out, errs, code := runTcptop(t, nil, c.args...)
		if code != exitUsage || out != "" || !strings.HasPrefix(errs, "tcptop: ") || !strings.Contains(errs, c.want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and one line containing %q", c.args, code, out, errs, c.want)
		}
	}
}

// TestExporterBasicAuthAndTLS serves through a web config with a bcrypt
// basic-auth user and a self-signed certificate, as node_exporter does.
func TestExporterBasicAuthAndTLS(t *testing.T) {
	tcptop, _ := bins(t)
	dir := t.TempDir()
	crt, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if out, err := exec.Command("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
		"-keyout", key, "-out", crt, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1").CombinedOutput(); err != nil {
		t.Skipf("openssl cannot make a test certificate: %v: %s", err, out)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "web.yml")
	os.WriteFile(cfg, fmt.Appendf(nil, "tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  prom: %s\n", crt, key, hash), 0o600)
	port := freePort(t)
	d := startDaemon(t, tcptop, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--web-config", cfg, "--no-procs")
	pem, _ := os.ReadFile(crt)
	client := tlsClient(t, pem)
	url := fmt.Sprintf("https://127.0.0.1:%d/metrics", port)
	deadline := time.Now().Add(20 * time.Second)
	var resp *http.Response
	for time.Now().Before(deadline) {
		if resp, err = client.Get(url); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("%v; stderr: %s", err, d.stderr)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without credentials: %s", resp.Status)
	}
	req, _ := http.NewRequest("GET", url, nil)
	req.SetBasicAuth("prom", "s3cret")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("tcptop_build_info")) {
		t.Errorf("with credentials: %s\n%.300s", resp.Status, body)
	}
	if r, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port)); err == nil {
		r.Body.Close()
		if r.StatusCode == 200 {
			t.Error("plain HTTP served metrics with TLS configured")
		}
	}
	if code := d.stop(t); code != 0 {
		t.Errorf("exit %d: %s", code, d.stderr)
	}
	sc := bufio.NewScanner(strings.NewReader(d.stderr.String()))
	for sc.Scan() {
		if !strings.Contains(sc.Text(), "level=") {
			t.Errorf("stderr line not from the logger: %q", sc.Text())
		}
	}
}

// TestServiceCapabilities checks the capabilities the systemd unit grants
// (its AmbientCapabilities line) are enough to attribute another user's
// sockets when tcptop runs as an unprivileged user, and that neither of
// the two alone is.
func TestServiceCapabilities(t *testing.T) {
	bins(t)
	unit, err := os.ReadFile("../../deploy/systemd/tcptop.service")
	if err != nil {
		t.Fatal(err)
	}
	var caps []string
	for line := range strings.Lines(string(unit)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "AmbientCapabilities="); ok {
			for _, c := range strings.Fields(v) {
				caps = append(caps, strings.ToLower(strings.TrimPrefix(c, "CAP_")))
			}
		}
	}
	if len(caps) != 2 {
		t.Fatalf("the unit's ambient capabilities: %v", caps)
	}
	ns, _ := nstest.New(t, "tcptop-caps")
	pop := startPop(t, ns, "-closewait", "3") // sockpop runs as root
	owner := func(caps ...string) string {
		set := "-all"
		for _, c := range caps {
			set += ",+" + c
		}
		prefix := append([]string{"ip", "netns", "exec", ns}, asNobody(t)...)
		prefix = append(prefix, "--inh-caps="+set, "--ambient-caps="+set, "--bounding-set="+set)
		out, errs, code := runTcptop(t, prefix, "--once", "--json")
		if code != 0 {
			t.Fatalf("with %v: exit %d: %s", caps, code, errs)
		}
		snap := decode(t, out)
		for _, p := range snap.Processes {
			if p.PID == int32(pop.PID) {
				return p.Name
			}
		}
		return "unknown"
	}
	if got := owner(caps...); got != "sockpop" {
		t.Errorf("as nobody with %v: root's sockets belong to %q, want sockpop", caps, got)
	}
	for _, c := range caps {
		if got := owner(c); got != "unknown" {
			t.Errorf("as nobody with only %s: attributed to %q: the unit grants more than needed", c, got)
		}
	}
	if out, _, _ := runTcptop(t, nil, "--help"); !strings.Contains(out, "--listen ADDR") || !strings.Contains(out, "--web-config FILE") {
		t.Errorf("--help does not explain --listen and --web-config:\n%s", out)
	}
}
