package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/tcptop/tcptop/model"
	"github.com/tcptop/tcptop/ui"
)

// --generate: shell completions and the man page, all from flagTable.
//
// The man page is written as roff here rather than with muesli/mango:
// every section beyond OPTIONS (keys, findings, exit status, privileges)
// is prose this file holds anyway, mango would add two modules for a
// dozen macros, and `mandoc -T lint` in CI checks what is written.

// generate writes what --generate asks for.
func generate(w io.Writer, what string) error {
	var s string
	switch what {
	case "bash":
		s = bashCompletion()
	case "zsh":
		s = zshCompletion()
	case "fish":
		s = fishCompletion()
	case "man":
		s = manPage()
	default:
		return usageError{fmt.Errorf("--generate: %q is not one of bash, zsh, fish, man", what)}
	}
	_, err := io.WriteString(w, s)
	return writeError(err)
}

// flagWords are a flag's spellings: "--name" and "-S".
func flagWords(f flagSpec) []string {
	out := []string{"--" + f.Name}
	if f.Short != "" {
		out = append(out, "-"+f.Short)
	}
	return out
}

// netnsCommand lists the namespace names at completion time.
const netnsCommand = `ip netns list 2>/dev/null | cut -d' ' -f1`

// shellWords quotes words for a shell word list.
func shellWords(ws []string) string { return strings.Join(ws, " ") }

func bashCompletion() string {
	var b strings.Builder
	b.WriteString("# bash completion for tcptop (tcptop --generate bash)\n")
	b.WriteString("_tcptop() {\n  local cur prev\n  cur=\"${COMP_WORDS[COMP_CWORD]}\"\n  prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n")
	b.WriteString("  case \"$prev\" in\n")
	var all []string
	for _, f := range flagTable {
		all = append(all, flagWords(f)...)
		if f.Arg == "" {
			continue
		}
		fmt.Fprintf(&b, "    %s)\n", strings.Join(flagWords(f), "|"))
		switch {
		case f.Values != nil:
			fmt.Fprintf(&b, "      COMPREPLY=($(compgen -W '%s' -- \"$cur\")); compopt -o nospace 2>/dev/null; return ;;\n", shellWords(f.Values()))
		case f.Complete == "netns":
			fmt.Fprintf(&b, "      COMPREPLY=($(compgen -W \"$(%s)\" -- \"$cur\")); return ;;\n", netnsCommand)
		case f.Complete == "dir":
			b.WriteString("      COMPREPLY=($(compgen -d -- \"$cur\")); return ;;\n")
		case f.Complete == "file":
			b.WriteString("      COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n")
		default:
			b.WriteString("      return ;;\n")
		}
	}
	b.WriteString("  esac\n")
	fmt.Fprintf(&b, "  COMPREPLY=($(compgen -W '%s' -- \"$cur\"))\n}\ncomplete -F _tcptop tcptop\n", shellWords(all))
	return b.String()
}

// zshQuote makes s safe inside a zsh _arguments spec's brackets.
func zshQuote(s string) string {
	s = strings.ReplaceAll(strings.Join(strings.Fields(s), " "), "'", "'\\''")
	return strings.NewReplacer("[", "\\[", "]", "\\]", ":", "\\:").Replace(s)
}

func zshCompletion() string {
	var b strings.Builder
	b.WriteString("#compdef tcptop\n# zsh completion for tcptop (tcptop --generate zsh)\n")
	b.WriteString("_tcptop_netns() { local -a ns; ns=(${(f)\"$(" + netnsCommand + ")\"}); compadd -a ns }\n")
	b.WriteString("_arguments -s \\\n")
	for _, f := range flagTable {
		help := zshQuote(f.Help)
		action := ""
		if f.Arg != "" {
			switch {
			case f.Values != nil:
				action = ":" + strings.ToLower(f.Arg) + ":(" + shellWords(f.Values()) + ")"
			case f.Complete == "netns":
				action = ":namespace:_tcptop_netns"
			case f.Complete == "dir":
				action = ":directory:_files -/"
			case f.Complete == "file":
				action = ":file:_files"
			default:
				action = ":" + strings.ToLower(f.Arg) + ": "
			}
		}
		for _, w := range flagWords(f) {
			if f.Arg != "" && strings.HasPrefix(w, "--") {
				w += "="
			}
			fmt.Fprintf(&b, "  '%s[%s]%s' \\\n", w, help, action)
		}
	}
	b.WriteString("  && return 0\n")
	return b.String()
}

