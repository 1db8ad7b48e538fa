// Package exporter serves tcptop's snapshots to Prometheus: `tcptop
// --listen ADDR` runs headless, polls at --interval through one
// pipeline.Poller (or, with --all-netns, one pipeline.AllPoller), and
// answers /metrics from the latest poll.
//
// Scrapes never trigger a dump. Collect reads Poller.Latest (or
// AllPoller.Latest: every namespace's vital signs of the last poll and its
// last full dump, which the AllPoller's scheduler refreshes in turn) and
// turns each poll into constant metrics once; every later scrape of the
// same poll re-sends those. Any number of scrapers therefore cost a copy
// of the text, not a poll (promhttp's CoalesceGather merges concurrent
// gathers on top).
//
// Label sets are bounded: listeners beyond MaxListeners, destinations,
// processes and eBPF peers beyond Top are summed into an "other" series
// and counted in tcptop_series_dropped_total; with --all-netns,
// namespaces beyond MaxNamespaces likewise. Findings are bounded by the
// model (at most 5 per rule).
//
// Every tcptop_ metric about the machine carries the target labels first:
// none for one network namespace (the one tcptop reads); netns, pod and
// container (TargetLabels) with --all-netns.
package exporter

import (
	"cmp"
	"context"
	"log/slog"
	"maps"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/pipeline"
	"github.com/tcptop/tcptop/source"
)

// Defaults of the caps on label values.
const (
	// DefaultTop: destinations, processes and eBPF peers exported by
	// name; the rest are summed into "other".
	DefaultTop = 10
	// DefaultMaxListeners: listeners exported by address. A host with
	// more is rare (a listener per client port is a bug worth seeing in
	// tcptop_series_dropped_total).
	DefaultMaxListeners = 100
	// DefaultNetnsMaxListeners is the listener cap per namespace with
	// --all-netns: a pod or container serves a few ports, and the cap
	// multiplies by the namespaces (3 series per listener).
	DefaultNetnsMaxListeners = 20
	// DefaultMaxNamespaces: namespaces exported with --all-netns; the
	// rest are summed into netns="other". Kubernetes' default is 110 pods
	// a node (one namespace each), plus the host and a few runtime or
	// `ip netns` namespaces: 128 covers a default node whole. A typical
	// namespace is about 60 series (11 states, 25 kernel counters, vital
	// signs, a few listeners and ports), so 128 are about 8k series a
	// host; the caps bound the worst case near 330 a namespace. Which
	// namespaces are kept: the host, then the worst finding, then the
	// most sockets.
	DefaultMaxNamespaces = 128
)

// Config is what an Exporter is made of.
type Config struct {
	// Poller polls one namespace; the Exporter reads its Latest and
	// Stats. Exactly one of Poller and All is set.
	Poller *pipeline.Poller
	// All polls every namespace (--all-netns); the Exporter reads its
	// Latest overview and never calls Poll outside Run.
	All *pipeline.AllPoller
	// Top caps tcptop_ephemeral_ports_used_by_destination,
	// tcptop_close_wait_sockets and the eBPF peers and processes, per
	// namespace (0: DefaultTop).
	Top int
	// MaxListeners caps the tcptop_listen_* metrics per namespace (0:
	// DefaultMaxListeners, DefaultNetnsMaxListeners with All).
	MaxListeners int
	// MaxNamespaces caps the namespaces exported with All (0:
	// DefaultMaxNamespaces).
	MaxNamespaces int
	// Version is tcptop's, for tcptop_build_info.
	Version string
	// Logger gets a line when polls start failing and when they recover
	// (nil: no logging).
	Logger *slog.Logger
}

// Exporter is a prometheus.Collector over a Poller's snapshots (or an
// AllPoller's overviews), and the poll loop that feeds them (Run). Safe
// for concurrent use.
type Exporter struct {
	cfg Config
	d   *descs

	// mu guards the conversion cache and the dropped counts: a poll is
	// converted once, by whoever sees it first.
	mu      sync.Mutex
	seen    *model.Snapshot
	seenOv  *model.Overview
	metrics []prometheus.Metric
	dropped map[string]float64
	// details are the metrics of each namespace's last full dump (All),
	// by namespace key: a dump is converted once however many polls
	// reuse it.
	details map[string]*nsDetail

	// The poll loop's counts with All (a Poller keeps its own Stats).
	polls, errors atomic.Uint64
	lastTook      atomic.Int64
}

