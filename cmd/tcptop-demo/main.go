// Command tcptop-demo builds, on demand, the socket population of one of the
// incidents tcptop diagnoses, in network namespaces of its own, so that you
// can watch tcptop name the cause:
//
//	sudo tcptop-demo list
//	sudo tcptop-demo ephemeral            # then, in another terminal:
//	sudo tcptop --netns tcptop-demo-ephemeral
//
// It keeps the population standing until Ctrl-C (or -duration), then stops
// its processes and deletes the namespaces. The populations are the ones
// the tests in internal/incidents check tcptop's findings against.
//
// Exit status: 0 after a clean stop, 1 when the population could not be
// built or broke, 2 for bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/tcptop/tcptop/internal/incidents"
)

const usage = `usage: tcptop-demo [flags] SCENARIO
       tcptop-demo list

Builds the socket population of an incident in a private network namespace
(tcptop-demo-SCENARIO) and keeps it until Ctrl-C, so that tcptop can be
watched diagnosing it. Needs root.

Scenarios (tcptop-demo list says what each builds):
  %s

Flags:
  -duration D   stop by itself after D (default 10m; at most 1h)
  -netns NAME   the namespace to create (default tcptop-demo-SCENARIO)
`

// checkEnv is incidents.CheckEnv; tests replace it.
var checkEnv = incidents.CheckEnv

func main() {
	incidents.RunChild() // the population's processes are this program again
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type config struct {
	scenario string
	duration time.Duration
	netns    string
}

// parseArgs accepts the flags before or after the scenario name.
func parseArgs(args []string) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("tcptop-demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.DurationVar(&c.duration, "duration", 10*time.Minute, "")
	fs.StringVar(&c.netns, "netns", "", "")
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch {
	case len(pos) == 0:
		return nil, errors.New("no scenario (try: tcptop-demo list)")
	case len(pos) > 1:
		return nil, fmt.Errorf("one scenario at a time (got %s)", strings.Join(pos, ", "))
	case c.duration <= 0 || c.duration > time.Hour:
		return nil, fmt.Errorf("-duration %v: want more than 0 and at most 1h", c.duration)
	}
	c.scenario = pos[0]
	if c.netns == "" {
		c.netns = "tcptop-demo-" + c.scenario
	}
	if strings.ContainsAny(c.netns, "/ ") || len(c.netns) > 64 {
		return nil, fmt.Errorf("-netns %q: want a plain name (no '/' or spaces, at most 64 characters)", c.netns)
	}
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, err := parseArgs(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, usage, strings.Join(incidents.Names(), ", "))
			return 0
		}
		fmt.Fprintf(stderr, "tcptop-demo: %v\n", err)
		return 2
	}
	if c.scenario == "list" {
		list(stdout)
		return 0
	}
	sc, err := incidents.Lookup(c.scenario)
	if err != nil {
		fmt.Fprintf(stderr, "tcptop-demo: %v\n", err)
		return 2
	}
	if err := checkEnv(); err != nil {
		fmt.Fprintf(stderr, "tcptop-demo: %v (run it with sudo)\n", err)
		return 1
	}
	p, err := incidents.New(sc, incidents.Options{Namespace: c.netns, MaxLife: c.duration + 30*time.Second})
	if err != nil {
		fmt.Fprintf(stderr, "tcptop-demo: %s: %v\n", sc.Name, err)
		return 1
	}
	defer func() {
		if err := p.Close(); err != nil {
			fmt.Fprintf(stderr, "tcptop-demo: cleanup: %v\n", err)
		}
	}()
	fmt.Fprintf(stdout, "tcptop-demo: building %s: %s\n", sc.Name, sc.Title)
	t0 := time.Now()
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	err = p.Start(sctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "tcptop-demo: interrupted while building %s\n", sc.Name)
		} else {
			fmt.Fprintf(stderr, "tcptop-demo: %s did not stand: %v\n", sc.Name, err)
		}
		return 1
	}
	fmt.Fprintf(stdout, "tcptop-demo: %s stands in network namespace %s (built in %.1f s)\n", sc.Name, p.Netns, time.Since(t0).Seconds())
	fmt.Fprintf(stdout, "  %s\n", sc.Builds)
	fmt.Fprintf(stdout, "\nwatch it:\n\n    tcptop --netns %s\n\n", p.Netns)
	fmt.Fprintf(stdout, "tcptop should show: %s\n", sc.Shows)
	fmt.Fprintf(stdout, "Ctrl-C stops it and deletes the namespace(s) %s; it stops by itself in %v.\n",
		strings.Join(p.Namespaces, ", "), c.duration)

	timer := time.NewTimer(c.duration)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		fmt.Fprintf(stdout, "tcptop-demo: stopping %s\n", sc.Name)
	case <-timer.C:
		fmt.Fprintf(stdout, "tcptop-demo: %v passed, stopping %s\n", c.duration, sc.Name)
	case err := <-p.Failed():
		fmt.Fprintf(stderr, "tcptop-demo: %s broke: %v\n", sc.Name, err)
		return 1
	}
	return 0
}

// list prints the scenarios with what each builds and what tcptop says.
func list(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tINCIDENT\tWHAT")
	for _, s := range incidents.Scenarios() {
		inc := "-"
		if s.Incident > 0 {
			inc = fmt.Sprint(s.Incident)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, inc, s.Title)
	}
	tw.Flush()
	for _, s := range incidents.Scenarios() {
		fmt.Fprintf(w, "\n%s:\n  builds: %s\n  tcptop shows: %s\n", s.Name, s.Builds, s.Shows)
	}
	fmt.Fprintln(w, "\nrun one with: sudo tcptop-demo SCENARIO, then: sudo tcptop --netns tcptop-demo-SCENARIO")
}
