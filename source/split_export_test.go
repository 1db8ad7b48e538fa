package source

// SetSplitDumpMin sets the table size from which a first read splits its
// dump over two sockets, until the returned restore.
func SetSplitDumpMin(n int) (restore func()) {
	old := splitDumpMin
	splitDumpMin = n
	return func() { splitDumpMin = old }
}

// SplitBytecode is the filter of one half of DumpSplit, for tests.
func SplitBytecode(mid uint16, xor bool) []byte { return splitBytecode(mid, xor) }

// SetFilter sets the bytecode filter d sends with its requests (nil: none).
func (d *Dumper) SetFilter(bc []byte) { d.bc = bc }

// SplitDumps is how many of k's reads split their dump.
func SplitDumps(k *Kernel) int { return k.splits }