// New returns an Exporter over cfg.Poller or cfg.All.
func New(cfg Config) *Exporter {
	if cfg.Top <= 0 {
		cfg.Top = DefaultTop
	}
	if cfg.MaxListeners <= 0 {
		cfg.MaxListeners = DefaultMaxListeners
		if cfg.All != nil {
			cfg.MaxListeners = DefaultNetnsMaxListeners
		}
	}
	if cfg.MaxNamespaces <= 0 {
		cfg.MaxNamespaces = DefaultMaxNamespaces
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Exporter{cfg: cfg, d: newDescs(nil),
		dropped: map[string]float64{droppedListener: 0, droppedDestination: 0, droppedProcess: 0, droppedPeer: 0}}
	if cfg.All != nil {
		e.d = newDescs(TargetLabels)
		e.dropped[droppedNetns] = 0
		e.details = map[string]*nsDetail{}
	}
	return e
}

// Describe sends every metric's description.
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range e.d.all() {
		ch <- d
	}
}

// Collect sends the latest poll's metrics (none before the first good
// poll) and the exporter's own. It never polls.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	d := e.d
	ch <- prometheus.MustNewConstMetric(d.buildInfo, prometheus.GaugeValue, 1, e.cfg.Version, runtime.Version())
	st := e.stats()
	ch <- prometheus.MustNewConstMetric(d.polls, prometheus.CounterValue, float64(st.Polls))
	ch <- prometheus.MustNewConstMetric(d.pollErrors, prometheus.CounterValue, float64(st.Errors))
	if st.Polls > 0 {
		ch <- prometheus.MustNewConstMetric(d.pollDuration, prometheus.GaugeValue, st.LastTook.Seconds())
	}
	var ms []prometheus.Metric
	var dropped map[string]float64
	if e.cfg.All != nil {
		ms, dropped = e.convertAll(e.cfg.All.Latest())
	} else {
		ms, dropped = e.convert(e.cfg.Poller.Latest())
	}
	for _, m := range ms {
		ch <- m
	}
	for _, label := range slices.Sorted(maps.Keys(dropped)) {
		ch <- prometheus.MustNewConstMetric(d.drop, prometheus.CounterValue, dropped[label], label)
	}
}

// stats are the poll loop's counts: the Poller's, or Run's own with All.
func (e *Exporter) stats() pipeline.Stats {
	if e.cfg.All == nil {
		return e.cfg.Poller.Stats()
	}
	return pipeline.Stats{Polls: e.polls.Load(), Errors: e.errors.Load(), LastTook: time.Duration(e.lastTook.Load())}
}

// options are the poller's current filter and sort.
func (e *Exporter) options() model.Options {
	if e.cfg.All != nil {
		return e.cfg.All.Options()
	}
	return e.cfg.Poller.Options()
}

// Observe converts snap now rather than at the next scrape, so that every
// poll's cut label values are counted even if no scrape saw it. Run calls
// it after each poll.
func (e *Exporter) Observe(snap *model.Snapshot) { e.convert(snap) }

// convert returns snap's metrics, building them the first time snap is
// seen, with a copy of the dropped counts.
func (e *Exporter) convert(snap *model.Snapshot) ([]prometheus.Metric, map[string]float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if snap != nil && snap != e.seen {
		b := builder{e: e}
		b.add(snap, nil)
		b.counters(nil, snap.Counters)
		b.ebpfMachine(snap.EBPF)
		e.seen, e.metrics = snap, b.metrics
		e.addDropped(b.dropped)
	}
	return e.metrics, maps.Clone(e.dropped)
}

func (e *Exporter) addDropped(m map[string]int) {
	for k, v := range m {
		e.dropped[k] += float64(v)
	}
}

// builder turns snapshots into constant metrics.
type builder struct {
	e       *Exporter
	metrics []prometheus.Metric
	dropped map[string]int
}

// emit adds one metric: the target label values first, then its own.
// Label values from the system are made valid UTF-8 (a process name or a
// container's may not be, and a Prometheus label value must).
func (b *builder) emit(desc *prometheus.Desc, vt prometheus.ValueType, v float64, target []string, labels ...string) {
	lv := make([]string, 0, len(target)+len(labels))
	lv = append(append(lv, target...), labels...)
	for i, l := range lv {
		if !utf8.ValidString(l) {
			lv[i] = strings.ToValidUTF8(l, "\uFFFD")
		}
	}
	b.metrics = append(b.metrics, prometheus.MustNewConstMetric(desc, vt, v, lv...))
}

