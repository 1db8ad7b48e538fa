package model

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/tcptop/tcptop/source"
)

// NamespaceInput is what the poll of one namespace gathered for the
// overview: its identity and labels, its vital signs of this refresh, and
// its last detailed snapshot (a full dump, possibly older).
type NamespaceInput struct {
	ID source.NamespaceID
	// NetnsName is its `ip netns` name ("" when none).
	NetnsName string
	// Host is the initial namespace.
	Host bool
	// Processes counts the processes in it; Mounts its nsfs bind mounts.
	Processes int
	Mounts    []string
	Labels    source.Labels
	// Vitals are this refresh's (VitalsOK false when unreadable).
	Vitals   source.Vitals
	VitalsOK bool
	// NoEntry says the namespace cannot be entered (not root): it has
	// vital signs at most, never a detailed snapshot.
	NoEntry bool
	// Detail is its last detailed snapshot (nil before the first dump);
	// DetailTime is when that dump ran.
	Detail     *Snapshot
	DetailTime time.Time
	// DetailErr is the last dump's error, when it failed.
	DetailErr error
}

// NamespaceRow is one namespace in the overview.
type NamespaceRow struct {
	ID source.NamespaceID
	// Key identifies the row across polls and in the focus: "net:[INODE]".
	Key string
	// Name is how the row is shown: the pod ("ns/pod"), the container,
	// the `ip netns` name, "host" for the initial namespace, else Key.
	// From the system: sanitize before a terminal.
	Name      string
	NetnsName string
	Host      bool
	Labels    source.Labels
	Processes int
	Mounts    []string
	// NoEntry: cannot be entered; VitalsOK: its vital signs were read.
	NoEntry  bool
	VitalsOK bool
	// Live numbers from this refresh's vital signs (no table walk).
	Total     int // sockets: inuse (both families) + TIME_WAIT
	TimeWait  int
	CurrEstab int // ESTABLISHED + CLOSE_WAIT
	// OverflowsPerSec is ListenOverflows per second; OpensPerSec is
	// ActiveOpens+PassiveOpens per second (0 in the first refresh).
	OverflowsPerSec float64
	OpensPerSec     float64
	// From the last detailed snapshot (HasDetail), DetailAge old.
	HasDetail  bool
	DetailAge  time.Duration
	States     StateCounts
	PortsInUse int
	// Fullest is the listener with the fullest accept queue (nil: none).
	Fullest *Listener
	// Worst is the most severe finding's severity (0: none), WorstRule
	// its rule and WorstTitle its words; Findings counts them.
	Worst      Severity
	WorstRule  string
	WorstTitle Text
	Findings   int
	// Detail is the last detailed snapshot (nil before the first dump).
	Detail *Snapshot
	// DetailErr is the last dump's error ("" when it worked).
	DetailErr string

	vitals source.Vitals
}

// Overview is every namespace of the machine at one refresh.
type Overview struct {
	Time time.Time
	Host string
	// Rows are the namespaces that pass the filter, in sort order;
	// Hidden counts those the filter left out.
	Rows   []NamespaceRow
	Hidden int
	// Focus is the key of the namespace whose full monitor is open.
	Focus string
	// Filter and Sort are what the rows obey.
	Filter Filter
	Sort   SortKey
	// Unreadable counts processes whose namespace could not be seen
	// (other users' processes when not root).
	Unreadable int

	all []NamespaceRow // every row, filtered or not, in discovery order
}

