package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/tcptop/tcptop/format"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

// AllNetnsSchema is the "schema" of the --all-netns document: its own
// shape (docs/JSON.md, "All namespaces"), not a version of the
// one-namespace document, whose fields each namespace entry repeats.
const AllNetnsSchema = "all-netns/1"

// allDoc is the --all-netns document.
type allDoc struct {
	Schema     string            `json:"schema"`
	Time       string            `json:"time"`
	Host       string            `json:"host"`
	Focus      string            `json:"focus"`
	Filter     string            `json:"filter,omitempty"`
	Sort       string            `json:"sort"`
	Hidden     int               `json:"hidden"`
	Unreadable int               `json:"unreadable_processes"`
	Namespaces []json.RawMessage `json:"namespaces"`
}

// nsHead is a namespace entry's own fields; the namespace's last
// snapshot's fields (the one-namespace document) follow them.
type nsHead struct {
	ID        string        `json:"id"`
	Inode     uint64        `json:"inode"`
	Dev       uint64        `json:"dev"`
	Name      string        `json:"name"`
	NetnsName string        `json:"netns_name,omitempty"`
	Initial   bool          `json:"initial"`
	Labels    source.Labels `json:"labels"`
	Processes int           `json:"processes"`
	Mounts    []string      `json:"mounts,omitempty"`
	Entered   bool          `json:"entered"`
	Vitals    *vitalsJSON   `json:"vitals"`
	// DetailAgeMS is how old the snapshot fields are; null with no detail.
	DetailAgeMS *float64 `json:"detail_age_ms"`
	DetailError string   `json:"detail_error,omitempty"`
	Worst       string   `json:"worst,omitempty"`
}

type vitalsJSON struct {
	Total           int     `json:"total"`
	TimeWait        int     `json:"time_wait"`
	CurrEstab       int     `json:"curr_estab"`
	OverflowsPerSec float64 `json:"overflows_per_sec"`
	OpensPerSec     float64 `json:"opens_per_sec"`
}

// WriteOverviewJSON writes ov as one --all-netns document and a newline
// (indented with indent, compact otherwise: one NDJSON line).
func WriteOverviewJSON(w io.Writer, ov *model.Overview, indent bool) error {
	var e OverviewEncoder
	return e.Write(w, ov, indent)
}

// OverviewEncoder writes a stream of --all-netns documents, as
// WriteOverviewJSON does, encoding each namespace's detailed snapshot
// once: a namespace not dumped since the last document (most of them,
// see pipeline.Scheduler) repeats its encoded snapshot, only its age and
// vital signs change. The zero value is ready; not safe for concurrent
// use.
type OverviewEncoder struct {
	bodies, next map[*model.Snapshot][]byte
}

// Write writes ov as one document and a newline.
func (e *OverviewEncoder) Write(w io.Writer, ov *model.Overview, indent bool) error {
	e.next = make(map[*model.Snapshot][]byte, len(ov.Rows))
	defer func() { e.bodies, e.next = e.next, nil }()
	d := allDoc{Schema: AllNetnsSchema, Time: ov.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		Host: ov.Host, Focus: ov.Focus, Filter: ov.Filter.String(), Sort: ov.Sort.String(),
		Hidden: ov.Hidden, Unreadable: ov.Unreadable, Namespaces: []json.RawMessage{}}
	for i := range ov.Rows {
		b, err := e.namespaceJSON(&ov.Rows[i])
		if err != nil {
			return err
		}
		d.Namespaces = append(d.Namespaces, b)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return err
	}
	if !indent {
		_, err := w.Write(buf.Bytes())
		return err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, buf.Bytes(), "", "  "); err != nil {
		return err
	}
	_, err := w.Write(out.Bytes())
	return err
}

// namespaceJSON is the entry's own fields followed by its snapshot's.
func (e *OverviewEncoder) namespaceJSON(r *model.NamespaceRow) (json.RawMessage, error) {
	h := nsHead{ID: r.Key, Inode: r.ID.Inode, Dev: r.ID.Dev, Name: r.Name, NetnsName: r.NetnsName,
		Initial: r.Host, Labels: r.Labels, Processes: r.Processes, Mounts: r.Mounts,
		Entered: !r.NoEntry, DetailError: r.DetailErr}
	if r.VitalsOK {
		h.Vitals = &vitalsJSON{Total: r.Total, TimeWait: r.TimeWait, CurrEstab: r.CurrEstab,
			OverflowsPerSec: r.OverflowsPerSec, OpensPerSec: r.OpensPerSec}
	}
	if r.Worst > 0 {
		h.Worst = r.Worst.String()
	}
	if r.HasDetail {
		ms := float64(r.DetailAge.Milliseconds())
		h.DetailAgeMS = &ms
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(h); err != nil {
		return nil, err
	}
	head := bytes.TrimSpace(buf.Bytes())
	if r.Detail == nil {
		return head, nil
	}
	body, ok := e.bodies[r.Detail]
	if !ok {
		var bb bytes.Buffer
		enc := json.NewEncoder(&bb)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(r.Detail); err != nil {
			return nil, err
		}
		body = bytes.TrimSpace(bb.Bytes())
	}
	if e.next != nil {
		e.next[r.Detail] = body
	}
	if len(body) < 2 || body[0] != '{' {
		return head, nil
	}
	// {head...} + {body...} → {head..., body...}
	out := make([]byte, 0, len(head)+len(body))
	out = append(out, head[:len(head)-1]...)
	if len(body) > 2 {
		out = append(out, ',')
	}
	out = append(out, body[1:]...)
	return out, nil
}

// WriteOverviewText writes the overview as a table, one namespace a line,
// then each namespace's findings naming it. Names from the system are
// sanitized.
func WriteOverviewText(w io.Writer, ov *model.Overview, opt TextOptions) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s  %d network namespaces", format.Sanitize(ov.Host), ov.Time.Format("2006-01-02 15:04:05"), len(ov.Rows))
	if ov.Hidden > 0 {
		fmt.Fprintf(&b, " (%d hidden by the filter)", ov.Hidden)
	}
	b.WriteString("\n\n")
	b.WriteString(OverviewHeader + "\n")
	for i := range ov.Rows {
		b.WriteString(OverviewLine(&ov.Rows[i]) + "\n")
	}
	writeOverviewFindings(&b, ov)
	_, err := io.WriteString(w, b.String())
	return err
}