func (b *builder) drop(label string, n int) {
	if b.dropped == nil {
		b.dropped = map[string]int{}
	}
	b.dropped[label] += n
}

// add converts one namespace's snapshot, t its target label values: its
// states, listeners, ports, CLOSE_WAIT owners, findings and eBPF counts.
// The kernel counters are the caller's (counters): with --all-netns they
// come from the fresher vital signs.
func (b *builder) add(s *model.Snapshot, t []string) {
	e, d := b.e, b.e.d
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		b.emit(desc, prometheus.GaugeValue, v, t, labels...)
	}

	gauge(d.snapTime, float64(s.Time.UnixNano())/1e9)
	for _, st := range source.AllStates {
		gauge(d.sockets, float64(s.States.Get(st)), st.String())
	}

	ls, cut := listeners(s.Listeners, e.cfg.MaxListeners)
	b.drop(droppedListener, cut)
	for _, l := range ls {
		gauge(d.queueLen, float64(l.queue), l.name)
		gauge(d.queueCap, float64(l.backlog), l.name)
		gauge(d.synRecv, float64(l.synRecv), l.name)
		if l.dropsKnown {
			b.emit(d.lisDrops, prometheus.CounterValue, float64(l.drops), t, l.name)
		}
	}

	if eph := s.Ephemeral; eph.Usable > 0 || eph.High > 0 {
		gauge(d.portsUsable, float64(eph.Usable))
		gauge(d.portsUsed, float64(eph.InUse))
		gauge(d.destCount, float64(eph.DestinationCount))
		dests := eph.Destinations
		other, hasOther := 0, len(dests) > e.cfg.Top
		if hasOther {
			for _, x := range dests[e.cfg.Top:] {
				other += x.InUse
			}
			dests = dests[:e.cfg.Top]
		}
		for _, x := range dests {
			gauge(d.portsByDest, float64(x.InUse), x.LocalIP, x.Remote)
		}
		if hasOther || eph.DestinationCount > len(eph.Destinations) {
			gauge(d.portsByDest, float64(other), OtherLabel, OtherLabel)
		}
		b.drop(droppedDestination, max(0, eph.DestinationCount-len(dests)))
	}

	procs, cut := closeWaitByName(s, e.options().Filter, e.cfg.Top)
	b.drop(droppedProcess, cut)
	for _, p := range procs {
		gauge(d.closeWait, float64(p.n), p.name)
	}

	type fkey struct{ rule, sev, subj string }
	seen := map[fkey]bool{}
	for i := range s.Findings {
		f := &s.Findings[i]
		k := fkey{f.Rule, f.Severity.String(), f.Subject.Render("->")}
		if !seen[k] { // two findings alike would make a duplicate series
			seen[k] = true
			gauge(d.finding, 1, k.rule, k.sev, k.subj)
		}
	}

	b.ebpf(s.EBPF, t)
}

// counters adds the kernel counters tcptop names, from a Tcp/TcpExt map.
func (b *builder) counters(t []string, cs map[string]int64) {
	for i, kc := range kernelCounters {
		if v, ok := cs[kc.key]; ok && v >= 0 {
			b.emit(b.e.d.counters[i], prometheus.CounterValue, float64(v), t)
		}
	}
}

// listenerSeries is one listener address's series.
type listenerSeries struct {
	name                    string
	queue, backlog, synRecv int
	// drops sums the listeners' own drop counters (dropsKnown: at least
	// one of them was read).
	drops      uint64
	dropsKnown bool
}

