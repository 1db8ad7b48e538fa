package output

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tcptop/tcptop/model"
)

// --sockets adds the socket list to JSON and text; the rest of the
// document is what WriteJSON writes; the filter narrows the list.
func TestSocketsExport(t *testing.T) {
	snap := secondPoll(lowAnalyzer(t), twoPolls())
	var plain, with bytes.Buffer
	if err := WriteJSON(&plain, snap, false); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSONSockets(&with, snap, false, SocketsOptions{Sockets: true}); err != nil {
		t.Fatal(err)
	}
	var a, b map[string]json.RawMessage
	if err := json.Unmarshal(plain.Bytes(), &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(with.Bytes(), &b); err != nil {
		t.Fatal(err)
	}
	var socks []model.SocketRow
	if err := json.Unmarshal(b["sockets"], &socks); err != nil {
		t.Fatal(err)
	}
	if len(socks) != len(snap.Sample.Sockets) || len(b) != len(a)+1 {
		t.Errorf("%d sockets of %d; %d keys, plain has %d", len(socks), len(snap.Sample.Sockets), len(b), len(a))
	}
	for k, v := range a {
		if string(b[k]) != string(v) {
			t.Errorf("--sockets changed %q", k)
		}
	}
	var off bytes.Buffer
	WriteJSONSockets(&off, snap, false, SocketsOptions{})
	if off.String() != plain.String() {
		t.Error("without --sockets the document differs from WriteJSON's")
	}

	f, err := model.ParseFilter("state:CLOSE_WAIT")
	if err != nil {
		t.Fatal(err)
	}
	fs := model.Rebuild(snap, model.Options{Filter: f})
	var txt bytes.Buffer
	if err := WriteSocketsText(&txt, fs, SocketsOptions{Sockets: true}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(txt.String()), "\n")
	want := len(fs.Sockets())
	if want == 0 {
		t.Fatal("the fixture has no CLOSE_WAIT socket")
	}
	if len(lines) != want+2 || !strings.Contains(lines[0], `filter "state:CLOSE_WAIT"`) {
		t.Errorf("%d lines for %d CLOSE_WAIT sockets:\n%s", len(lines), want, txt.String())
	}
	for _, l := range lines[2:] {
		if !strings.HasPrefix(l, "  CLOSE_WAIT ") {
			t.Errorf("a line that is not CLOSE_WAIT: %q", l)
		}
	}
}
