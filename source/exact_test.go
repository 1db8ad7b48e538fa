package source_test

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tcptop/tcptop/internal/nstest"
	"github.com/tcptop/tcptop/source"
)

// ssInfo is what `ss -tni` prints of one socket's tcp_info.
type ssInfo struct {
	rtt, rttvar         float64 // ms
	cwnd, mss           int64
	bytesAcked, retrans int64 // retrans: the lifetime count after '/'
	rwndLimited, busy   int64 // ms
	hasBusy, hasRwndLim bool
}

var ssFields = map[string]*regexp.Regexp{
	"rtt":         regexp.MustCompile(`\brtt:([\d.]+)/([\d.]+)`),
	"cwnd":        regexp.MustCompile(`\bcwnd:(\d+)`),
	"mss":         regexp.MustCompile(`\bmss:(\d+)`),
	"bytes_acked": regexp.MustCompile(`\bbytes_acked:(\d+)`),
	"retrans":     regexp.MustCompile(`\bretrans:(\d+)/(\d+)`),
	"busy":        regexp.MustCompile(`\bbusy:(\d+)ms`),
	"rwnd":        regexp.MustCompile(`\brwnd_limited:(\d+)ms`),
}

// ssTCPInfo runs `ss -tni` in the namespace for the socket whose local
// port is sport.
func ssTCPInfo(t *testing.T, ns string, sport uint16) (ssInfo, string) {
	t.Helper()
	out, err := exec.Command("ss", "-N", ns, "-Htni", "sport", "=", ":"+strconv.Itoa(int(sport))).CombinedOutput()
	if err != nil {
		t.Fatalf("ss: %v: %s", err, out)
	}
	text := string(out)
	var r ssInfo
	num := func(name string, i int) (int64, bool) {
		m := ssFields[name].FindStringSubmatch(text)
		if m == nil {
			return 0, false
		}
		v, _ := strconv.ParseInt(m[i], 10, 64)
		return v, true
	}
	if m := ssFields["rtt"].FindStringSubmatch(text); m != nil {
		r.rtt, _ = strconv.ParseFloat(m[1], 64)
		r.rttvar, _ = strconv.ParseFloat(m[2], 64)
	} else {
		t.Fatalf("ss printed no rtt: %s", text)
	}
	r.cwnd, _ = num("cwnd", 1)
	r.mss, _ = num("mss", 1)
	r.bytesAcked, _ = num("bytes_acked", 1)
	r.retrans, _ = num("retrans", 2)
	r.busy, r.hasBusy = num("busy", 1)
	r.rwndLimited, r.hasRwndLim = num("rwnd", 1)
	return r, text
}