// listeners sums listeners by address (SO_REUSEPORT groups share one),
// keeps the max with the fullest queues first (then the most SYN_RECV,
// then by address) and sums the rest into "other". It returns the series
// and how many addresses were cut.
func listeners(ls []model.Listener, maxN int) ([]listenerSeries, int) {
	byAddr := map[netip.AddrPort]*listenerSeries{}
	var order []netip.AddrPort
	for i := range ls {
		l := &ls[i]
		x := byAddr[l.Addr]
		if x == nil {
			x = &listenerSeries{name: l.Local}
			byAddr[l.Addr] = x
			order = append(order, l.Addr)
		}
		x.queue += int(l.Queue)
		x.backlog += int(l.Backlog)
		x.synRecv += l.SynRecv
		if l.Drops != nil {
			x.drops += *l.Drops
			x.dropsKnown = true
		}
	}
	out := make([]listenerSeries, 0, len(order))
	for _, a := range order {
		out = append(out, *byAddr[a])
	}
	if len(out) <= maxN {
		return out, 0
	}
	slices.SortFunc(out, func(a, b listenerSeries) int {
		if c := cmp.Compare(b.queue, a.queue); c != 0 {
			return c
		}
		if c := cmp.Compare(b.synRecv, a.synRecv); c != 0 {
			return c
		}
		return cmp.Compare(a.name, b.name)
	})
	other := listenerSeries{name: OtherLabel}
	for _, x := range out[maxN:] {
		other.queue += x.queue
		other.backlog += x.backlog
		other.synRecv += x.synRecv
		other.drops += x.drops
		other.dropsKnown = other.dropsKnown || x.dropsKnown
	}
	cut := len(out) - maxN
	return append(out[:maxN], other), cut
}

// procCount is one process name's CLOSE_WAIT sockets.
type procCount struct {
	name string
	n    int
}

// closeWaitByName counts CLOSE_WAIT sockets by owner name, a socket once
// per distinct name however many processes share it (a forked pool), in
// the sockets the filter selects (as the process list does). It keeps the
// top names by count (then by name) and sums the rest into "other"; a
// process that is really named "other" lands in that bucket too. It
// returns the series and how many names were cut.
func closeWaitByName(s *model.Snapshot, f model.Filter, top int) ([]procCount, int) {
	if s.Sample == nil || s.States.Get(source.CloseWait) == 0 {
		return nil, 0
	}
	smp := s.Sample
	counts := map[string]int{}
	var names []string
	// Only ESTABLISHED sockets are ever carried (Sample.Carried): the
	// CLOSE_WAIT ones are all in Sockets.
	for i := range smp.Sockets {
		sk := &smp.Sockets[i]
		if sk.State != source.CloseWait || (!f.Empty() && !f.Match(sk, smp.Procs)) {
			continue
		}
		names = names[:0]
		for _, pid := range sk.Owners {
			if !smp.Attributed {
				break
			}
			name := "?"
			if p := smp.Procs[pid]; p != nil {
				name = p.Name
			}
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
		if len(names) == 0 {
			names = append(names, model.UnknownName)
		}
		for _, n := range names {
			counts[n]++
		}
	}
	other, hasOther := counts[OtherLabel], false
	if _, ok := counts[OtherLabel]; ok {
		hasOther = true
		delete(counts, OtherLabel)
	}
	out := make([]procCount, 0, len(counts))
	for name, n := range counts {
		out = append(out, procCount{name, n})
	}
	slices.SortFunc(out, func(a, b procCount) int {
		if c := cmp.Compare(b.n, a.n); c != 0 {
			return c
		}
		return cmp.Compare(a.name, b.name)
	})
	cut := 0
	if len(out) > top {
		for _, p := range out[top:] {
			other += p.n
		}
		cut = len(out) - top
		out, hasOther = out[:top], true
	}
	if hasOther {
		out = append(out, procCount{OtherLabel, other})
	}
	return out, cut
}

// Run polls every interval until ctx ends, handing each poll to the
// conversion (so that every poll's cut label values are counted even if no
// scrape saw it). A failed poll does not stop it: the error is counted
// (tcptop_poll_errors_total), logged when polls start failing and when
// they recover, and the next poll comes an interval later; scrapes
// meanwhile get the last good values. Run returns nil when ctx ends.
func (e *Exporter) Run(ctx context.Context, interval time.Duration) error {
	if e.cfg.All != nil {
		return e.runAll(ctx, interval)
	}
	failing := false
	for {
		err := e.cfg.Poller.Stream(ctx, interval, 0, func(s *model.Snapshot) error {
			if failing {
				failing = false
				e.cfg.Logger.Info("polls succeed again")
			}
			e.Observe(s)
			return nil
		})
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !failing {
			failing = true
			e.cfg.Logger.Error("poll failed; serving the last good values", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}