// OverviewHeader names OverviewLine's columns.
const OverviewHeader = "NAMESPACE                    RUNTIME     TOTAL  ESTAB CLOSE_W TIME_W  PORTS LISTEN FULLEST  OVF/s OPEN/s  AGE  FINDING"

// OverviewLine is one namespace as the text overview prints it.
func OverviewLine(r *model.NamespaceRow) string {
	name := format.Clip(format.Sanitize(r.Name), 28, format.GlyphsFor(true))
	rt := r.Labels.Runtime
	if r.Host {
		rt = "host"
	}
	if rt == "" {
		rt = "-"
	}
	est, cw, ports, fullest, age := "-", "-", "-", "-", "-"
	if r.HasDetail {
		est = format.Count(r.States.Get(source.Established))
		cw = format.Count(r.States.Get(source.CloseWait))
		ports = format.Count(r.PortsInUse)
		age = format.Millis(uint32(min(r.DetailAge.Milliseconds(), 1<<31)))
		if l := r.Fullest; l != nil {
			fullest = format.Clip(format.Sanitize(l.Local), 12, format.GlyphsFor(true)) + " " + format.Percent(l.Fill)
		}
	}
	total, tw, ovf, opens := "?", "?", "?", "?"
	if r.VitalsOK || r.HasDetail {
		total, tw = format.Count(r.Total), format.Count(r.TimeWait)
	}
	if r.VitalsOK {
		ovf, opens = format.Rate(r.OverflowsPerSec), format.Rate(r.OpensPerSec)
	}
	finding := "-"
	if r.Worst > 0 {
		finding = strings.ToUpper(r.Worst.String()) + " " + r.WorstRule
	}
	switch {
	case r.NoEntry && !r.VitalsOK:
		finding = "(cannot enter; vital signs unreadable)"
	case r.NoEntry:
		finding = "(cannot enter: vital signs only)"
	}
	return fmt.Sprintf("%-28s %-9s %7s %6s %7s %6s %6s %-19s %6s %6s %4s  %s",
		name, rt, total, est, cw, tw, ports, fullest, ovf, opens, age, finding)
}

// writeOverviewFindings lists every namespace's findings, each naming
// its namespace.
func writeOverviewFindings(b *strings.Builder, ov *model.Overview) {
	n := 0
	for i := range ov.Rows {
		if d := ov.Rows[i].Detail; d != nil {
			n += len(d.Findings)
		}
	}
	if n == 0 {
		b.WriteString("\nFINDINGS  no findings\n")
		return
	}
	fmt.Fprintf(b, "\nFINDINGS %d\n", n)
	for i := range ov.Rows {
		r := &ov.Rows[i]
		if r.Detail == nil {
			continue
		}
		for _, f := range r.Detail.Findings {
			fmt.Fprintf(b, "  %-8s  [%s] %s\n", strings.ToUpper(f.Severity.String()), format.Sanitize(r.Where()), f.Title)
			about := "host"
			if f.Subject.Kind != model.SubjectHost {
				about = f.Subject.Kind + " " + f.Subject.String()
			}
			fmt.Fprintf(b, "  %10s  %s  (rule %s)\n", "about:", about, f.Rule)
			for j, l := range f.Evidence {
				label := "why:"
				if j > 0 {
					label = ""
				}
				fmt.Fprintf(b, "  %10s  %s\n", label, l)
			}
		}
	}
}

// OverviewCheckFailed is --all-netns --check's verdict: any namespace
// with a finding at warning or worse.
func OverviewCheckFailed(ov *model.Overview) bool {
	for i := range ov.Rows {
		if d := ov.Rows[i].Detail; d != nil && model.Worst(d.Findings) >= model.Warning {
			return true
		}
	}
	return false
}

// WriteOverviewCheck writes the findings of every namespace, each naming
// its namespace, then one verdict line per failing namespace and a
// summary ("OK host: N namespaces ..." or "CHECK FAILED ...").
func WriteOverviewCheck(w io.Writer, ov *model.Overview) (failed bool, err error) {
	failed = OverviewCheckFailed(ov)
	var b strings.Builder
	writeOverviewFindings(&b, ov)
	out := strings.TrimPrefix(b.String(), "\n")
	bad := 0
	for i := range ov.Rows {
		r := &ov.Rows[i]
		if r.Detail == nil {
			continue
		}
		n := 0
		for _, f := range r.Detail.Findings {
			if f.Severity >= model.Warning {
				n++
			}
		}
		if n > 0 {
			bad++
			out += fmt.Sprintf("CHECK FAILED %s [%s]: %d findings at warning or worse\n", format.Sanitize(r.Where()), r.Key, n)
		}
	}
	if bad == 0 {
		out += fmt.Sprintf("OK %s: %d network namespaces, no findings at warning or worse\n", format.Sanitize(ov.Host), len(ov.Rows))
	} else {
		out += fmt.Sprintf("CHECK FAILED %s: %d of %d network namespaces with findings at warning or worse\n", format.Sanitize(ov.Host), bad, len(ov.Rows))
	}
	_, err = io.WriteString(w, out)
	return failed, err
}
