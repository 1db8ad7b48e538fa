// Command testsummary reads `go test -json` on stdin and prints what
// `go test` prints (a line per package, the output of failed tests), then,
// in its last lines, every test skipped for a missing tool or privilege,
// so a green run cannot hide suites that did not run. It exits 1 when a
// test or a build failed. README: go test -race -json ./... | go run ./internal/testsummary
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

// event is one line of test2json.
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

// fileLine is the "x_test.go:12: " before a test's log line.
var fileLine = regexp.MustCompile(`^[\w.-]+\.go:\d+: `)

// missing reports whether a skip message names something absent (a tool
// to install, root): those are the skips a run must not hide.
func missing(msg string) bool {
	m := strings.ToLower(msg)
	for _, w := range []string{"needs ", "not installed", "not found", "requires ", "need root", "as root"} {
		if strings.Contains(m, w) {
			return true
		}
	}
	return false
}

func main() { os.Exit(summarize(os.Stdin, os.Stdout)) }

func summarize(in io.Reader, out io.Writer) int {
	type key struct{ pkg, test string }
	outputs := map[key][]string{}
	skips := map[string][]string{} // reason -> tests
	failed := false
	var nPass, nFail, nSkip int
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if json.Unmarshal(line, &e) != nil {
			fmt.Fprintln(out, string(line)) // build errors and the like
			continue
		}
		k := key{e.Package, e.Test}
		switch e.Action {
		case "output":
			outputs[k] = append(outputs[k], e.Output)
		case "fail":
			failed = true
			if e.Test != "" {
				fmt.Fprint(out, strings.Join(outputs[k], ""))
			} else {
				if e.Test == "" && len(outputs[k]) > 0 {
					fmt.Fprint(out, strings.Join(outputs[k], ""))
				}
				fmt.Fprintf(out, "FAIL\t%s\t%.3fs\n", e.Package, e.Elapsed)
			}
		case "pass":
			if e.Test == "" {
				fmt.Fprintf(out, "ok  \t%s\t%.3fs\n", e.Package, e.Elapsed)
			}
		case "skip":
			if e.Test == "" {
				fmt.Fprintf(out, "?   \t%s\t[no test files]\n", e.Package)
				break
			}
			reason := ""
			for _, o := range outputs[k] {
				if s := strings.TrimSpace(o); s != "" && !strings.HasPrefix(s, "=== ") && !strings.HasPrefix(s, "--- SKIP") {
					reason = s
				}
			}
			reason = fileLine.ReplaceAllString(reason, "")
			if missing(reason) {
				skips[reason] = append(skips[reason], strings.TrimPrefix(e.Package, "github.com/tcptop/tcptop/")+"."+e.Test)
			}
		}
		if e.Action == "pass" || e.Action == "fail" || e.Action == "skip" {
			delete(outputs, k)
			if e.Test != "" {
				switch e.Action {
				case "pass":
					nPass++
				case "fail":
					nFail++
				default:
					nSkip++
				}
			}
		}
	}
	if note := os.Getenv("TESTSUMMARY_NOTE"); note != "" {
		fmt.Fprintln(out, note)
	}
	if len(skips) > 0 {
		reasons := make([]string, 0, len(skips))
		for r := range skips {
			reasons = append(reasons, r)
		}
		sort.Strings(reasons)
		fmt.Fprintln(out, "SKIPPED for a missing tool or privilege (bash .ci/run installs the tools):")
		for _, r := range reasons {
			ts := skips[r]
			list := strings.Join(ts, ", ")
			if len(ts) > 4 {
				list = strings.Join(ts[:4], ", ") + fmt.Sprintf(" and %d more", len(ts)-4)
			}
			fmt.Fprintf(out, "  %s: %s\n", r, list)
		}
	} else if !failed {
		fmt.Fprintln(out, "no test was skipped for a missing tool")
	}
	// The plain closing line any reader of test logs understands.
	fmt.Fprintf(out, "tests: %d passed, %d failed, %d skipped\n", nPass, nFail, nSkip)
	if failed {
		return 1
	}
	return 0
}