func fishCompletion() string {
	var b strings.Builder
	b.WriteString("# fish completion for tcptop (tcptop --generate fish)\n")
	b.WriteString("complete -c tcptop -f\n")
	for _, f := range flagTable {
		line := "complete -c tcptop -l " + f.Name
		if f.Short != "" {
			line += " -s " + f.Short
		}
		if f.Arg != "" {
			line += " -r"
			switch {
			case f.Values != nil:
				line += " -a '" + shellWords(f.Values()) + "'"
			case f.Complete == "netns":
				line += " -a '(" + netnsCommand + ")'"
			case f.Complete == "dir":
				line += " -a '(__fish_complete_directories)'"
			case f.Complete == "file":
				line += " -F"
			}
		}
		line += " -d '" + strings.ReplaceAll(strings.Join(strings.Fields(f.Help), " "), "'", "\\'") + "'"
		b.WriteString(line + "\n")
	}
	return b.String()
}

// roff escapes text for a man page: backslashes, and a leading dot or
// quote that would read as a request.
func roff(s string) string {
	s = strings.ReplaceAll(s, "\\", "\\e")
	s = strings.ReplaceAll(s, "-", "\\-")
	s = strings.NewReplacer("↑", "Up", "↓", "Down", "→", "->", "…", "...").Replace(s)
	var out []string
	for _, para := range strings.Split(s, "\n") {
		// Lines of at most 78 bytes (roff joins them): words move on.
		line := ""
		for _, word := range strings.Fields(para) {
			if line != "" && len(line)+1+len(word) > 78 {
				out = append(out, line)
				line = ""
			}
			if line != "" {
				line += " "
			}
			line += word
		}
		out = append(out, line)
	}
	for i, l := range out {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			out[i] = "\\&" + l
		}
	}
	return strings.Join(out, "\n")
}

// manDate is the man page's date: when its text last changed.
const manDate = "2026-12-01"