// BuildOverview makes the overview of one refresh: live numbers from the
// vital signs, rates against prev (nil for the first), detail from each
// namespace's last snapshot, sorted and filtered by opt. Only the
// namespace terms of the filter (netns:, pod:, container:) choose rows.
func BuildOverview(now time.Time, host string, in []NamespaceInput, prev *Overview, opt Options, focus string) *Overview {
	ov := &Overview{Time: now, Host: host, Focus: focus, Filter: opt.Filter, Sort: opt.Sort}
	prevRows := map[string]*NamespaceRow{}
	if prev != nil {
		for i := range prev.all {
			prevRows[prev.all[i].Key] = &prev.all[i]
		}
	}
	rows := make([]NamespaceRow, 0, len(in))
	for i := range in {
		n := &in[i]
		r := NamespaceRow{ID: n.ID, Key: n.ID.String(), NetnsName: n.NetnsName, Host: n.Host,
			Labels: n.Labels, Processes: n.Processes, Mounts: n.Mounts, NoEntry: n.NoEntry,
			VitalsOK: n.VitalsOK, Detail: n.Detail}
		r.Name = namespaceName(n)
		if n.DetailErr != nil {
			r.DetailErr = n.DetailErr.Error()
		}
		if n.VitalsOK {
			v := &n.Vitals
			r.Total, r.TimeWait, r.CurrEstab = int(v.Total()), int(v.TimeWait), int(v.CurrEstab)
			if p := prevRows[r.Key]; p != nil && p.VitalsOK && p.vitals.Time.Before(v.Time) {
				dt := v.Time.Sub(p.vitals.Time).Seconds()
				r.OverflowsPerSec = counterRate(p.vitals.Counters, v.Counters, dt, "ListenOverflows")
				r.OpensPerSec = counterRate(p.vitals.Counters, v.Counters, dt, "ActiveOpens", "PassiveOpens")
			}
			r.vitals = *v
		}
		if d := n.Detail; d != nil {
			r.HasDetail = true
			r.DetailAge = now.Sub(n.DetailTime)
			if r.DetailAge < 0 {
				r.DetailAge = 0
			}
			r.States = d.States
			r.PortsInUse = d.Ephemeral.InUse
			for j := range d.Listeners {
				l := &d.Listeners[j]
				if r.Fullest == nil || l.Fill > r.Fullest.Fill {
					r.Fullest = l
				}
			}
			r.Findings = len(d.Findings)
			if len(d.Findings) > 0 {
				f := &d.Findings[0] // most severe first
				r.Worst, r.WorstRule, r.WorstTitle = f.Severity, f.Rule, f.Title
			}
			if !n.VitalsOK {
				r.Total, r.TimeWait = d.Total, d.States.Get(source.TimeWait)
				r.CurrEstab = d.States.Get(source.Established) + d.States.Get(source.CloseWait)
			}
		}
		rows = append(rows, r)
	}
	ov.all = rows
	for i := range rows {
		if opt.Filter.MatchNamespace(&rows[i]) {
			ov.Rows = append(ov.Rows, rows[i])
		} else {
			ov.Hidden++
		}
	}
	SortNamespaces(ov.Rows, opt.Sort)
	return ov
}

