package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tcptop/tcptop/internal/nstest"
)

// wallClock are the JSON fields documented as the replaying machine's
// own (docs/RECORDING.md): how long the poll took here and now.
var wallClock = []string{"poll_ms"}

func ndjson(t *testing.T, out string) []map[string]any {
	t.Helper()
	var docs []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var d map[string]any
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatalf("%v: %q", err, l)
		}
		for _, k := range wallClock {
			delete(d, k)
		}
		docs = append(docs, d)
	}
	return docs
}

// TestReplayDeterminism records a real population while streaming JSON:
// the replay's JSON documents are the live ones (states, peers,
// listeners, findings, rates, ages) but for the wall-clock fields, as
// root and as nobody, without the namespace.
func TestReplayDeterminism(t *testing.T) {
	bins(t)
	ns, _ := nstest.New(t, "tcptop-rec")
	startPop(t, ns, "-closewait", "12", "-estab", "20", "-timewait", "30")
	// A directory nobody can read too (t.TempDir's parent is private).
	dir, err := os.MkdirTemp("", "tcptop-rec-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	rec := filepath.Join(dir, "live.tcptop")
	live, errs, code := runTcptop(t, nil, "--json", "--netns", ns, "--interval", "200ms", "--count", "30",
		"--record", rec, "--record-chunk", "1s", "--threshold", "close-wait=5")
	if code != 0 {
		t.Fatalf("record: exit %d: %s", code, errs)
	}
	if st, err := os.Stat(rec); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("recording: %v, %v", st, err)
	}
	want := ndjson(t, live)
	got, errs, code := runTcptop(t, nil, "--replay", rec, "--json")
	if code != 0 || errs != "" {
		t.Fatalf("replay: exit %d: %s", code, errs)
	}
	compareDocs(t, want, ndjson(t, got))
	found := false
	for _, d := range want {
		if fs, _ := d["findings"].([]any); len(fs) > 0 {
			found = true
		}
	}
	if !found {
		t.Error("the population made no finding: the comparison proves less than it should")
	}

	// --check over the recording: the close-wait=5 threshold it was made
	// with says warning.
	_, _, code = runTcptop(t, nil, "--replay", rec, "--check")
	if code != 1 {
		t.Errorf("--replay --check: exit %d, want 1", code)
	}
	// --once: the last poll, the last document of the stream.
	once, _, code := runTcptop(t, nil, "--replay", rec, "--once", "--json")
	if code != 0 {
		t.Fatalf("--once: exit %d", code)
	}
	compareDocs(t, want[len(want)-1:], ndjson(t, strings.Join(strings.Fields(once), " ")))

	// As nobody, from a readable copy, the namespace gone or not: the
	// replay never reads the kernel.
	pub := filepath.Join(dir, "pub.tcptop")
	b, _ := os.ReadFile(rec)
	os.WriteFile(pub, b, 0o644)
	got, errs, code = runTcptop(t, asNobody(t), "--replay", pub, "--json")
	if code != 0 {
		t.Fatalf("replay as nobody: exit %d: %s", code, errs)
	}
	compareDocs(t, want, ndjson(t, got))
}

func compareDocs(t *testing.T, want, got []map[string]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d documents replayed, %d live", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(want[i], got[i]) {
			for k := range want[i] {
				if !reflect.DeepEqual(want[i][k], got[i][k]) {
					t.Errorf("document %d: %q differs:\n live   %v\n replay %v", i, k, want[i][k], got[i][k])
				}
			}
			t.FailNow()
		}
	}
}

// TestRecordKill9 kills a recording tcptop: what was written replays, a
// chunk at most is lost.
func TestRecordKill9(t *testing.T) {
	bin, _ := bins(t)
	ns, _ := nstest.New(t, "tcptop-kill")
	startPop(t, ns, "-estab", "5")
	rec := filepath.Join(t.TempDir(), "k.tcptop")
	cmd := exec.Command(bin, "--json", "--netns", ns, "--interval", "100ms", "--record", rec, "--record-chunk", "500ms")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 1<<24)
	n := 0
	for n < 25 && sc.Scan() {
		n++
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	got, errs, code := runTcptop(t, nil, "--replay", rec, "--json")
	if code != 0 {
		t.Fatalf("replay after kill -9: exit %d: %s", code, errs)
	}
	docs := len(strings.Split(strings.TrimSpace(got), "\n"))
	if docs < n-6 || docs > n+2 {
		t.Errorf("%d polls replayed of %d streamed before kill -9", docs, n)
	}
}