func manPage() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w(".TH TCPTOP 8 %s tcptop\n", manDate)
	w(".SH NAME\ntcptop \\- what TCP is doing on a Linux machine\n")
	w(".SH SYNOPSIS\n.B tcptop\n")
	for _, f := range flagTable {
		if f.Arg != "" {
			w(".RB [ \\-\\-%s\n.IR %s ]\n", roff(f.Name), roff(f.Arg))
		} else {
			w(".RB [ \\-\\-%s ]\n", roff(f.Name))
		}
	}
	w(".SH DESCRIPTION\n%s\n", roff("tcptop shows what TCP is doing: how many sockets sit in each state, how close the ephemeral ports are to running out (and toward which destination), which listeners' accept queues are full, and which peers and processes hold the TIME_WAIT and CLOSE_WAIT sockets. It reads the kernel over netlink sock_diag and maps sockets to processes through /proc."))
	w(".PP\n%s\n", roff("With a terminal on standard output it opens a full-screen live monitor; piped, or with TERM=dumb, it prints text snapshots every --interval."))
	w(".SH OPTIONS\n")
	for _, f := range flagTable {
		head := "\\fB" + strings.Join(func() []string {
			var ws []string
			for _, x := range flagWords(f) {
				ws = append(ws, roff(x))
			}
			return ws
		}(), "\\fR, \\fB") + "\\fR"
		if f.Arg != "" {
			head += " \\fI" + roff(f.Arg) + "\\fR"
		}
		w(".TP\n%s\n%s\n", head, roff(strings.Join(strings.Fields(f.Help), " ")))
		switch f.Name {
		case "interval", "filter", "threshold": // the help names them
		default:
			if f.Values != nil {
				w("%s\n", roff("Values: "+strings.Join(f.Values(), ", ")+"."))
			}
		}
		if f.Name == "threshold" {
			w(".RS\n")
			for _, t := range model.ThresholdNames() {
				name, rest, _ := strings.Cut(t, " ")
				w(".TP\n.B %s\n%s\n", roff(name), roff(strings.TrimSpace(rest)))
			}
			w(".RE\n")
		}
	}
	w(".SH KEYS\n%s\n", roff("In the live monitor (? or F1 lists them too):"))
	for _, group := range ui.DefaultKeys().FullHelp() {
		for _, k := range group {
			h := k.Help()
			w(".TP\n.B %s\n%s\n", roff(h.Key), roff(h.Desc))
		}
	}
	w(".SH FINDINGS\n%s\n", roff("Rules look at every snapshot and name what is wrong, with evidence and advice; the monitor's strip and findings view, --check and the JSON show them. The rules:"))
	for _, r := range model.RuleNames() {
		w(".TP\n.B %s\n", roff(r))
	}
	w(".PP\n%s\n", roff("Thresholds are tuned with --threshold; README.md says what each rule needs to hold and for how long."))
	w(".SH EXIT STATUS\n.TP\n.B 0\nok (findings are not errors)\n.TP\n.B 1\n%s\n.TP\n.B 2\n%s\n",
		roff("the kernel could not be read, or --check found a warning or worse"), roff("bad usage: flags, filter, sort key or namespace"))
	w(".SH PRIVILEGES\n%s\n", roff("Any user sees every socket. Mapping sockets to processes reads /proc/PID/fd, so as another user tcptop attributes only that user's processes (root sees all). --netns with a path, and namespaces made by other users, need CAP_SYS_ADMIN."))
	w(".SH FILES\n.TP\n.I /proc/net/netstat, /proc/net/snmp\n%s\n.TP\n.I /proc/sys/net\n%s\n.TP\n.I /proc/PID/fd\n%s\n.TP\n.I /run/netns\n%s\n",
		roff("TcpExt and Tcp counters (listen overflows, opens, ...)"), roff("the tunables: ip_local_port_range, somaxconn, tcp_*"),
		roff("which process holds which socket"), roff("the names of ip netns namespaces"))
	w(".SH ENVIRONMENT\n.TP\n.B NO_COLOR\n%s\n.TP\n.B LANG, LC_ALL, LC_CTYPE\n%s\n.TP\n.B TERM\n%s\n",
		roff("when set, the monitor draws without colours (--theme mono)"),
		roff("a locale that is not UTF-8 draws bars and arrows in ASCII (--ascii)"),
		roff("dumb: text snapshots instead of the monitor"))
	w(".SH EXAMPLES\n")
	for _, ex := range [][2]string{
		{"tcptop", "the live monitor"},
		{"tcptop --once --sort TIME_WAIT", "one text snapshot, the peer holding most TIME_WAIT first"},
		{"tcptop --once --filter 'proc:php state:CLOSE_WAIT'", "only php's CLOSE_WAIT"},
		{"tcptop --check --threshold close-wait=50", "findings only; exit 1 on a warning (cron)"},
		{"tcptop --json --interval 2s", "NDJSON, one document every 2 s"},
		{"tcptop --generate bash > /etc/bash_completion.d/tcptop", "install the bash completion"},
	} {
		w(".TP\n.B %s\n%s\n", roff(ex[0]), roff(ex[1]))
	}
	w(".SH SEE ALSO\n.BR ss (8),\n.BR ip\\-netns (8),\n.BR tcp (7),\n.BR proc (5)\n")
	return b.String()
}
