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

// descs are the metric descriptions. Every one about the machine carries
// the target labels first (none for one namespace; netns, pod and
// container with --all-netns), then its own.
type descs struct {
	sockets, queueLen, queueCap, synRecv, lisDrops   *prometheus.Desc
	portsUsable, portsUsed, portsByDest, destCount   *prometheus.Desc
	closeWait, finding, snapTime                     *prometheus.Desc
	counters                                         []*prometheus.Desc // parallel to kernelCounters
	buildInfo, pollDuration, polls, pollErrors, drop *prometheus.Desc

	// --all-netns: each namespace's identity, vital signs and detail age.
	namespaces, nsInfo, nsInUse, nsTimeWait, nsCurrEstab, nsDetailAge *prometheus.Desc

	// eBPF, when the programs are loaded (tcptop_ebpf_loaded says).
	ebpfLoaded, ebpfLost, ebpfResetsNoSocket                    *prometheus.Desc
	peerOpens, peerCloses, peerRetrans, peerRstSent, peerRstRcv *prometheus.Desc
	peerConnFail, procConnects, procConnFail                    *prometheus.Desc
	lisOverflows, lisSynAckRetrans                              *prometheus.Desc
}

// TargetLabels are the labels --all-netns puts first on every metric
// about a namespace: netns (its `ip netns` name, "host" for the initial
// namespace, else its id net:[INODE]), pod ("namespace/name" of a
// Kubernetes pod, "" when none) and container (the runtime's name, else
// its id shortened to 12, "" when none).
var TargetLabels = []string{"netns", "pod", "container"}

