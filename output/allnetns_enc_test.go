package output

import (
	"bytes"
	"testing"
	"time"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

// The encoder's reuse of a namespace's encoded snapshot changes no byte:
// a stream of documents equals WriteOverviewJSON of each.
func TestOverviewEncoderSameBytes(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	sample := &source.Sample{Time: now, Sockets: []source.Socket{{State: source.Established}, {State: source.CloseWait}}}
	d1 := model.Build(sample, nil, model.Options{})
	d2 := model.Build(sample, nil, model.Options{})
	var enc OverviewEncoder
	for i, ins := range [][]model.NamespaceInput{
		{{ID: source.NamespaceID{Inode: 1}, Host: true, Detail: d1, DetailTime: now}, {ID: source.NamespaceID{Inode: 2}, Detail: d2, DetailTime: now}},
		{{ID: source.NamespaceID{Inode: 1}, Host: true, Detail: d1, DetailTime: now}, {ID: source.NamespaceID{Inode: 2}, Detail: d2, DetailTime: now.Add(-time.Second)}},
		{{ID: source.NamespaceID{Inode: 2}, Detail: d1, DetailTime: now}},
	} {
		ov := model.BuildOverview(now.Add(time.Duration(i)*time.Second), "h", ins, nil, model.Options{}, "")
		var a, b bytes.Buffer
		if err := enc.Write(&a, ov, false); err != nil {
			t.Fatal(err)
		}
		if err := WriteOverviewJSON(&b, ov, false); err != nil {
			t.Fatal(err)
		}
		if a.String() != b.String() {
			t.Fatalf("document %d differs:\n%s\n%s", i, a.String(), b.String())
		}
	}
}
