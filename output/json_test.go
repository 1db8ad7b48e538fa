package output

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tcptop/tcptop/model"
)

// TestWriteJSONGolden: --once --json and --check --json print this
// document (docs/JSON.md), indented, schema first.
func TestWriteJSONGolden(t *testing.T) {
	snap := secondPoll(lowAnalyzer(t), twoPolls())
	snap.PollMS = model.PollCost{}
	var b bytes.Buffer
	if err := WriteJSON(&b, snap, true); err != nil {
		t.Fatal(err)
	}
	got := b.String()
	if !strings.HasPrefix(got, "{\n  \"schema\": 1,\n") || !strings.HasSuffix(got, "}\n") {
		t.Errorf("want an indented document starting with the schema: %.80q", got)
	}
	path := filepath.Join("..", "testdata", "golden", "json", "second-poll.json")
	if *update {
		os.MkdirAll(filepath.Dir(path), 0o755)
		os.WriteFile(path, []byte(got), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./output -update)", err)
	}
	if string(want) != got {
		t.Errorf("JSON differs from %s (run go test ./output -update and review)", path)
	}
}

// TestNDJSON: one compact document per line, the same bytes as an
// unindented WriteJSON; nothing escaped for HTML.
func TestNDJSON(t *testing.T) {
	a := lowAnalyzer(t)
	polls := twoPolls()
	for _, s := range polls {
		s.Procs[20].Cmdline = "php-fpm: pool <www> & co"
	}
	var b, one bytes.Buffer
	for _, s := range polls {
		snap := a.Next(s, model.Options{})
		if err := WriteNDJSON(&b, snap); err != nil {
			t.Fatal(err)
		}
		one.Reset()
		WriteJSON(&one, snap, false)
	}
	if !strings.HasSuffix(b.String(), one.String()) {
		t.Error("WriteNDJSON and WriteJSON(indent false) differ")
	}
	sc := bufio.NewScanner(&b)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		n++
		var doc struct {
			Schema   int `json:"schema"`
			Total    int `json:"total"`
			Findings []struct {
				Rule string `json:"rule"`
			} `json:"findings"`
		}
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatalf("line %d: %v", n, err)
		}
		if doc.Schema != model.SchemaVersion || doc.Total == 0 {
			t.Errorf("line %d: schema %d, %d sockets", n, doc.Schema, doc.Total)
		}
		if !strings.HasPrefix(sc.Text(), `{"schema":1,`) || !strings.Contains(sc.Text(), "pool <www> & co") {
			t.Errorf("line %d: %.120s", n, sc.Text())
		}
	}
	if n != 2 {
		t.Errorf("%d lines, want 2", n)
	}
}
