package record

import (
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tcptop/tcptop/source"
)

var update = flag.Bool("update", false, "rewrite the golden recording of the current format version")

// goldenDir holds one recording per format version, written once by
// the tcptop of that version and read by the tests forever, with a
// digest of every poll they must decode to.
const goldenDir = "../testdata/recordings"

// goldenSamples is the population of the golden recordings: a busy
// server that starts leaking CLOSE_WAIT at poll 30, with IPv6 and
// IPv4-mapped sockets, tcp_info on one socket, a warning at poll 10 and
// a process that exits at poll 50. From format 2 on, the leaked sockets
// from poll 60 have tcp_info that ages a second a poll, as tcptop ages
// it (meta.InfoShift), one of them also changing otherwise at poll 75.
// (Format 1's recording was written before that: its digest holds its
// own samples.)
func goldenSamples() []*source.Sample {
	s := newSynth(300, 5, 7)
	var out []*source.Sample
	for i := range 90 {
		smp := s.next()
		if i >= 30 {
			n := 0
			for j := range s.socks {
				sk := &s.socks[j]
				if sk.State == source.Established && n < 2 && len(sk.Owners) == 1 {
					sk.State, sk.Timer, sk.Expires, sk.Owners = source.CloseWait, 0, 0, []int32{120}
					n++
				}
				if sk.State != source.CloseWait || i < 60 {
					continue
				}
				in := source.TCPInfo{Len: int(source.InfoTotalRTO), State: uint8(source.CloseWait), RTO: 204000, SndMSS: 1448, LastAckRecv: 7000}
				if sk.Info != nil {
					in = *sk.Info
					in.LastAckRecv += 1000
				}
				if i == 75 && j%2 == 0 {
					in.RTO += 1000
				}
				sk.Info = &in
			}
			smp.Sockets = append([]source.Socket(nil), s.socks...)
		}
		smp.Sockets = append(smp.Sockets,
			source.Socket{Family: 10, State: source.Listen, Local: netip.MustParseAddrPort("[::]:8443"), SendQ: 511, Inode: 7, Cookie: 5, Owners: []int32{101}},
			source.Socket{Family: 10, State: source.Established, Local: netip.MustParseAddrPort("[::ffff:10.9.0.5]:8443"),
				Remote: netip.MustParseAddrPort("[::ffff:192.0.2.9]:51000"), Inode: 8, Cookie: 6, Owners: []int32{101},
				Info: &source.TCPInfo{RTT: 1500 + uint32(i), RTO: 204000, SndCwnd: 10, TotalRetrans: uint32(i / 10)}},
			source.Socket{Family: 10, State: source.Established, Local: netip.MustParseAddrPort("[2001:db8::1]:443"),
				Remote: netip.MustParseAddrPort("[2001:db8::77]:40000"), Inode: 9, Cookie: 7, Owners: []int32{101, 102}})
		if i == 10 {
			smp.Warnings = []source.Warning{
				{Kind: source.WarnSysctl, Name: "net.ipv4.tcp_max_orphans", Err: &fs.PathError{Op: "open", Path: "/proc/sys/net/ipv4/tcp_max_orphans", Err: errors.New("permission denied")}},
				{Kind: source.WarnAttribution, Err: errors.New("scan failed")},
			}
		}
		if i == 50 {
			delete(smp.Procs, 139)
		}
		out = append(out, smp)
	}
	return out
}

