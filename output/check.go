package output

import (
	"fmt"
	"io"

	"github.com/tcptop/tcptop/model"
)

// CheckFailed is the --check verdict: whether any finding is a warning or
// worse (informational findings never fail a check).
func CheckFailed(snap *model.Snapshot) bool {
	return model.Worst(snap.Findings) >= model.Warning
}

// WriteCheck writes --check's report: the findings as the text output
// prints them, then one verdict line for a script or a cron mail ("OK
// host: N sockets, ..." or "CHECK FAILED host: N findings ..."). failed is
// CheckFailed(snap), whatever happened to the write.
func WriteCheck(w io.Writer, snap *model.Snapshot) (failed bool, err error) {
	failed = CheckFailed(snap)
	if err := WriteFindings(w, snap); err != nil {
		return failed, err
	}
	n := 0
	for _, f := range snap.Findings {
		if f.Severity >= model.Warning {
			n++
		}
	}
	if n == 0 {
		_, err = fmt.Fprintf(w, "OK %s: %d sockets, no findings at warning or worse\n", snap.Host, snap.Total)
	} else {
		_, err = fmt.Fprintf(w, "CHECK FAILED %s: %d findings at warning or worse\n", snap.Host, n)
	}
	return failed, err
}