func newDescs(target []string) *descs {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(Namespace+"_"+name, help, append(append([]string{}, target...), labels...), nil)
	}
	// machine: a metric of the whole machine or of tcptop itself, without
	// the target labels.
	machine := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(Namespace+"_"+name, help, labels, nil)
	}
	ds := &descs{
		sockets:     d("sockets", "TCP sockets by state (ss -tan counts).", "state"),
		queueLen:    d("listen_queue_length", "Connections waiting for accept() on a listener; it is full when the length exceeds the capacity. Listeners sharing an address (SO_REUSEPORT) are summed.", "listener"),
		queueCap:    d("listen_queue_capacity", "A listener's accept-queue capacity: the listen() backlog, capped by net.core.somaxconn.", "listener"),
		synRecv:     d("listen_syn_recv", "Half-open connections (SYN_RECV) to a listener.", "listener"),
		lisDrops:    d("listen_drops_total", "SYNs and handshake ACKs the kernel dropped for a listener since its listen() (its own sk_drops: a full accept queue above all), its share of TcpExt ListenDrops; absent where the dump could not read it.", "listener"),
		portsUsable: d("ephemeral_ports_usable", "Local ports connect() can hand out: ip_local_port_range minus ip_local_reserved_ports."),
		portsUsed:   d("ephemeral_ports_used", "Distinct local ports in the usable ephemeral range held by any socket."),
		portsByDest: d("ephemeral_ports_used_by_destination", "Ephemeral ports held by outgoing sockets to one destination (remote ip:port) from one local IP, top N by ports; other sums the rest of the destinations tcptop ranks.", "local_ip", "destination"),
		destCount:   d("ephemeral_destinations", "Destinations (local IP, remote ip:port) holding ephemeral ports."),
		closeWait:   d("close_wait_sockets", "CLOSE_WAIT sockets by owning process name (unknown: no owner found), top N by count; other sums the rest.", "process"),
		finding:     d("finding", "1 while a tcptop finding holds: rule, severity (info, warning, critical) and what it is about.", "rule", "severity", "subject"),
		snapTime:    d("snapshot_timestamp_seconds", "When the poll behind the other tcptop_ values was taken (Unix time): it stops moving while polls fail. With --all-netns, when the namespace's last full dump ran."),
		buildInfo:   machine("build_info", "tcptop's version and the Go version that built it; always 1.", "version", "goversion"),
		// Self metrics describe the exporter itself: no target labels.
		pollDuration: machine("poll_duration_seconds", "How long the last poll took: socket dump, attribution, /proc reads and analysis (with --all-netns: discovery, every namespace's vital signs and the scheduled dumps)."),
		polls:        machine("polls_total", "Polls completed (failed ones included)."),
		pollErrors:   machine("poll_errors_total", "Polls whose read of the kernel failed; the last good values are served meanwhile."),
		drop:         machine("series_dropped_total", "Label values folded into the other bucket of the capped metrics (label: listener, destination, process, peer, or netns: namespaces beyond the cap), summed over the polls exported.", "label"),

		namespaces:  machine("namespaces", "Network namespaces found (--all-netns), those the filter hides included."),
		nsInfo:      d("netns_info", "1 for every namespace exported (--all-netns), with its id (net:[INODE]) and the container runtime that made it (docker, podman, containerd, cri-o, kubernetes; \"\" when none was recognised).", "id", "runtime"),
		nsInUse:     d("netns_sockets_in_use", "The namespace's TCP sockets other than TIME_WAIT and request sockets (sockstat and sockstat6 inuse), read every poll without a dump (--all-netns)."),
		nsTimeWait:  d("netns_time_wait_sockets", "The namespace's TIME_WAIT sockets and orphaned FIN_WAIT2 ones (sockstat tw: both are timewait minisockets), read every poll without a dump (--all-netns)."),
		nsCurrEstab: d("netns_curr_estab_sockets", "The namespace's ESTABLISHED and CLOSE_WAIT sockets (Tcp CurrEstab), read every poll without a dump (--all-netns)."),
		nsDetailAge: d("netns_detail_age_seconds", "How old the namespace's full dump was at the last poll (--all-netns): tcptop_sockets, the listeners, ports, findings and eBPF metrics of the namespace are that old. The dumps are scheduled under a CPU budget; none gets older than 10 s, namespaces with a finding are dumped first."),

		ebpfLoaded:         machine("ebpf_loaded", "1 when tcptop's eBPF programs are loaded and the tcptop_ebpf_ metrics are exported, 0 when not; reason says why not (\"\" when loaded).", "reason"),
		ebpfLost:           machine("ebpf_lost_events_total", "Events the eBPF programs could not count, machine-wide (cause: peers_map_full, procs_map_full, socket_storage); 0 means every connection was counted.", "cause"),
		ebpfResetsNoSocket: machine("ebpf_resets_without_socket_total", "RSTs the kernel sent for no socket (a SYN or segment to a closed port), machine-wide: they carry no namespace."),
		peerOpens:          d("ebpf_peer_opens_total", "Connections opened with a peer, counted by eBPF as they happen (short ones too). direction: out (this host connected; peer is ip:port) or in (accepted; peer is the remote IP, listener the local listener). Top N peers; other sums the rest.", "direction", "peer", "listener"),
		peerCloses:         d("ebpf_peer_closes_total", "Connections with a peer that closed, counted by eBPF (see tcptop_ebpf_peer_opens_total for the labels).", "direction", "peer", "listener"),
		peerRetrans:        d("ebpf_peer_retransmits_total", "Segments retransmitted to a peer, tail-loss probes and SYN retransmits included, counted by eBPF.", "direction", "peer", "listener"),
		peerRstSent:        d("ebpf_peer_resets_sent_total", "RSTs this host sent to a peer, counted by eBPF.", "direction", "peer", "listener"),
		peerRstRcv:         d("ebpf_peer_resets_received_total", "RSTs a peer sent to this host, counted by eBPF.", "direction", "peer", "listener"),
		peerConnFail:       d("ebpf_peer_connect_failures_total", "connect()s to a peer that failed, counted by eBPF (direction out). reason: refused (a RST answered the SYN), timed_out (no answer, or the application gave up while connecting), unreachable (ICMP, no route), no_port (no free local port: EADDRNOTAVAIL).", "direction", "peer", "listener", "reason"),
		procConnects:       d("ebpf_process_connects_total", "connect()s by process name (the process that called connect(), even one that has exited), counted by eBPF; top N; other sums the rest.", "process"),
		procConnFail:       d("ebpf_process_connect_failures_total", "connect()s by process name that failed, counted by eBPF.", "process"),
		lisOverflows:       d("ebpf_listen_overflows_total", "SYNs and handshake ACKs a listener dropped because its accept queue was full, counted by eBPF.", "listener"),
		lisSynAckRetrans:   d("ebpf_listen_synack_retransmits_total", "SYN-ACKs a listener retransmitted (the client's handshake ACK did not come), counted by eBPF.", "listener"),
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
	out := []*prometheus.Desc{d.sockets, d.queueLen, d.queueCap, d.synRecv, d.lisDrops, d.portsUsable, d.portsUsed,
		d.portsByDest, d.destCount, d.closeWait, d.finding, d.snapTime,
		d.buildInfo, d.pollDuration, d.polls, d.pollErrors, d.drop,
		d.namespaces, d.nsInfo, d.nsInUse, d.nsTimeWait, d.nsCurrEstab, d.nsDetailAge,
		d.ebpfLoaded, d.ebpfLost, d.ebpfResetsNoSocket,
		d.peerOpens, d.peerCloses, d.peerRetrans, d.peerRstSent, d.peerRstRcv, d.peerConnFail,
		d.procConnects, d.procConnFail, d.lisOverflows, d.lisSynAckRetrans}
	return append(out, d.counters...)
}

// The capped labels, the values of tcptop_series_dropped_total's label.
const (
	droppedListener    = "listener"
	droppedDestination = "destination"
	droppedProcess     = "process"
	droppedPeer        = "peer"
	droppedNetns       = "netns"
)
