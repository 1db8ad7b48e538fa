package sscount

import "testing"

func TestStates(t *testing.T) {
	out := `State      Recv-Q Send-Q Local Address:Port  Peer Address:Port
LISTEN     0      8      127.0.0.1:41000     0.0.0.0:*
ESTAB      0      0      127.0.0.1:41000     127.0.0.1:50000
TIME-WAIT  0      0      127.0.0.1:50001     127.0.0.1:41000
FIN-WAIT-2 0      0      127.0.0.1:50002     127.0.0.1:41000
CLOSE-WAIT 1      0      127.0.0.1:41000     127.0.0.1:50002
`
	got := States(out)
	want := map[string]int{"LISTEN": 1, "ESTABLISHED": 1, "TIME_WAIT": 1, "FIN_WAIT2": 1, "CLOSE_WAIT": 1}
	if !Equal(got, want) {
		t.Errorf("States = %v, want %v", got, want)
	}
	if !Equal(map[string]int{"A": 1, "B": 0}, map[string]int{"A": 1}) || Equal(map[string]int{"A": 1}, map[string]int{"A": 2}) {
		t.Error("Equal")
	}
}