// findSocket dumps the namespace until a socket with local port lport
// and remote port rport shows up.
func findSocket(t *testing.T, d *source.Dumper, lport, rport uint16) source.Socket {
	t.Helper()
	for range 100 {
		socks, err := d.Dump(source.AllStatesMask, 0, 64)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range socks {
			if s.Local.Port() == lport && s.Remote.Port() == rport {
				return s
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no socket %d -> %d", lport, rport)
	return source.Socket{}
}

func addrPort(a net.Addr) netip.AddrPort { return a.(*net.TCPAddr).AddrPort() }

// compareWithSS looks a socket up exactly and checks tcp_info against
// what `ss -tni` prints for it at the same moment (the connection is
// idle, so the two agree): rtt within a tolerance, cwnd, mss, bytes_acked
// and the lifetime retransmits exactly.
func compareWithSS(t *testing.T, ex *source.Exact, ns string, sk source.Socket) *source.Detail {
	t.Helper()
	det, err := ex.Lookup(sk.ID())
	if err != nil {
		t.Fatalf("lookup %v: %v", sk.ID(), err)
	}
	ss, text := ssTCPInfo(t, ns, sk.Local.Port())
	in := det.Socket.Info
	if in == nil || !in.Has(source.InfoTotalRTO) {
		t.Fatalf("lookup without the full tcp_info of this kernel: %+v", in)
	}
	if det.Socket.Cookie != sk.Cookie || det.Socket.Local != sk.Local || det.Socket.Remote != sk.Remote {
		t.Fatalf("lookup answered another socket: %+v", det.Socket)
	}
	rttMS := float64(in.RTT) / 1000
	if d := rttMS - ss.rtt; d > 0.5+0.2*ss.rtt || d < -(0.5+0.2*ss.rtt) {
		t.Errorf("rtt %.3f ms, ss says %.3f ms\n%s", rttMS, ss.rtt, text)
	}
	if int64(in.SndCwnd) != ss.cwnd {
		t.Errorf("cwnd %d, ss says %d\n%s", in.SndCwnd, ss.cwnd, text)
	}
	if int64(in.SndMSS) != ss.mss {
		t.Errorf("mss %d, ss says %d\n%s", in.SndMSS, ss.mss, text)
	}
	if int64(in.BytesAcked) != ss.bytesAcked {
		t.Errorf("bytes_acked %d, ss says %d\n%s", in.BytesAcked, ss.bytesAcked, text)
	}
	if int64(in.TotalRetrans) != ss.retrans {
		t.Errorf("total retrans %d, ss says %d\n%s", in.TotalRetrans, ss.retrans, text)
	}
	if det.Cong == "" || !strings.Contains(text, det.Cong) {
		t.Errorf("congestion control %q, ss says\n%s", det.Cong, text)
	}
	if det.SkMem == nil || det.SkMem.SndBuf == 0 {
		t.Errorf("no skmem: %+v", det.SkMem)
	}
	return det
}

// send writes n bytes on c and waits until the reader has them all.
func send(t *testing.T, c net.Conn, n int, got <-chan int) {
	t.Helper()
	buf := make([]byte, 64<<10)
	for left := n; left > 0; {
		w, err := c.Write(buf[:min(left, len(buf))])
		if err != nil {
			t.Fatal(err)
		}
		left -= w
	}
	select {
	case r := <-got:
		if r != n {
			t.Fatalf("reader got %d bytes of %d", r, n)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("reader never got the data")
	}
}

// drain reads c to EOF and reports how much it read.
func drain(c net.Conn, n int, got chan<- int) {
	total := 0
	buf := make([]byte, 64<<10)
	for total < n {
		r, err := c.Read(buf)
		total += r
		if err != nil {
			break
		}
	}
	got <- total
}

// On loopback: the exact lookup's tcp_info equals ss's for the same
// socket, after a transfer.
func TestExactLookupMatchesSSLoopback(t *testing.T) {
	name, ns := nstest.New(t, "tcptop-exact")
	var ln net.Listener
	var c, s net.Conn
	if err := ns.Do(func() (err error) {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return err
		}
		c, s, err = pair(ln)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	defer c.Close()
	defer s.Close()
	got := make(chan int, 1)
	const n = 4 << 20
	go drain(s, n, got)
	send(t, c, n, got)
	time.Sleep(100 * time.Millisecond) // let the last ACKs land
	d := newDumper(t, ns)
	ex, err := source.OpenExact(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	sk := findSocket(t, d, addrPort(c.LocalAddr()).Port(), addrPort(c.RemoteAddr()).Port())
	det := compareWithSS(t, ex, name, sk)
	in := det.Socket.Info
	if in.BytesAcked < n || in.BytesSent < n || in.DataSegsOut == 0 || in.DeliveryRate == 0 || in.MinRTT == 0 {
		t.Errorf("transfer counters: acked %d sent %d segs %d delivery %d min_rtt %d", in.BytesAcked, in.BytesSent, in.DataSegsOut, in.DeliveryRate, in.MinRTT)
	}
	// Both ends from the server side too.
	ssk := findSocket(t, d, addrPort(s.LocalAddr()).Port(), addrPort(s.RemoteAddr()).Port())
	sdet := compareWithSS(t, ex, name, ssk)
	if sdet.Socket.Info.BytesReceived < n {
		t.Errorf("server bytes_received %d < %d", sdet.Socket.Info.BytesReceived, n)
	}
}

// vethPair joins two fresh namespaces with a veth pair: 10.77.0.1 in a,
// 10.77.0.2 in b.
func vethPair(t *testing.T) (aName string, a *source.Namespace, bName string, b *source.Namespace) {
	t.Helper()
	aName, a = nstest.New(t, "tcptop-va")
	bName, b = nstest.New(t, "tcptop-vb")
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v: %s", args, err, out)
		}
	}
	run("ip", "link", "add", "tva", "netns", aName, "type", "veth", "peer", "name", "tvb", "netns", bName)
	run("ip", "-n", aName, "addr", "add", "10.77.0.1/24", "dev", "tva")
	run("ip", "-n", bName, "addr", "add", "10.77.0.2/24", "dev", "tvb")
	run("ip", "-n", aName, "link", "set", "tva", "up")
	run("ip", "-n", bName, "link", "set", "tvb", "up")
	return aName, a, bName, b
}

// Over a veth pair with one segment in five dropped at the receiver
// (nftables, as netem is not built here): retransmits and the "limited
// by" split are non-zero and still agree with ss.
func TestExactLookupVethWithLoss(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("needs nft to drop packets (apt-get install nftables)")
	}
	aName, a, bName, b := vethPair(t)
	var ln net.Listener
	if err := b.Do(func() (err error) { ln, err = net.Listen("tcp", "10.77.0.2:0"); return }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := addrPort(ln.Addr()).Port()
	rules := "table inet tcptoptest {\n chain drops {\n type filter hook input priority 0;\n tcp dport " +
		strconv.Itoa(int(port)) + " numgen random mod 5 == 0 drop\n }\n}\n"
	nft := exec.Command("ip", "netns", "exec", bName, "nft", "-f", "-")
	nft.Stdin = strings.NewReader(rules)
	if out, err := nft.CombinedOutput(); err != nil {
		t.Skipf("nft cannot drop here: %v: %s", err, out)
	}
	var c net.Conn
	accepted := make(chan net.Conn, 1)
	go func() {
		s, err := ln.Accept()
		if err == nil {
			accepted <- s
		}
	}()
	err := a.Do(func() (err error) {
		for range 20 { // the SYN itself may be dropped
			d := net.Dialer{Timeout: 3 * time.Second}
			if c, err = d.Dial("tcp", ln.Addr().String()); err == nil {
				return nil
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := <-accepted
	defer s.Close()
	got := make(chan int, 1)
	const n = 2 << 20
	go drain(s, n, got)
	send(t, c, n, got)
	time.Sleep(300 * time.Millisecond)
	d := newDumper(t, a)
	ex, err := source.OpenExact(a)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	sk := findSocket(t, d, addrPort(c.LocalAddr()).Port(), port)
	det := compareWithSS(t, ex, aName, sk)
	in := det.Socket.Info
	if in.TotalRetrans == 0 || in.BytesRetrans == 0 {
		t.Errorf("20%% loss but no retransmits: total %d bytes %d", in.TotalRetrans, in.BytesRetrans)
	}
	// busy_time is counted in jiffies (4 ms at HZ=250): a transfer whose
	// retransmits all went fast can read 0, so only its presence is sure.
	if !in.Has(source.InfoLimited) {
		t.Errorf("this kernel sends busy_time (4.10+), but the lookup has tcp_info of %d bytes", in.Len)
	}
}

// A receiver that stops reading with a tiny buffer: the sender is limited
// by the receive window (rwnd_limited grows), as ss reports too.
func TestExactLookupRwndLimited(t *testing.T) {
	name, ns := nstest.New(t, "tcptop-rwnd")
	var lfd int
	var c net.Conn
	var sfd int
	err := ns.Do(func() (err error) {
		if lfd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0); err != nil {
			return err
		}
		// The accepted socket inherits the listener's small buffer.
		if err = unix.SetsockoptInt(lfd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4096); err != nil {
			return err
		}
		if err = unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
			return err
		}
		if err = unix.Listen(lfd, 8); err != nil {
			return err
		}
		sa, _ := unix.Getsockname(lfd)
		if c, err = net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port(sa))); err != nil {
			return err
		}
		sfd, _, err = unix.Accept(lfd)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(lfd)
	defer unix.Close(sfd)
	defer c.Close()
	// Write until the window closes; nobody reads.
	c.SetWriteDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 1<<20)
	for {
		if _, err := c.Write(buf); err != nil {
			break
		}
	}
	time.Sleep(300 * time.Millisecond)
	d := newDumper(t, ns)
	ex, err := source.OpenExact(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	sk := findSocket(t, d, addrPort(c.LocalAddr()).Port(), addrPort(c.RemoteAddr()).Port())
	det := compareWithSS(t, ex, name, sk)
	in := det.Socket.Info
	ss, text := ssTCPInfo(t, name, sk.Local.Port())
	if in.RwndLimited == 0 || !ss.hasRwndLim {
		t.Errorf("rwnd_limited %d µs; ss: %s", in.RwndLimited, text)
	} else if d := ss.rwndLimited - int64(in.RwndLimited/1000); d < -10 || d > 1000 {
		// The window stays shut: the counter keeps growing between our
		// lookup and ss's, never shrinking.
		t.Errorf("rwnd_limited %d ms, ss says %d ms", in.RwndLimited/1000, ss.rwndLimited)
	}
	if det.Socket.SendQ == 0 {
		t.Errorf("nothing queued to send behind a closed window")
	}
}

// A lookup or destroy with another cookie touches nothing: ErrGone.
func TestExactWrongCookie(t *testing.T) {
	_, ns := nstest.New(t, "tcptop-cookie")
	var ln net.Listener
	var c, s net.Conn
	if err := ns.Do(func() (err error) {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return err
		}
		c, s, err = pair(ln)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	defer c.Close()
	defer s.Close()
	d := newDumper(t, ns)
	ex, err := source.OpenExact(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	sk := findSocket(t, d, addrPort(c.LocalAddr()).Port(), addrPort(c.RemoteAddr()).Port())
	id := sk.ID()
	id.Cookie++
	if _, err := ex.Lookup(id); !errors.Is(err, source.ErrGone) {
		t.Errorf("lookup with a wrong cookie: %v, want ErrGone", err)
	}
	if err := ex.Destroy(id); !errors.Is(err, source.ErrGone) {
		t.Errorf("destroy with a wrong cookie: %v, want ErrGone", err)
	}
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, unix.EAGAIN) && !isTimeout(err) {
		t.Errorf("socket touched by a wrong-cookie destroy: read %v", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// DestroyAll on CLOSE_WAIT sockets destroys exactly those: their owner's
// next read fails with ECONNABORTED (or EOF: the FIN was queued), the
// rest of the population is unchanged; a second try is "already gone".
func TestDestroyAll(t *testing.T) {
	name, ns := nstest.New(t, "tcptop-destroy")
	p := build(t, ns, "127.0.0.1")
	d := newDumper(t, ns)
	socks := dumpUntil(t, d, wantStates)
	ex, err := source.OpenExact(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	var cw []source.Socket
	for _, s := range socks {
		if s.State == source.CloseWait {
			cw = append(cw, s)
		}
	}
	before := nstest.SSCounts(t, name)
	res := ex.DestroyAll(cw)
	for _, r := range res {
		if r.Outcome != source.Destroyed {
			t.Errorf("%v: %v (%v)", r.Socket.ID(), r.Outcome, r.Err)
		}
	}
	after := nstest.SSCounts(t, name)
	want := map[string]int{}
	for k, v := range before {
		want[k] = v
	}
	// The peers of the CLOSE_WAIT sockets (client ends in FIN_WAIT2)
	// get the abort's RST and go too: the kernel's doing, not a second
	// socket destroyed.
	if after["FIN_WAIT2"] != 0 {
		t.Errorf("FIN_WAIT2 peers still there after their CLOSE_WAIT ends were reset: %d", after["FIN_WAIT2"])
	}
	for _, st := range []string{"CLOSE_WAIT", "FIN_WAIT2"} {
		delete(want, st)
		delete(after, st)
	}
	for k, v := range want {
		if after[k] != v {
			t.Errorf("%s: %d before, %d after destroying CLOSE_WAIT", k, v, after[k])
		}
	}
	for _, c := range p.cwConns {
		c.SetReadDeadline(time.Now().Add(time.Second))
		_, err := c.Read(make([]byte, 1))
		if err != io.EOF && !errors.Is(err, syscall.ECONNABORTED) {
			t.Errorf("owner's read after destroy: %v, want ECONNABORTED or EOF", err)
		}
	}
	again := ex.DestroyAll(cw)
	for _, r := range again {
		if r.Outcome != source.AlreadyGone {
			t.Errorf("second destroy: %v (%v), want already gone", r.Outcome, r.Err)
		}
	}
	// TIME_WAIT: this kernel aborts those too, or says it cannot.
	var tw []source.Socket
	for _, s := range socks {
		if s.State == source.TimeWait {
			tw = append(tw, s)
		}
	}
	for _, r := range ex.DestroyAll(tw[:1]) {
		if r.Outcome != source.Destroyed && r.Outcome != source.NotSupported {
			t.Errorf("TIME_WAIT destroy: %v (%v)", r.Outcome, r.Err)
		}
		t.Logf("TIME_WAIT destroy on this kernel: %v", r.Outcome)
	}
}
