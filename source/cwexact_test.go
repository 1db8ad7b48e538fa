package source_test

import (
	"testing"

	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/source"
)

// Infos answers exact requests in batches: every CLOSE_WAIT socket's
// tcp_info, IPv4 and IPv6, over more than one datagram of requests, and
// nothing for an ID whose cookie names no socket any more.
func TestInfosByExactRequests(t *testing.T) {
	_, ns := nstest.New(t, "tcptop-infos")
	cwPopulation(t, ns, 10, 150)
	cwPopulationAt(t, ns, "[::1]:0", 0, 5) // five IPv6 ones too
	var d *source.Dumper
	if err := ns.Do(func() (err error) { d, err = source.NewDumper(); return err }); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	socks, err := d.Dump(source.AllStatesMask, 0, 64)
	if err != nil {
		t.Fatal(err)
	}
	var ids []source.SocketID
	for i := range socks {
		if socks[i].State == source.CloseWait {
			ids = append(ids, socks[i].ID())
		}
	}
	if len(ids) != 155 {
		t.Fatalf("%d CLOSE_WAIT sockets, want 155", len(ids))
	}
	gone := ids[0]
	gone.Cookie++ // the tuple names another socket now: ESTALE
	infos, err := d.Infos(append(ids, gone))
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != len(ids) {
		t.Fatalf("%d answers, want %d", len(infos), len(ids))
	}
	for _, id := range ids {
		ti, ok := infos[id.Cookie]
		if !ok || ti.State != uint8(source.CloseWait) || !ti.Has(source.InfoBase) {
			t.Fatalf("socket %v: tcp_info %v %+v", id, ok, ti)
		}
	}
}