// digest renders a sample field by field, independently of the codec.
func digest(s *source.Sample) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s %s attr=%v unread=%d took=%v\n", s.Time.UnixNano(), s.Host, s.Netns, s.Attributed, s.Unreadable, s.Took)
	for _, sk := range s.Sockets {
		fmt.Fprintf(&b, "%d %d %d %d %s %s %d %d %d %d %d %d %v %v", sk.Family, sk.State, sk.Timer, sk.Retrans, sk.Local, sk.Remote,
			sk.RecvQ, sk.SendQ, sk.Expires, sk.UID, sk.Inode, sk.Cookie, sk.Owners, sk.OwnerInferred)
		if in := sk.Info; in != nil {
			// The fields a v1 recording holds, named: a field added to
			// the struct later must not change the digest.
			fmt.Fprintf(&b, " info[len=%d ret=%d probes=%d backoff=%d rto=%d rtt=%d rttvar=%d cwnd=%d unacked=%d lost=%d retrans=%d total=%d lds=%d ldr=%d lar=%d]",
				in.Len, in.Retransmits, in.Probes, in.Backoff, in.RTO, in.RTT, in.RTTVar, in.SndCwnd, in.Unacked, in.Lost,
				in.Retrans, in.TotalRetrans, in.LastDataSent, in.LastDataRecv, in.LastAckRecv)
		}
		b.WriteByte('\n')
	}
	pids := make([]int32, 0, len(s.Procs))
	for pid := range s.Procs {
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	for _, pid := range pids {
		p := s.Procs[pid]
		fmt.Fprintf(&b, "proc pid=%d start=%d name=%q cmd=%q user=%q uid=%d fds=%d limit=%d\n",
			p.PID, p.Start, p.Name, p.Cmdline, p.User, p.UID, p.FDs, p.FDLimit)
	}
	keys := make([]string, 0, len(s.Counters))
	for k := range s.Counters {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%d ", k, s.Counters[k])
	}
	sc := &s.Sysctl
	raw := make([]string, 0, len(sc.Raw))
	for k, v := range sc.Raw {
		raw = append(raw, k+"="+v)
	}
	slices.Sort(raw)
	fmt.Fprintf(&b, "\nsysctl range=%d-%d/%v reserved=%v somaxconn=%d synbacklog=%d fin=%d twreuse=%d twbuckets=%d ts=%d raw=%q missing=%q\n",
		sc.PortLow, sc.PortHigh, sc.PortRangeParsed, sc.Reserved, sc.Somaxconn, sc.MaxSynBacklog, sc.FinTimeout, sc.TwReuse,
		sc.MaxTwBuckets, sc.Timestamps, raw, sc.Missing)
	st := &s.Sockstat
	fmt.Fprintf(&b, "sockstat inuse=%d orphan=%d tw=%d alloc=%d mem=%d used=%d\n%q\n",
		st.InUse, st.Orphan, st.TW, st.Alloc, st.Mem, st.SocketsUsed, source.WarningStrings(s.Warnings))
	return b.String()
}

func digestLine(i int, s *source.Sample) string {
	states := map[source.State]int{}
	for _, sk := range s.Sockets {
		states[sk.State]++
	}
	return fmt.Sprintf("%d %s sockets=%d established=%d time_wait=%d close_wait=%d sha256=%x",
		i, s.Time.UTC().Format(time.RFC3339), len(s.Sockets), states[source.Established], states[source.TimeWait],
		states[source.CloseWait], sha256.Sum256([]byte(digest(s))))
}

// TestGoldenRecordings reads every format version's golden recording and
// checks each poll against its digest. Never delete a version's files:
// a tcptop must replay every recording an older one wrote.
func TestGoldenRecordings(t *testing.T) {
	cur := filepath.Join(goldenDir, fmt.Sprintf("v%d.tcptop", FormatVersion))
	if *update {
		w, err := Create(cur, testHeader(), WriterOptions{EncoderOptions: EncoderOptions{KeyEvery: 30 * time.Second, ChunkEvery: 10 * time.Second}})
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for i, s := range goldenSamples() {
			if err := w.Write(s); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, digestLine(i, s))
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(strings.TrimSuffix(cur, ".tcptop")+".digest", []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	}
	files, _ := filepath.Glob(filepath.Join(goldenDir, "v*.tcptop"))
	if len(files) == 0 {
		t.Fatal("no golden recordings (go test ./record -run Golden -update)")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want, err := os.ReadFile(strings.TrimSuffix(f, ".tcptop") + ".digest")
			if err != nil {
				t.Fatal(err)
			}
			r, err := Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var lines []string
			for i, s := range readAll(t, r) {
				lines = append(lines, digestLine(i, s))
			}
			got := strings.Join(lines, "\n") + "\n"
			if got != string(want) {
				t.Errorf("%s decodes differently from its digest", f)
			}
			if len(r.Damage()) > 0 {
				t.Errorf("damage: %q", r.Damage())
			}
		})
	}
}

// TestGoldenRoundTrip checks the golden population round-trips exactly
// (the digest could hide a difference the codec made).
func TestGoldenRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.tcptop")
	want := goldenSamples()
	w, err := Create(path, testHeader(), WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range want {
		w.Write(s)
	}
	w.Close()
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i, s := range readAll(t, r) {
		sameSample(t, i, want[i], s)
	}
}
