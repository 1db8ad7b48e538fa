package source

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// infoBatch is how many exact requests Infos sends in one datagram. The
// kernel answers each while handling the send, into the socket's receive
// queue: 64 answers (~400 bytes each with tcp_info) fit it many times
// over. Were it ever to overflow, the next receive fails with ENOBUFS and
// the caller falls back to a dump.
const infoBatch = 64

// Infos asks the kernel for the tcp_info of the sockets ids, by exact
// request (the 4-tuple, interface and cookie), several per datagram: a
// lookup in the socket hash each, where a dump masked to their state
// walks the whole (machine-wide) table. A socket that is gone, or whose
// tuple now names another socket, is left out. The answers are keyed by
// cookie.
func (d *Dumper) Infos(ids []SocketID) (map[uint64]TCPInfo, error) {
	out := make(map[uint64]TCPInfo, len(ids))
	req := make([]byte, 0, infoBatch*(sizeofNlMsghdr+sizeofDiagReqV2))
	for len(ids) > 0 {
		batch := ids[:min(len(ids), infoBatch)]
		ids = ids[len(batch):]
		req = req[:0]
		first := d.seq + 1
		for _, id := range batch {
			d.seq++
			req = append(req, exactRequest(sockDiagByFamily, unix.NLM_F_REQUEST, d.seq, id, ExtInfo)...)
		}
		last := d.seq
		if err := unix.Sendto(d.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return nil, fmt.Errorf("sock_diag lookups: %w", err)
		}
		// One answer per request: the socket, or an error (gone).
		for pending := len(batch); pending > 0; {
			n, _, err := unix.Recvfrom(d.fd, d.buf, 0)
			if err != nil {
				if err == unix.EINTR {
					continue
				}
				return nil, fmt.Errorf("sock_diag lookups: %w", err)
			}
			answered, err := parseInfoReplies(d.buf[:n], first, last, out)
			if err != nil {
				return nil, err
			}
			pending -= answered
		}
	}
	return out, nil
}

// parseInfoReplies reads one datagram of answers to the exact requests
// numbered first..last: each socket's tcp_info goes into out by cookie,
// an error answer (the socket gone) adds nothing. It returns how many of
// those requests the datagram answered; anything else in it (a stale
// answer to an earlier request) is skipped.
func parseInfoReplies(b []byte, first, last uint32, out map[uint64]TCPInfo) (int, error) {
	ne := binary.NativeEndian
	answered := 0
	for len(b) >= sizeofNlMsghdr {
		l := int(ne.Uint32(b[0:]))
		typ := ne.Uint16(b[4:])
		seq := ne.Uint32(b[8:])
		if l < sizeofNlMsghdr || l > len(b) {
			return answered, fmt.Errorf("sock_diag: malformed netlink message (length %d of %d)", l, len(b))
		}
		if seq >= first && seq <= last {
			answered++
			if typ == sockDiagByFamily {
				if s, ok := parseDiagMsg(b[sizeofNlMsghdr:l]); ok && s.Info != nil {
					out[s.Cookie] = *s.Info
				}
			}
		}
		b = b[min(nlmAlign(l), len(b)):]
	}
	return answered, nil
}