// SortNamespaces orders rows: by the sort key's count (a state's, from
// the detail, TIME_WAIT live; total live), then the worst finding, then
// name. With the zero key, the worst finding comes first.
func SortNamespaces(rows []NamespaceRow, k SortKey) {
	val := func(r *NamespaceRow) int {
		switch k.State {
		case 0:
			return r.Total
		case source.TimeWait:
			return r.TimeWait
		}
		return r.States.Get(k.State)
	}
	slices.SortStableFunc(rows, func(a, b NamespaceRow) int {
		if k.State == 0 && !k.Reverse {
			if c := cmp.Compare(b.Worst, a.Worst); c != 0 {
				return c
			}
		}
		c := cmp.Compare(val(&b), val(&a))
		if k.Reverse {
			c = -c
		}
		if c != 0 {
			return c
		}
		if c := cmp.Compare(b.Worst, a.Worst); c != 0 {
			return c
		}
		if a.Host != b.Host {
			if a.Host {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// Vitals returns the vital signs the row's live numbers come from (every
// Tcp and TcpExt counter of the namespace, read this refresh without a
// table walk) and whether they were read (VitalsOK).
func (r *NamespaceRow) Vitals() (source.Vitals, bool) { return r.vitals, r.VitalsOK }

// Row returns the row with the key (nil when not shown).
func (ov *Overview) Row(key string) *NamespaceRow {
	for i := range ov.all {
		if ov.all[i].Key == key {
			return &ov.all[i]
		}
	}
	return nil
}

// All returns every namespace, the filter's hidden ones too, in discovery
// order.
func (ov *Overview) All() []NamespaceRow { return ov.all }

// Worst is the most severe finding of any namespace shown.
func (ov *Overview) Worst() Severity {
	var w Severity
	for i := range ov.Rows {
		w = max(w, ov.Rows[i].Worst)
	}
	return w
}

// HostRow is the initial namespace's row (nil when not seen).
func (ov *Overview) HostRow() *NamespaceRow {
	for i := range ov.all {
		if ov.all[i].Host {
			return &ov.all[i]
		}
	}
	return nil
}

// namespaceName is the row's name by the rule of NamespaceRow.Name.
func namespaceName(n *NamespaceInput) string {
	if s := n.Labels.Name(); s != "" {
		return s
	}
	if n.NetnsName != "" {
		return n.NetnsName
	}
	if n.Host {
		return "host"
	}
	return n.ID.String()
}

// Where names the namespace of a finding for people: "pod ns/name",
// "container name (docker)", "netns NAME", "host" or "net:[INODE]".
func (r *NamespaceRow) Where() string {
	l := r.Labels
	switch {
	case l.Pod != "" || l.PodUID != "":
		return "pod " + l.Name()
	case l.Container != "" || l.ContainerID != "":
		s := "container " + l.Name()
		if l.Runtime != "" {
			s += " (" + l.Runtime + ")"
		}
		return s
	case r.NetnsName != "":
		return "netns " + r.NetnsName
	case r.Host:
		return "host"
	}
	return r.Key
}

func counterRate(prev, cur map[string]int64, dt float64, names ...string) float64 {
	if dt <= 0 {
		return 0
	}
	var d int64
	for _, n := range names {
		c, ok1 := cur[n]
		p, ok2 := prev[n]
		if !ok1 || !ok2 || c < p {
			return 0
		}
		d += c - p
	}
	return float64(d) / dt
}

// MatchNamespace reports whether a namespace passes the filter's
// namespace terms (netns:, pod:, container:); other terms choose sockets
// and pass every namespace.
func (f Filter) MatchNamespace(r *NamespaceRow) bool {
	for i := range f.terms {
		t := &f.terms[i]
		var hay []string
		switch t.kind {
		case termNetns:
			hay = []string{r.Name, r.NetnsName, r.Key}
			if r.Host {
				hay = append(hay, "host", DefaultNetnsLabel)
			}
		case termPod:
			hay = []string{r.Labels.Pod, r.Labels.PodNamespace, r.Labels.PodNamespace + "/" + r.Labels.Pod, r.Labels.PodUID}
		case termContainer:
			hay = []string{r.Labels.Container, r.Labels.ContainerID}
		default:
			continue
		}
		if !containsAny(hay, t.words) {
			return false
		}
	}
	return true
}

// DefaultNetnsLabel is source.DefaultLabel: netns:default finds the host.
const DefaultNetnsLabel = source.DefaultLabel

func containsAny(hay, words []string) bool {
	for _, h := range hay {
		h = strings.ToLower(h)
		if h == "" || h == "/" {
			continue
		}
		for _, w := range words {
			if strings.Contains(h, w) {
				return true
			}
		}
	}
	return false
}

// Resorted returns a copy of the overview filtered and sorted by opt, at
// once and without polling (a new sort or filter key in the monitor); the
// rows are those of ov's refresh.
func (ov *Overview) Resorted(opt Options) *Overview {
	n := *ov
	n.Filter, n.Sort = opt.Filter, opt.Sort
	n.Rows, n.Hidden = nil, 0
	for i := range ov.all {
		if opt.Filter.MatchNamespace(&ov.all[i]) {
			n.Rows = append(n.Rows, ov.all[i])
		} else {
			n.Hidden++
		}
	}
	SortNamespaces(n.Rows, opt.Sort)
	return &n
}
