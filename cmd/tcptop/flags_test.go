package main

import (
	"bytes"
	"flag"
	"os/exec"
	"strings"
	"testing"

	"github.com/tcptop/tcptop/model"
)

// TestFlagTableComplete: every flag the FlagSet knows is in flagTable, and
// every entry of flagTable is in --help, the man page and each completion.
// A flag registered in parseFlags but not in the table fails here.
func TestFlagTableComplete(t *testing.T) {
	c := config{thresholds: model.DefaultThresholds()}
	newFlagSet(&c).VisitAll(func(f *flag.Flag) {
		if lookupFlag(f.Name) == nil {
			t.Errorf("flag --%s is registered but not in flagTable (cmd/tcptop/flags.go): add its entry there", f.Name)
		}
	})
	help, man := usage(), manPage()
	bash, zsh, fish := bashCompletion(), zshCompletion(), fishCompletion()
	for _, f := range flagTable {
		for _, w := range flagWords(f) {
			if !strings.Contains(help, w) {
				t.Errorf("--help lacks %s", w)
			}
			if !strings.Contains(man, `\fB`+roff(w)+`\fR`) {
				t.Errorf("the man page lacks %s", w)
			}
			if !strings.Contains(bash, w) || !strings.Contains(zsh, "'"+w) {
				t.Errorf("bash or zsh completion lacks %s", w)
			}
		}
		if !strings.Contains(fish, "-l "+f.Name+" ") {
			t.Errorf("fish completion lacks --%s", f.Name)
		}
	}
}

// TestCompletionsOfferValues: sort keys, filter terms, threshold names,
// themes and the namespaces of `ip netns list`.
func TestCompletionsOfferValues(t *testing.T) {
	want := []string{"CLOSE_WAIT", "total", "state:", "proc:", "close-wait=", "ports-warn=", "mono", "light", "ip netns list", "man"}
	for name, s := range map[string]string{"bash": bashCompletion(), "zsh": zshCompletion(), "fish": fishCompletion()} {
		for _, w := range want {
			if !strings.Contains(s, w) {
				t.Errorf("%s completion lacks %q", name, w)
			}
		}
	}
	if _, err := exec.LookPath("bash"); err == nil {
		cmd := exec.Command("bash", "-c", `source /dev/stdin; COMP_WORDS=(tcptop --theme m); COMP_CWORD=2; _tcptop; echo "${COMPREPLY[@]}"`)
		cmd.Stdin = strings.NewReader(bashCompletion())
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != "mono" {
			t.Errorf("bash completion of --theme m: %q %v", out, err)
		}
	}
}

// TestManPageSections: the sections the issue asks for, and mandoc's lint
// when mandoc is installed (.ci/run installs it).
func TestManPageSections(t *testing.T) {
	man := manPage()
	for _, s := range []string{"NAME", "SYNOPSIS", "OPTIONS", "KEYS", "FINDINGS", "EXIT STATUS", "PRIVILEGES", "FILES", "ENVIRONMENT", "EXAMPLES", "SEE ALSO"} {
		if !strings.Contains(man, "\n.SH "+s+"\n") {
			t.Errorf("the man page lacks %s", s)
		}
	}
	for _, k := range []string{"close_wait_leak", "kernel: tunables", "F6", "search"} {
		if !strings.Contains(strings.ReplaceAll(man, `\-`, "-"), k) && !strings.Contains(man, strings.ToLower(k)) {
			t.Errorf("the man page lacks %q", k)
		}
	}
	mandoc, err := exec.LookPath("mandoc")
	if err != nil {
		t.Skip("mandoc not installed: lint skipped (apt-get install mandoc)")
	}
	cmd := exec.Command(mandoc, "-T", "lint")
	cmd.Stdin = strings.NewReader(man)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("mandoc -T lint: %v\n%s", err, out)
	}
}

func TestGenerateAndVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"--generate", "fish"}, &out, &out); err != nil || !strings.Contains(out.String(), "complete -c tcptop") {
		t.Errorf("--generate fish: %v %q", err, out.String())
	}
	if err := run([]string{"--generate", "tcsh"}, &out, &out); err == nil {
		t.Error("--generate tcsh should be a usage error")
	}
	// A test binary has no VCS stamp: the fallback names both.
	if got := versionString(); got != "dev (commit unknown)" {
		t.Errorf("versionString() = %q", got)
	}
	version, commit = "v1.2.3", "abc1234"
	t.Cleanup(func() { version, commit = "", "" })
	if got := versionString(); got != "v1.2.3 (commit abc1234)" {
		t.Errorf("versionString() = %q", got)
	}
}
