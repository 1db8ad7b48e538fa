package exporter

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tcptop/tcptop/model"
)

// Namespace prefixes every metric tcptop exports.
const Namespace = "tcptop"

// OtherLabel is the label value that collects the label sets cut from a
// capped metric (listeners beyond the cap, destinations and processes
// beyond the top N).
const OtherLabel = "other"

// kernelCounter maps a TcpExt or Tcp counter (a key of Snapshot.Counters)
// to its metric name.
type kernelCounter struct {
	key    string // as in /proc/net/netstat or /proc/net/snmp
	table  string // "TcpExt" or "Tcp"
	metric string
}

// kernelCounters are the counters tcptop's findings and kernel view name
// (model.KeyCounterNames, except the gauge CurrEstab, which
// tcptop_sockets already covers), as snake_case _total counters.
// TestEveryKeyCounterIsExported keeps the list in step with the model.
var kernelCounters = []kernelCounter{
	{"ListenOverflows", "TcpExt", "tcpext_listen_overflows_total"},
	{"ListenDrops", "TcpExt", "tcpext_listen_drops_total"},
	{"TCPTimeWaitOverflow", "TcpExt", "tcpext_time_wait_overflow_total"},
	{"TWRecycled", "TcpExt", "tcpext_tw_recycled_total"},
	{"TW", "TcpExt", "tcpext_tw_total"},
	{"TCPAbortOnData", "TcpExt", "tcpext_abort_on_data_total"},
	{"TCPAbortOnClose", "TcpExt", "tcpext_abort_on_close_total"},
	{"ActiveOpens", "Tcp", "tcp_active_opens_total"},
	{"PassiveOpens", "Tcp", "tcp_passive_opens_total"},
	{"AttemptFails", "Tcp", "tcp_attempt_fails_total"},
	{"EstabResets", "Tcp", "tcp_estab_resets_total"},
	{"RetransSegs", "Tcp", "tcp_retrans_segs_total"},
	{"TCPSynRetrans", "TcpExt", "tcpext_syn_retrans_total"},
	{"TCPAbortOnTimeout", "TcpExt", "tcpext_abort_on_timeout_total"},
	{"TCPAbortOnMemory", "TcpExt", "tcpext_abort_on_memory_total"},
	{"TCPAbortOnLinger", "TcpExt", "tcpext_abort_on_linger_total"},
	{"TCPReqQFullDrop", "TcpExt", "tcpext_req_q_full_drop_total"},
	{"TCPReqQFullDoCookies", "TcpExt", "tcpext_req_q_full_do_cookies_total"},
	{"SyncookiesSent", "TcpExt", "tcpext_syncookies_sent_total"},
	{"SyncookiesFailed", "TcpExt", "tcpext_syncookies_failed_total"},
	{"TCPBacklogDrop", "TcpExt", "tcpext_backlog_drop_total"},
	{"TCPTimeouts", "TcpExt", "tcpext_timeouts_total"},
	{"OutRsts", "Tcp", "tcp_out_rsts_total"},
	{"InErrs", "Tcp", "tcp_in_errs_total"},
	{"TCPMemoryPressures", "TcpExt", "tcpext_memory_pressures_total"},
}

// notExported are key counters deliberately left out.
var notExported = map[string]string{
	"CurrEstab": "a gauge of ESTABLISHED+CLOSE_WAIT: tcptop_sockets has both",
}

// descs are the metric descriptions. Every one carries the target labels
// first (none today; netns, container and pod once --all-netns exists),
// then its own.
type descs struct {
	sockets, queueLen, queueCap, synRecv             *prometheus.Desc
	portsUsable, portsUsed, portsByDest, destCount   *prometheus.Desc
	closeWait, finding, snapTime                     *prometheus.Desc
	counters                                         []*prometheus.Desc // parallel to kernelCounters
	buildInfo, pollDuration, polls, pollErrors, drop *prometheus.Desc
}

func newDescs(target []string) *descs {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(Namespace+"_"+name, help, append(append([]string{}, target...), labels...), nil)
	}
	ds := &descs{
		sockets:     d("sockets", "TCP sockets by state (ss -tan counts).", "state"),
		queueLen:    d("listen_queue_length", "Connections waiting for accept() on a listener; it is full when the length exceeds the capacity. Listeners sharing an address (SO_REUSEPORT) are summed.", "listener"),
		queueCap:    d("listen_queue_capacity", "A listener's accept-queue capacity: the listen() backlog, capped by net.core.somaxconn.", "listener"),
		synRecv:     d("listen_syn_recv", "Half-open connections (SYN_RECV) to a listener.", "listener"),
		portsUsable: d("ephemeral_ports_usable", "Local ports connect() can hand out: ip_local_port_range minus ip_local_reserved_ports."),
		portsUsed:   d("ephemeral_ports_used", "Distinct local ports in the usable ephemeral range held by any socket."),
		portsByDest: d("ephemeral_ports_used_by_destination", "Ephemeral ports held by outgoing sockets to one destination (remote ip:port) from one local IP, top N by ports; other sums the rest of the destinations tcptop ranks.", "local_ip", "destination"),
		destCount:   d("ephemeral_destinations", "Destinations (local IP, remote ip:port) holding ephemeral ports."),
		closeWait:   d("close_wait_sockets", "CLOSE_WAIT sockets by owning process name (unknown: no owner found), top N by count; other sums the rest.", "process"),
		finding:     d("finding", "1 while a tcptop finding holds: rule, severity (info, warning, critical) and what it is about.", "rule", "severity", "subject"),
		snapTime:    d("snapshot_timestamp_seconds", "When the poll behind the other tcptop_ values was taken (Unix time): it stops moving while polls fail."),
		buildInfo:   prometheus.NewDesc(Namespace+"_build_info", "tcptop's version and the Go version that built it; always 1.", []string{"version", "goversion"}, nil),
		// Self metrics describe the exporter itself: no target labels.
		pollDuration: prometheus.NewDesc(Namespace+"_poll_duration_seconds", "How long the last poll took: socket dump, attribution, /proc reads and analysis.", nil, nil),
		polls:        prometheus.NewDesc(Namespace+"_polls_total", "Polls completed (failed ones included).", nil, nil),
		pollErrors:   prometheus.NewDesc(Namespace+"_poll_errors_total", "Polls whose read of the kernel failed; the last good values are served meanwhile.", nil, nil),
		drop:         prometheus.NewDesc(Namespace+"_series_dropped_total", "Label values folded into the other bucket of the capped metrics (label: listener, destination or process), summed over the polls exported.", []string{"label"}, nil),
	}
	for _, kc := range kernelCounters {
		help := model.CounterMeaning(kc.key)
		if help == "" {
			help = kc.key
		}
		help += " (" + kc.table + " " + kc.key + ")."
		ds.counters = append(ds.counters, d(kc.metric, help))
	}
	return ds
}

// all lists every description, for Describe.
func (d *descs) all() []*prometheus.Desc {
	out := []*prometheus.Desc{d.sockets, d.queueLen, d.queueCap, d.synRecv, d.portsUsable, d.portsUsed,
		d.portsByDest, d.destCount, d.closeWait, d.finding, d.snapTime,
		d.buildInfo, d.pollDuration, d.polls, d.pollErrors, d.drop}
	return append(out, d.counters...)
}

// The capped labels, the values of tcptop_series_dropped_total's label.
const (
	droppedListener    = "listener"
	droppedDestination = "destination"
	droppedProcess     = "process"
)
