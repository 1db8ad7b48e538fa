package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/tcptop/tcptop/exporter"
	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/record"
)

// flagSpec is one command-line flag: the ONE place that says its name, its
// value, its help and the values it takes. --help, the man page and the
// shell completions (--generate) are all made from flagTable, and a test
// fails when a flag registered with the FlagSet is missing from it. Adding
// a flag is adding its entry here (with bind, or registering it in
// parseFlags and leaving bind nil).
type flagSpec struct {
	// Name is the long name without dashes ("interval").
	Name string
	// Short is a one-letter alias ("A" for -A), "" for none.
	Short string
	// Arg is the value's placeholder in the help ("DUR"); "" for a
	// boolean flag.
	Arg string
	// Help is the help text: lines of at most 52 columns, joined by "\n"
	// (--help indents the next lines under the first).
	Help string
	// Values are the values the flag takes, for completions (nil: any).
	Values func() []string
	// Complete names the completion of a free value: "file", "dir",
	// "netns" (the names `ip netns list` prints at completion time), or
	// "" for none.
	Complete string
	// bind registers the flag with fs, storing into c; nil when parseFlags
	// registers it itself.
	bind func(fs *flag.FlagSet, c *config)
}

// flagTable is every flag, in the order of --help.
var flagTable = []flagSpec{
	{Name: "once", Help: "print one snapshot and exit",
		bind: func(fs *flag.FlagSet, c *config) { fs.BoolVar(&c.once, "once", false, "") }},
	{Name: "json", Help: "print JSON: one document with --once, else one per\ninterval (NDJSON) until --count or interrupted",
		bind: func(fs *flag.FlagSet, c *config) { fs.BoolVar(&c.json, "json", false, "") }},
	{Name: "interval", Arg: "DUR", Help: `time between snapshots (default 1s; "500ms", "2s", or "2")`,
		Values: func() []string { return []string{"500ms", "1s", "2s", "5s"} },
		bind: func(fs *flag.FlagSet, c *config) {
			fs.Func("interval", "", func(s string) error {
				d, err := parseInterval(s)
				c.interval = d
				return err
			})
		}},
	{Name: "count", Arg: "N", Help: "stop after N snapshots (0: until interrupted)",
		bind: func(fs *flag.FlagSet, c *config) { fs.IntVar(&c.count, "count", 0, "") }},
	{Name: "filter", Arg: "EXPR", Help: "peers and processes matching EXPR, e.g.\n\"port:443 proc:php state:CLOSE_WAIT 10.0.0.0/8\"\nterms: port: sport: dport: proc: pid: addr: state:\n(AND; commas within a term mean OR)",
		Values: model.FilterTerms,
		bind:   func(fs *flag.FlagSet, c *config) { fs.StringVar(&c.filter, "filter", "", "") }},
	{Name: "sort", Arg: "KEY", Help: "order peers and processes by a state (TIME_WAIT,\nCLOSE_WAIT, ...) or total (default total)",
		Values: sortKeyNames,
		bind:   func(fs *flag.FlagSet, c *config) { fs.StringVar(&c.sort, "sort", "total", "") }},
	{Name: "top", Arg: "N", Help: "rows per list in text output (default 10)",
		bind: func(fs *flag.FlagSet, c *config) { fs.IntVar(&c.top, "top", 10, "") }},
	{Name: "no-procs", Help: "skip process attribution (cheaper)",
		bind: func(fs *flag.FlagSet, c *config) { fs.BoolVar(&c.noProcs, "no-procs", false, "") }},
	{Name: "netns", Arg: "NAME", Help: "read another network namespace (ip netns name or path)", Complete: "netns",
		bind: func(fs *flag.FlagSet, c *config) { fs.StringVar(&c.netns, "netns", "", "") }},
	{Name: "proc-root", Arg: "DIR", Help: "where procfs is mounted (default /proc)", Complete: "dir",
		bind: func(fs *flag.FlagSet, c *config) { fs.StringVar(&c.procRoot, "proc-root", "/proc", "") }},
	{Name: "theme", Arg: "NAME", Help: "monitor colours: auto (from the terminal background),\ndark, light or mono (default auto; NO_COLOR means mono)",
		Values: func() []string { return []string{"auto", "dark", "light", "mono"} },
		bind:   func(fs *flag.FlagSet, c *config) { fs.StringVar(&c.theme, "theme", "auto", "") }},
	{Name: "ascii", Help: "draw bars and arrows with ASCII only (the default when\nthe locale is not UTF-8)",
		bind: func(fs *flag.FlagSet, c *config) { fs.BoolVar(&c.ascii, "ascii", false, "") }},
	{Name: "check", Help: "watch for a few seconds (every --interval, at least 3\npolls and close-wait-age), print the last snapshot's\nfindings and exit 1 if any is a warning or worse (for\nscripts and cron); with --json, print it as JSON",
		bind: func(fs *flag.FlagSet, c *config) { fs.BoolVar(&c.check, "check", false, "") }},
	{Name: "threshold", Arg: "N=V", Help: "tune a findings threshold, e.g. \"close-wait=50\" or\n\"ports-warn=0.5,syn-sent=20\" (repeatable; names below)",
		Values: thresholdAssignments,
		bind: func(fs *flag.FlagSet, c *config) {
			fs.Func("threshold", "", func(s string) error {
				c.thresholdsSet = true
				return c.thresholds.Set(s)
			})
		}},
	{Name: "ebpf", Arg: "MODE", Help: "in-kernel counting of every connection (short-lived ones,\nthe process that connected, retransmits, resets, drops):\nauto (default: where BTF and CAP_BPF+CAP_PERFMON or\nCAP_SYS_ADMIN allow, and not for a single poll;\nelse says why), on (fail if it cannot load) or off",
		Values: func() []string { return []string{ebpfAuto, "on", "off"} },
		bind:   func(fs *flag.FlagSet, c *config) { fs.StringVar(&c.ebpf, "ebpf", ebpfAuto, "") }},
	{Name: "btf", Arg: "PATH", Help: "the kernel's BTF for --ebpf (default\n/sys/kernel/btf/vmlinux)", Complete: "file",
		bind: func(fs *flag.FlagSet, c *config) { fs.StringVar(&c.btf, "btf", "", "") }},
	{Name: "all-netns", Short: "A", Help: "every network namespace (containers, pods) at once: an\noverview with one row per namespace (Enter opens one);\nwith --json one document per poll with a \"namespaces\"\narray; works with --once, --check and --listen (metrics\nlabelled netns, pod and container)",
		bind: func(fs *flag.FlagSet, c *config) {
			fs.BoolVar(&c.allNetns, "all-netns", false, "")
			fs.BoolVar(&c.allNetns, "A", false, "")
		}},
	{Name: "docker-root", Arg: "DIR", Help: "where --all-netns reads Docker container names\n(default /var/lib/docker)", Complete: "dir",
		bind: func(fs *flag.FlagSet, c *config) { fs.StringVar(&c.labels.Docker, "docker-root", "", "") }},
	{Name: "runtime-root", Arg: "DIR[,DIR]", Help: "where --all-netns reads containerd's and CRI-O's\nbundles (OCI config.json: pod names); default their\ndirectories under /run and /var/lib/containers", Complete: "dir",
		bind: func(fs *flag.FlagSet, c *config) {
			fs.Func("runtime-root", "", func(s string) error {
				for _, d := range strings.Split(s, ",") {
					if d != "" {
						c.labels.Runtime = append(c.labels.Runtime, d)
					}
				}
				return nil
			})
		}},
	{Name: "containerd-root", Arg: "DIR", Help: "one more --runtime-root (repeatable)", Complete: "dir",
		bind: func(fs *flag.FlagSet, c *config) {
			fs.Func("containerd-root", "", func(s string) error {
				c.labels.Runtime = append(c.labels.Runtime, s)
				return nil
			})
		}},
	{Name: "pods-log-root", Arg: "DIR", Help: "where --all-netns reads kubelet's pod directories\n(default /var/log/pods)", Complete: "dir",
		bind: func(fs *flag.FlagSet, c *config) { fs.StringVar(&c.labels.PodsLog, "pods-log-root", "", "") }},
	{Name: "listen", Arg: "ADDR", Help: fmt.Sprintf("run headless as a Prometheus exporter: poll every\n--interval and serve /metrics on ADDR: HOST:PORT, or\n:PORT or PORT for loopback, or HOST for port %d\n(e.g. --listen :%d); --top caps the per-destination\nand per-process series", exporter.DefaultPort, exporter.DefaultPort),
		bind: func(fs *flag.FlagSet, c *config) {
			fs.Func("listen", "", func(s string) error {
				c.listen, c.listenSet = s, true
				return nil
			})
		}},
	{Name: "web-config", Arg: "FILE", Help: "TLS and basic auth for --listen: an exporter-toolkit\nweb config file, as node_exporter's --web.config.file", Complete: "file",
		bind: func(fs *flag.FlagSet, c *config) { fs.StringVar(&c.webConfig, "web-config", "", "") }},
	{Name: "sockets", Help: "add every socket passing --filter: a \"sockets\" array in\nJSON, a section in text",
		bind: func(fs *flag.FlagSet, c *config) { fs.BoolVar(&c.act.sockets, "sockets", false, "") }},
	{Name: "info", Help: "with the socket list, each socket's tcp_info (rtt, cwnd,\nretransmits...; asks the kernel for it in the dump)",
		bind: func(fs *flag.FlagSet, c *config) { fs.BoolVar(&c.act.info, "info", false, "") }},
	{Name: "kill", Arg: "EXPR", Help: "list the sockets matching the filter expression EXPR\n(listeners only when it names state:LISTEN); with --yes\ndestroy them (SOCK_DESTROY, exact by cookie) and report\neach: destroyed, already gone, not supported, permission\ndenied. Exit 0 when all are gone, 1 when some are not",
		Values: model.FilterTerms,
		bind: func(fs *flag.FlagSet, c *config) {
			fs.Func("kill", "", func(s string) error { c.act.kill, c.act.killSet = s, true; return nil })
		}},
	{Name: "yes", Help: "with --kill: do destroy (without it nothing changes)",
		bind: func(fs *flag.FlagSet, c *config) { fs.BoolVar(&c.act.yes, "yes", false, "") }},
	{Name: "dry-run", Help: "with --kill: only list (the default without --yes)",
		bind: func(fs *flag.FlagSet, c *config) { fs.BoolVar(&c.act.dryRun, "dry-run", false, "") }},
	{Name: "read-only", Help: "the monitor takes no action (no kill, no signal)",
		bind: func(fs *flag.FlagSet, c *config) { fs.BoolVar(&c.act.readOnly, "read-only", false, "") }},
	{Name: "record", Arg: "FILE", Help: "also write every poll to FILE (mode 0600: it holds\naddresses and command lines), with any mode but --check\n(docs/RECORDING.md)", Complete: "file",
		bind: func(fs *flag.FlagSet, c *config) { fs.StringVar(&c.rec.record, "record", "", "") }},
	{Name: "record-max-size", Arg: "SIZE", Help: "rotate the --record FILE to FILE.1 past SIZE (\"100M\",\n\"2G\"); so at most about twice SIZE is kept",
		bind: func(fs *flag.FlagSet, c *config) {
			fs.Func("record-max-size", "", func(s string) error {
				n, err := parseSize(s)
				c.rec.maxSize = n
				return err
			})
		}},
	{Name: "record-max-age", Arg: "DUR", Help: "rotate the --record FILE to FILE.1 when its first poll\nis DUR old",
		bind: func(fs *flag.FlagSet, c *config) { fs.DurationVar(&c.rec.maxAge, "record-max-age", 0, "") }},
	{Name: "record-chunk", Arg: "DUR", Help: "write a compressed chunk every DUR (default 10s): what\na kill -9 or a full disk can lose at most",
		bind: func(fs *flag.FlagSet, c *config) {
			fs.DurationVar(&c.rec.chunk, "record-chunk", record.DefaultChunkEvery, "")
		}},
	{Name: "redact", Help: "with --record: addresses, command lines and the host\nname as stable keyed hashes (for sharing a recording)",
		bind: func(fs *flag.FlagSet, c *config) { fs.BoolVar(&c.rec.redact, "redact", false, "") }},
	{Name: "replay", Arg: "FILE", Help: "replay a recording instead of reading the kernel: the\nmonitor with a timeline, or with --once, --json, --check\nand text as those modes do, as fast as it reads\n(--check exits 1 if any poll has a warning)", Complete: "file",
		bind: func(fs *flag.FlagSet, c *config) { fs.StringVar(&c.rec.replay, "replay", "", "") }},
	{Name: "at", Arg: "TIME", Help: "with --replay --once: the poll at TIME (\"15:04:05\",\nRFC 3339, or \"+5m\" from the start; default the last)",
		bind: func(fs *flag.FlagSet, c *config) { fs.StringVar(&c.rec.at, "at", "", "") }},
	{Name: "flight-window", Arg: "DUR", Help: "the flight recorder: the last DUR of polls kept in\nmemory (default 15m, at most 64 MiB; 0 turns it off);\nthe monitor's w key, or SIGUSR1, writes it to a file",
		bind: func(fs *flag.FlagSet, c *config) {
			fs.DurationVar(&c.rec.flightWindow, "flight-window", record.DefaultFlightWindow, "")
		}},
	{Name: "flight-dir", Arg: "DIR", Help: "where the flight recorder writes (default: the working\ndirectory, else the temporary directory)", Complete: "dir",
		bind: func(fs *flag.FlagSet, c *config) { fs.StringVar(&c.rec.flightDir, "flight-dir", "", "") }},
	{Name: "generate", Arg: "WHAT", Help: "print a shell completion (bash, zsh, fish) or the\nman page (man) and exit",
		Values: func() []string { return []string{"bash", "zsh", "fish", "man"} },
		bind:   func(fs *flag.FlagSet, c *config) { fs.StringVar(&c.generate, "generate", "", "") }},
	{Name: "full-every", Arg: "DUR", Help: "the monitor and streams dump every state but\nESTABLISHED each poll (ESTABLISHED counted by the\nkernel, exact) and all sockets every DUR (default\n10s; 0: every poll); a filter or a drill-down dumps\nall every poll; what is older is marked with its age",
		Values: func() []string { return []string{"0", "5s", "10s", "30s"} },
		bind:   func(fs *flag.FlagSet, c *config) { durationOrZero(fs, "full-every", "10s", &c.fullEvery) }},
	{Name: "full-quiet", Arg: "DUR", Help: "while the kernel's counters show that no socket\nbecame ESTABLISHED or left it since the last full\ndump (none opened, the count the same), the full dump\nwaits up to DUR (default 60s; 0: --full-every)",
		Values: func() []string { return []string{"0", "30s", "60s", "5m"} },
		bind:   func(fs *flag.FlagSet, c *config) { durationOrZero(fs, "full-quiet", "60s", &c.fullQuiet) }},
	{Name: "version", Help: "print the version and the commit",
		bind: func(fs *flag.FlagSet, c *config) { fs.BoolVar(&c.version, "version", false, "") }},
	{Name: "help", Help: "this help"},
}