// TestReplayBadFiles: each bad file says what is wrong in one line and
// exits 2; a damaged one replays what is intact.
func TestReplayBadFiles(t *testing.T) {
	bins(t)
	dir := t.TempDir()
	golden, err := os.ReadFile("../../testdata/recordings/v1.tcptop")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o600)
		return p
	}
	future := append([]byte(nil), golden...)
	future[8] = 99
	for _, c := range []struct{ path, says string }{
		{dir, "is a directory"},
		{write("empty", nil), "empty or truncated"},
		{write("text", []byte("GET / HTTP/1.1\r\n\r\n")), "not a tcptop recording"},
		{write("future", future), "format version 99 is newer"},
		{write("header", golden[:40]), "empty or truncated"},
		{filepath.Join(dir, "missing"), "no such file"},
	} {
		_, errs, code := runTcptop(t, nil, "--replay", c.path, "--once")
		if code != 2 || !strings.Contains(errs, c.says) || strings.Count(errs, "\n") != 1 || strings.Contains(errs, "panic") {
			t.Errorf("%s: exit %d, stderr %q (want %q)", filepath.Base(c.path), code, errs, c.says)
		}
	}
	// A flipped byte in the middle and a torn tail: the rest replays,
	// stderr says what was skipped.
	flipped := append([]byte(nil), golden...)
	flipped[len(flipped)/2] ^= 0xff
	torn := golden[:len(golden)-100]
	for name, b := range map[string][]byte{"flipped": flipped, "torn": torn} {
		out, errs, code := runTcptop(t, nil, "--replay", write(name, b), "--json")
		n := len(strings.Split(strings.TrimSpace(out), "\n"))
		if code != 0 || n == 0 || n >= 90 || !strings.Contains(errs, "tcptop: replay: ") {
			t.Errorf("%s: exit %d, %d polls, stderr %q", name, code, n, errs)
		}
	}
	// The golden recording's CLOSE_WAIT leak fails --check.
	out, errs, code := runTcptop(t, nil, "--replay", "../../testdata/recordings/v1.tcptop", "--check")
	if code != 1 || !strings.Contains(out, "close_wait_leak") || !strings.Contains(errs, "first warning at") {
		t.Errorf("--check: exit %d\n%s%s", code, out, errs)
	}
	// --at picks a poll: the one at the leak, 39 s after the start.
	out, errs, code = runTcptop(t, nil, "--replay", "../../testdata/recordings/v1.tcptop", "--once", "--json", "--at", "+39s")
	if code != 0 || !strings.Contains(out, `"time": "2026-05-28T20:27:20Z"`) || !strings.Contains(out, "close_wait_leak") {
		t.Errorf("--at +39s: exit %d %s\n%.300s", code, errs, out)
	}
	_, errs, code = runTcptop(t, nil, "--replay", dir, "--record", filepath.Join(dir, "x"))
	if code != 2 {
		t.Errorf("--replay with --record: exit %d %s", code, errs)
	}
}

// TestFlightSIGUSR1: a stream keeps the flight recorder; SIGUSR1 writes
// it and says where.
func TestFlightSIGUSR1(t *testing.T) {
	bin, _ := bins(t)
	ns, _ := nstest.New(t, "tcptop-flight")
	startPop(t, ns, "-estab", "3")
	dir := t.TempDir()
	cmd := exec.Command(bin, "--json", "--netns", ns, "--interval", "100ms", "--flight-dir", dir)
	out, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 1<<24)
	for n := 0; n < 12 && sc.Scan(); n++ {
	}
	go func() {
		for sc.Scan() {
		}
	}()
	cmd.Process.Signal(syscall.SIGUSR1)
	line := make(chan string, 1)
	go func() {
		r := bufio.NewScanner(stderr)
		r.Scan()
		line <- r.Text()
	}()
	var msg string
	select {
	case msg = <-line:
	case <-time.After(10 * time.Second):
		t.Fatal("no message after SIGUSR1")
	}
	path, ok := strings.CutPrefix(msg, "tcptop: flight recorder written to ")
	if !ok || filepath.Dir(path) != dir {
		t.Fatalf("stderr %q", msg)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("%v %v", st, err)
	}
	got, errs, code := runTcptop(t, nil, "--replay", path, "--json")
	if n := len(strings.Split(strings.TrimSpace(got), "\n")); code != 0 || n < 10 {
		t.Errorf("flight replay: exit %d, %d polls: %s", code, n, errs)
	}
}
