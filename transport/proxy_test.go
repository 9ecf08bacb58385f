package transport

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
)

func v2Header(cmd, fam byte, addrs []byte) []byte {
	h := append([]byte(nil), v2Signature...)
	h = append(h, 0x20|cmd, fam)
	h = binary.BigEndian.AppendUint16(h, uint16(len(addrs)))
	return append(h, addrs...)
}

func v2IPv4(src, dst net.IP, sport, dport uint16, tlvs []byte) []byte {
	b := append(append([]byte(nil), src.To4()...), dst.To4()...)
	b = binary.BigEndian.AppendUint16(b, sport)
	b = binary.BigEndian.AppendUint16(b, dport)
	return append(b, tlvs...)
}

func TestProxyHeaders(t *testing.T) {
	v6 := append(append(append([]byte(nil), net.ParseIP("2001:db8::1")...), net.ParseIP("2001:db8::2")...), 0x30, 0x39, 0x07, 0x5b)
	for _, tc := range []struct {
		name, in, remote, local string // remote "" with no error: the socket's address
		fails                   bool
	}{
		{name: "v1 TCP4", in: "PROXY TCP4 203.0.113.7 192.0.2.1 51234 1883\r\n", remote: "203.0.113.7:51234", local: "192.0.2.1:1883"},
		{name: "v1 TCP6", in: "PROXY TCP6 2001:db8::1 2001:db8::2 12345 1883\r\n", remote: "[2001:db8::1]:12345", local: "[2001:db8::2]:1883"},
		{name: "v1 UNKNOWN", in: "PROXY UNKNOWN\r\n"},
		{name: "v1 UNKNOWN with addresses", in: "PROXY UNKNOWN ffff:f...f ffff:f...f 65535 65535\r\n"},
		{name: "v2 IPv4 with a TLV", in: string(v2Header(1, 0x11, v2IPv4(net.ParseIP("198.51.100.9"), net.ParseIP("192.0.2.1"), 40000, 8883, []byte{0x01, 0, 2, 'h', '2'}))), remote: "198.51.100.9:40000", local: "192.0.2.1:8883"},
		{name: "v2 IPv6", in: string(v2Header(1, 0x21, v6)), remote: "[2001:db8::1]:12345", local: "[2001:db8::2]:1883"},
		{name: "v2 LOCAL", in: string(v2Header(0, 0x00, nil))},
		{name: "v2 UNSPEC", in: string(v2Header(1, 0x00, nil))},

		{name: "no header: MQTT straight away", in: "\x10\x0d\x00\x04MQTT\x04\x02\x00\x1e", fails: true},
		{name: "v1 without CR", in: "PROXY TCP4 203.0.113.7 192.0.2.1 51234 1883\n", fails: true},
		{name: "v1 IPv6 address under TCP4", in: "PROXY TCP4 2001:db8::1 192.0.2.1 1 2\r\n", fails: true},
		{name: "v1 port with a leading zero", in: "PROXY TCP4 203.0.113.7 192.0.2.1 051234 1883\r\n", fails: true},
		{name: "v1 port out of range", in: "PROXY TCP4 203.0.113.7 192.0.2.1 65536 1883\r\n", fails: true},
		{name: "v1 missing field", in: "PROXY TCP4 203.0.113.7 192.0.2.1 51234\r\n", fails: true},
		{name: "v1 unknown protocol", in: "PROXY UDP4 203.0.113.7 192.0.2.1 1 2\r\n", fails: true},
		{name: "v1 too long", in: "PROXY TCP4 " + string(bytes.Repeat([]byte{'1'}, 120)) + "\r\n", fails: true},
		{name: "v1 cut short", in: "PROXY TCP4 203.0.113.7", fails: true},
		{name: "v2 version 3", in: string(append(append([]byte(nil), v2Signature...), 0x31, 0x11, 0, 0)), fails: true},
		{name: "v2 command 2", in: string(v2Header(2, 0x11, v2IPv4(net.IPv4(1, 2, 3, 4), net.IPv4(5, 6, 7, 8), 1, 2, nil))), fails: true},
		{name: "v2 UDP", in: string(v2Header(1, 0x12, v2IPv4(net.IPv4(1, 2, 3, 4), net.IPv4(5, 6, 7, 8), 1, 2, nil))), fails: true},
		{name: "v2 addresses cut short", in: string(v2Header(1, 0x11, []byte{1, 2, 3, 4})), fails: true},
		{name: "v2 length past the end", in: string(v2Signature) + "\x21\x11\x00\x40\x01", fails: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bytes.NewReader([]byte(tc.in + "MQTT"))
			remote, local, err := readProxyHeader(r)
			if tc.fails {
				if err == nil {
					t.Fatalf("accepted, remote %v", remote)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := addrString(remote); got != tc.remote {
				t.Fatalf("remote %q, want %q", got, tc.remote)
			}
			if got := addrString(local); got != tc.local {
				t.Fatalf("local %q, want %q", got, tc.local)
			}
			// Byte-exact: what follows the header is still there for the broker.
			rest := make([]byte, 8)
			n, _ := r.Read(rest)
			if string(rest[:n]) != "MQTT" {
				t.Fatalf("after the header %q is left, want MQTT", rest[:n])
			}
		})
	}
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// The parser never panics, and reads exactly the header: what follows it,
// the client's MQTT, is left where it was.
func FuzzProxyHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 203.0.113.7 192.0.2.1 51234 1883\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(v2Header(1, 0x11, v2IPv4(net.IPv4(1, 2, 3, 4), net.IPv4(5, 6, 7, 8), 1, 2, []byte{1, 0, 1, 'x'})))
	f.Add(v2Header(0, 0x00, nil))
	f.Add([]byte("\x10\x0d\x00\x04MQTT"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		if _, _, err := readProxyHeader(r); err != nil {
			return
		}
		header := len(in) - r.Len()
		more := bytes.NewReader(append(append([]byte(nil), in...), "MQTT"...))
		if _, _, err := readProxyHeader(more); err != nil || len(in)+4-more.Len() != header {
			t.Fatalf("header of %d bytes; with bytes after it: %v, %d read", header, err, len(in)+4-more.Len())
		}
	})
}
