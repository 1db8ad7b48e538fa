package output

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/tcptop/tcptop/format"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/present"
)

// SocketsOptions adds the socket list to an output (--sockets, --info).
type SocketsOptions struct {
	// Sockets adds every socket passing the filter: a "sockets" array in
	// JSON, a section in text.
	Sockets bool
	// Info adds each socket's tcp_info (when the dump asked for it).
	Info bool
}

// withSockets is a snapshot's JSON with the "sockets" array after it.
type withSockets struct {
	*model.Snapshot
	Sockets []model.SocketRow `json:"sockets"`
}

// WriteJSONSockets is WriteJSON with, when opt.Sockets, a "sockets" array
// of every socket passing the snapshot's filter, in state order
// (docs/JSON.md). Without opt.Sockets it writes what WriteJSON writes.
func WriteJSONSockets(w io.Writer, snap *model.Snapshot, indent bool, opt SocketsOptions) error {
	if !opt.Sockets {
		return WriteJSON(w, snap, indent)
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if indent {
		enc.SetIndent("", "  ")
	}
	return enc.Encode(withSockets{snap, snap.SocketRows(snap.Sockets(), opt.Info)})
}

// WriteSocketsText writes the text output's socket section: one line per
// socket passing the filter, in state order, whole (a list to hand on, so
// never cut to --top); with opt.Info, the tcp_info columns.
func WriteSocketsText(w io.Writer, snap *model.Snapshot, opt SocketsOptions) error {
	rows := snap.SocketRows(snap.Sockets(), opt.Info)
	var b strings.Builder
	title := fmt.Sprintf("Sockets (%d", len(rows))
	if f := snap.Options().Filter; !f.Empty() {
		title += ", filter " + strconv.Quote(f.String())
	}
	b.WriteString(title + ")\n")
	lw, rw := 21, 21
	for i := range rows {
		lw, rw = max(lw, len(rows[i].Local)), max(rw, len(rows[i].Remote))
	}
	fmt.Fprintf(&b, "  %-11s %-*s %-*s %8s %8s %7s", "STATE", lw, "LOCAL", rw, "REMOTE", "RECV-Q", "SEND-Q", "AGE")
	if opt.Info {
		fmt.Fprintf(&b, " %9s %5s %8s", "RTT", "CWND", "RETRANS")
	}
	b.WriteString(" OWNERS\n")
	for i := range rows {
		r := &rows[i]
		age := "-"
		if r.AgeSeconds != nil {
			age = format.Age(time.Duration(*r.AgeSeconds * float64(time.Second)))
		}
		fmt.Fprintf(&b, "  %-11s %-*s %-*s %8d %8d %7s", r.State, lw, r.Local, rw, r.Remote, r.RecvQ, r.SendQ, age)
		if opt.Info {
			if in := r.Info; in != nil {
				fmt.Fprintf(&b, " %9s %5d %8d", rttText(in.RTTUS), in.SndCwnd, in.TotalRetrans)
			} else {
				fmt.Fprintf(&b, " %9s %5s %8s", "-", "-", "-")
			}
		}
		owners := present.ProcRefs(r.Owners, snap.Attributed)
		if r.Inferred && owners != "" {
			owners += " (inferred)"
		}
		b.WriteString(" " + owners + "\n")
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

// rttText is a round-trip time in ms with three decimals, as ss prints it.
func rttText(us uint32) string {
	return strconv.FormatFloat(float64(us)/1000, 'f', 3, 64) + "ms"
}
