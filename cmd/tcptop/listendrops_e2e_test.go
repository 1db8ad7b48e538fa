package main

import (
	"bufio"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcptop/tcptop/internal/nstest"
)

// TestListenerDropsOnTheRightOne (issue 19's acceptance): in a private
// namespace a listener that never accepts (backlog 1) overflows under a
// steady stream of connects while another listener on the same host stays
// idle. Every JSON document after the first puts the drops on the full
// one (listeners[].drops_per_sec, from its own sk_drops, eBPF or not) and
// 0 — known, not absent — on the idle one; with eBPF loaded, its
// listeners never name the idle one either.
func TestListenerDropsOnTheRightOne(t *testing.T) {
	name, ns := nstest.New(t, "tcptop-e2e-ldrops")
	lo := [4]byte{127, 0, 0, 1}
	for _, port := range []int{7000, 7001} {
		err := ns.Do(func() error {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			t.Cleanup(func() { unix.Close(fd) })
			if err := unix.Bind(fd, &unix.SockaddrInet4{Port: port, Addr: lo}); err != nil {
				return err
			}
			return unix.Listen(fd, 1)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// A client connecting to the full listener every 10 ms until the
	// test ends: each SYN finds the queue full.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = ns.Do(func() error {
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			var fds []int
			defer func() {
				for _, fd := range fds {
					unix.Close(fd)
				}
			}()
			for {
				select {
				case <-stop:
					return nil
				case <-tick.C:
				}
				fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
				if err != nil {
					return err
				}
				_ = unix.Connect(fd, &unix.SockaddrInet4{Port: 7000, Addr: lo})
				if fds = append(fds, fd); len(fds) > 50 {
					unix.Close(fds[0])
					fds = fds[1:]
				}
			}
		})
	}()
	defer func() { close(stop); wg.Wait() }()

	out, stderr, code := runTcptop(t, nil, "--json", "--count", "3", "--interval", "500ms", "--netns", name, "--ebpf", "auto")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	type listener struct {
		Local       string   `json:"local"`
		DropsPerSec *float64 `json:"drops_per_sec"`
		Drops       *uint64  `json:"drops"`
	}
	type doc struct {
		Listeners []listener `json:"listeners"`
		EBPF      *struct {
			Loaded    bool `json:"loaded"`
			Listeners []struct {
				Local     string `json:"local"`
				Overflows uint64 `json:"overflows"`
			} `json:"listeners"`
		} `json:"ebpf"`
	}
	var docs []doc
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var d doc
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("bad JSON: %v\n%s", err, sc.Text())
		}
		docs = append(docs, d)
	}
	if len(docs) != 3 {
		t.Fatalf("%d documents, want 3:\n%s", len(docs), out)
	}
	for i, d := range docs {
		by := map[string]listener{}
		for _, l := range d.Listeners {
			by[l.Local] = l
		}
		full, idle := by["127.0.0.1:7000"], by["127.0.0.1:7001"]
		if full.Drops == nil || idle.Drops == nil {
			t.Fatalf("document %d: drops unknown: %+v", i, d.Listeners)
		}
		if i == 0 {
			if full.DropsPerSec != nil {
				t.Errorf("first document has a drops rate: %v", *full.DropsPerSec)
			}
			continue
		}
		if full.DropsPerSec == nil || *full.DropsPerSec < 20 {
			t.Errorf("document %d: the full listener drops %v/s, want about 100", i, full.DropsPerSec)
		}
		if idle.DropsPerSec == nil || *idle.DropsPerSec != 0 || *idle.Drops != 0 {
			t.Errorf("document %d: the idle listener: %v drops, %v/s; want 0 and 0", i, idle.Drops, idle.DropsPerSec)
		}
		if e := d.EBPF; e != nil && e.Loaded {
			for _, l := range e.Listeners {
				if l.Local == "127.0.0.1:7001" && l.Overflows > 0 {
					t.Errorf("document %d: eBPF puts %d overflows on the idle listener", i, l.Overflows)
				}
			}
		}
	}
	for _, l := range docs[2].Listeners {
		if l.DropsPerSec != nil {
			t.Logf("%s: %d drops, %.0f/s", l.Local, *l.Drops, *l.DropsPerSec)
		}
	}
	if e := docs[2].EBPF; e != nil {
		t.Logf("eBPF loaded %v, listeners %+v", e.Loaded, e.Listeners)
	}
}
