package exporter

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/source"
)

// runAll is Run with --all-netns: one AllPoller.Poll every interval
// (discovery, every namespace's vital signs, the dumps its scheduler
// picks), counted here since the AllPoller keeps no Stats.
func (e *Exporter) runAll(ctx context.Context, interval time.Duration) error {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	failing := false
	for {
		start := time.Now()
		ov, err := e.cfg.All.Poll(ctx)
		if ctx.Err() != nil {
			return nil
		}
		e.polls.Add(1)
		e.lastTook.Store(int64(time.Since(start)))
		switch {
		case err != nil:
			e.errors.Add(1)
			if !failing {
				failing = true
				e.cfg.Logger.Error("poll failed; serving the last good values", "err", err)
			}
		default:
			if failing {
				failing = false
				e.cfg.Logger.Info("polls succeed again")
			}
			e.convertAll(ov)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// nsDetail is the conversion of one namespace's last full dump.
type nsDetail struct {
	snap    *model.Snapshot
	target  [3]string
	metrics []prometheus.Metric
}

// convertAll returns the overview's metrics, building them the first time
// ov is seen, with a copy of the dropped counts.
func (e *Exporter) convertAll(ov *model.Overview) ([]prometheus.Metric, map[string]float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ov != nil && ov != e.seenOv {
		b := builder{e: e}
		b.overview(ov)
		e.seenOv, e.metrics = ov, b.metrics
		e.addDropped(b.dropped)
	}
	return e.metrics, maps.Clone(e.dropped)
}

// overview converts every namespace the filter shows, up to
// MaxNamespaces, and sums the rest into netns="other". Per namespace: its
// identity, its vital signs and kernel counters (read this poll, no dump),
// and the metrics of its last full dump with the dump's age (converted
// once per dump). Called with e.mu held.
func (b *builder) overview(ov *model.Overview) {
	e, d := b.e, b.e.d
	b.emit(d.namespaces, prometheus.GaugeValue, float64(len(ov.All())), nil)

	rows := make([]*model.NamespaceRow, len(ov.Rows))
	for i := range ov.Rows {
		rows[i] = &ov.Rows[i]
	}
	kept, cut := rankNamespaces(rows, e.cfg.MaxNamespaces)
	targets := namespaceTargets(kept)
	details := make(map[string]*nsDetail, len(kept))
	for i, r := range kept {
		t := targets[i]
		gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
			b.emit(desc, prometheus.GaugeValue, v, t[:], labels...)
		}
		gauge(d.nsInfo, 1, r.Key, r.Labels.Runtime)
		v, vok := r.Vitals()
		if vok {
			gauge(d.nsInUse, float64(v.InUse4+v.InUse6))
			gauge(d.nsTimeWait, float64(v.TimeWait))
			gauge(d.nsCurrEstab, float64(v.CurrEstab))
			b.counters(t[:], v.Counters)
		}
		if r.Detail == nil {
			continue
		}
		gauge(d.nsDetailAge, r.DetailAge.Seconds())
		if !vok {
			b.counters(t[:], r.Detail.Counters)
		}
		nd := e.details[r.Key]
		if nd == nil || nd.snap != r.Detail || nd.target != t {
			// A new dump: its cut label values count once.
			nb := builder{e: e}
			nb.add(r.Detail, t[:])
			nd = &nsDetail{snap: r.Detail, target: t, metrics: nb.metrics}
			for k, n := range nb.dropped {
				b.drop(k, n)
			}
		}
		details[r.Key] = nd
		b.metrics = append(b.metrics, nd.metrics...)
	}
	e.details = details

	if len(cut) > 0 {
		b.drop(droppedNetns, len(cut))
		b.otherNamespaces(cut)
	}
	b.ebpfMachine(freshestEBPF(ov.All()))
}

// otherNamespaces sums the namespaces beyond the cap into netns="other":
// the gauges only (a sum of counters over namespaces that come and go
// would go backwards).
func (b *builder) otherNamespaces(cut []*model.NamespaceRow) {
	d := b.e.d
	t := []string{OtherLabel, "", ""}
	var inUse, tw, estab int64
	var states model.StateCounts
	vitals, detail := false, false
	for _, r := range cut {
		if v, ok := r.Vitals(); ok {
			vitals = true
			inUse += v.InUse4 + v.InUse6
			tw += v.TimeWait
			estab += v.CurrEstab
		}
		if r.Detail != nil {
			detail = true
			for i := range states {
				states[i] += r.Detail.States[i]
			}
		}
	}
	if vitals {
		b.emit(d.nsInUse, prometheus.GaugeValue, float64(inUse), t)
		b.emit(d.nsTimeWait, prometheus.GaugeValue, float64(tw), t)
		b.emit(d.nsCurrEstab, prometheus.GaugeValue, float64(estab), t)
	}
	if detail {
		for _, st := range source.AllStates {
			b.emit(d.sockets, prometheus.GaugeValue, float64(states.Get(st)), t, st.String())
		}
	}
}

// rankNamespaces keeps at most maxN namespaces: the host first, then the
// worst finding, then the most sockets (then by name, for a stable
// order). The rest are returned as cut.
func rankNamespaces(rows []*model.NamespaceRow, maxN int) (kept, cut []*model.NamespaceRow) {
	if len(rows) <= maxN {
		return rows, nil
	}
	rows = slices.Clone(rows)
	slices.SortStableFunc(rows, func(a, b *model.NamespaceRow) int {
		if a.Host != b.Host {
			if a.Host {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(b.Worst, a.Worst); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Total, a.Total); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
	return rows[:maxN], rows[maxN:]
}

// namespaceTargets gives each row its target label values (TargetLabels),
// unique: a netns name seen twice, or one that is "other", gives way to
// the namespace's id.
func namespaceTargets(rows []*model.NamespaceRow) [][3]string {
	out := make([][3]string, len(rows))
	seen := make(map[string]bool, len(rows))
	for i, r := range rows {
		n := netnsLabel(r)
		if seen[n] || n == OtherLabel {
			n = r.Key
		}
		seen[n] = true
		out[i] = [3]string{n, podLabel(r.Labels), containerLabel(r.Labels)}
	}
	return out
}

// netnsLabel is a namespace's netns label: its `ip netns` name, "host"
// for the initial namespace, else its id (net:[INODE]).
func netnsLabel(r *model.NamespaceRow) string {
	switch {
	case r.NetnsName != "":
		return r.NetnsName
	case r.Host:
		return "host"
	}
	return r.Key
}

// podLabel is "namespace/name" of a Kubernetes pod (the name alone when
// its namespace is unknown, the uid when its name is), "" for none.
func podLabel(l source.Labels) string {
	switch {
	case l.Pod != "" && l.PodNamespace != "":
		return l.PodNamespace + "/" + l.Pod
	case l.Pod != "":
		return l.Pod
	}
	return l.PodUID
}

// containerLabel is a container's name, else its id shortened to 12, ""
// for none.
func containerLabel(l source.Labels) string {
	if l.Container != "" {
		return l.Container
	}
	if len(l.ContainerID) > 12 {
		return l.ContainerID[:12]
	}
	return l.ContainerID
}

// freshestEBPF is the eBPF view of the most recent dump of any namespace
// (nil when none has one): whether the programs are loaded and what they
// lost are the machine's, whichever namespace reports them.
func freshestEBPF(rows []model.NamespaceRow) *model.EBPFView {
	var best *model.Snapshot
	for i := range rows {
		if s := rows[i].Detail; s != nil && s.EBPF != nil && (best == nil || s.Time.After(best.Time)) {
			best = s
		}
	}
	if best == nil {
		return nil
	}
	return best.EBPF
}
