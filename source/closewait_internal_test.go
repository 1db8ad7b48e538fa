package source

import "testing"

// TestExactLimit: the exact requests serve up to closeWaitExactMax
// CLOSE_WAIT sockets in a table of up to 100k, and in proportion beyond
// (the masked dump they replace walks the whole table); a limit a test
// sets low stays that low for a small table.
func TestExactLimit(t *testing.T) {
	for _, c := range []struct{ max, total, want int }{
		{8192, 0, 8192},
		{8192, 10000, 8192},
		{8192, 100000, 8192},
		{8192, 200000, 16384},
		{8192, 1000000, 81920},
		{39, 200, 39},
		{0, 500000, 0},
	} {
		old := closeWaitExactMax
		closeWaitExactMax = c.max
		got := exactLimit(c.total)
		closeWaitExactMax = old
		if got != c.want {
			t.Errorf("limit %d, %d sockets: %d, want %d", c.max, c.total, got, c.want)
		}
	}
}