// durationOrZero binds a duration flag that takes 0 and refuses a
// negative one, naming an example in its error.
func durationOrZero(fs *flag.FlagSet, name, example string, dst *time.Duration) {
	fs.Func(name, "", func(s string) error {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return fmt.Errorf("--%s %q: want a duration such as %s, or 0", name, s, example)
		}
		*dst = d
		return nil
	})
}

// sortKeyNames are the --sort values: total and the state columns.
func sortKeyNames() []string {
	out := []string{"total"}
	for _, k := range model.SortColumns() {
		if k.State != 0 {
			out = append(out, k.String())
		}
	}
	return out
}

// thresholdNames are the names --threshold takes.
func thresholdNames() []string {
	var out []string
	for _, l := range model.ThresholdNames() {
		name, _, _ := strings.Cut(l, "=")
		out = append(out, name)
	}
	return out
}

// thresholdAssignments are the --threshold completions: "close-wait=".
func thresholdAssignments() []string {
	names := thresholdNames()
	for i := range names {
		names[i] += "="
	}
	return names
}

// flagHelp is the Flags: part of --help, from flagTable: the flag and its
// placeholder in 18 columns, the help after them, its next lines under it.
func flagHelp() string {
	var b strings.Builder
	for _, f := range flagTable {
		head := "--" + f.Name
		if f.Short != "" {
			head = "-" + f.Short + ", " + head
		}
		if f.Arg != "" {
			head += " " + f.Arg
		}
		lines := strings.Split(f.Help, "\n")
		if len(head) > 16 {
			fmt.Fprintf(&b, "  %s\n", head)
		} else {
			fmt.Fprintf(&b, "  %-16s  %s\n", head, lines[0])
			lines = lines[1:]
		}
		for _, l := range lines {
			fmt.Fprintf(&b, "%20s%s\n", "", l)
		}
	}
	return b.String()
}

// lookupFlag is flagTable's entry for a flag name, nil when none.
func lookupFlag(name string) *flagSpec {
	for i := range flagTable {
		if flagTable[i].Name == name || (flagTable[i].Short != "" && flagTable[i].Short == name) {
			return &flagTable[i]
		}
	}
	return nil
}
