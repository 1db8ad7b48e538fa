package output

import (
	"encoding/json"
	"io"

	"github.com/tcptop/tcptop/model"
)

// WriteJSON writes snap as one JSON document (docs/JSON.md) and a newline:
// indented by two spaces when indent is set (--once, --check), compact
// otherwise. Characters such as <, > and & are written as they are, not
// escaped for HTML: the reader is a script, not a browser.
func WriteJSON(w io.Writer, snap *model.Snapshot, indent bool) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if indent {
		enc.SetIndent("", "  ")
	}
	return enc.Encode(snap)
}

// WriteNDJSON writes snap as one line of an NDJSON stream (one compact
// document per line, the --json stream): the same bytes as
// WriteJSON(w, snap, false), named for what a stream writer means.
func WriteNDJSON(w io.Writer, snap *model.Snapshot) error {
	return WriteJSON(w, snap, false)
}
