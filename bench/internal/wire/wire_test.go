package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestEncodersAreByteExact(t *testing.T) {
	tests := []struct {
		name string
		got  []byte
		want []byte
	}{
		{
			name: "connect clean session keep-alive 60",
			got:  AppendConnect(nil, "c1", 60, true),
			want: []byte{0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 2, 'c', '1'},
		},
		{
			name: "connect persistent session empty id",
			got:  AppendConnect(nil, "", 0, false),
			want: []byte{0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x00, 0, 0, 0, 0},
		},
		{
			name: "connect with username and password",
			got:  AppendConnectLogin(nil, "c", 60, true, "u", "pw"),
			want: []byte{0x10, 20, 0, 4, 'M', 'Q', 'T', 'T', 4, 0xc2, 0, 60, 0, 1, 'c', 0, 1, 'u', 0, 2, 'p', 'w'},
		},
		{
			name: "connect with a username alone",
			got:  AppendConnectLogin(nil, "c", 60, false, "u", ""),
			want: []byte{0x10, 16, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x80, 0, 60, 0, 1, 'c', 0, 1, 'u'},
		},
		{
			name: "subscribe qos 1",
			got:  AppendSubscribe(nil, 7, "a/+", 1),
			want: []byte{0x82, 8, 0, 7, 0, 3, 'a', '/', '+', 1},
		},
		{
			name: "publish qos 0 has no packet id",
			got:  AppendPublish(nil, "a/b", 0, false, 99, []byte("hi")),
			want: []byte{0x30, 7, 0, 3, 'a', '/', 'b', 'h', 'i'},
		},
		{
			name: "publish qos 1 dup",
			got:  AppendPublish(nil, "t", 1, true, 0x0102, []byte{0xff}),
			want: []byte{0x3a, 6, 0, 1, 't', 1, 2, 0xff},
		},
		{
			name: "puback",
			got:  AppendPubAck(nil, 0xabcd),
			want: []byte{0x40, 2, 0xab, 0xcd},
		},
		{name: "pubrec", got: AppendPubRec(nil, 0x0102), want: []byte{0x50, 2, 1, 2}},
		{name: "pubrel has flags 0010", got: AppendPubRel(nil, 0x0102), want: []byte{0x62, 2, 1, 2}},
		{name: "pubcomp", got: AppendPubComp(nil, 0x0102), want: []byte{0x70, 2, 1, 2}},
		{name: "pingreq", got: AppendPingReq(nil), want: []byte{0xc0, 0}},
		{name: "disconnect", got: AppendDisconnect(nil), want: []byte{0xe0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Equal(tt.got, tt.want) {
				t.Fatalf("got  % x\nwant % x", tt.got, tt.want)
			}
		})
	}
}

func TestRemainingLengthBoundaries(t *testing.T) {
	// Section 2.2.3, table 2.4: the last value of each encoded width.
	tests := []struct {
		n    int
		want []byte
	}{
		{0, []byte{0x00}},
		{127, []byte{0x7f}},
		{128, []byte{0x80, 0x01}},
		{16383, []byte{0xff, 0x7f}},
		{16384, []byte{0x80, 0x80, 0x01}},
		{2097151, []byte{0xff, 0xff, 0x7f}},
		{2097152, []byte{0x80, 0x80, 0x80, 0x01}},
		{268435455, []byte{0xff, 0xff, 0xff, 0x7f}},
	}
	for _, tt := range tests {
		if got := appendRemaining(nil, tt.n); !bytes.Equal(got, tt.want) {
			t.Errorf("appendRemaining(%d) = % x, want % x", tt.n, got, tt.want)
		}
	}
}

func TestReadDecodesWhatTheEncodersWrite(t *testing.T) {
	payload := bytes.Repeat([]byte{0x5a}, 300) // two-byte remaining length
	var stream []byte
	stream = AppendPublish(stream, "bench/in/3", 1, false, 42, payload)
	stream = AppendPubAck(stream, 42)
	stream = AppendPublish(stream, "x", 0, false, 0, nil)

	r := bufio.NewReader(bytes.NewReader(stream))
	h, buf, err := Read(r, nil)
	if err != nil || h.Type != PUBLISH {
		t.Fatalf("first packet: type %d, err %v", h.Type, err)
	}
	p, err := ParsePublish(h.Flags, h.Body)
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Topic) != "bench/in/3" || p.QoS != 1 || p.PacketID != 42 || !bytes.Equal(p.Payload, payload) {
		t.Fatalf("publish decoded as topic %q qos %d id %d, %d-byte payload", p.Topic, p.QoS, p.PacketID, len(p.Payload))
	}

	h, buf, err = Read(r, buf)
	if err != nil || h.Type != PUBACK {
		t.Fatalf("second packet: type %d, err %v", h.Type, err)
	}
	if id, err := ParsePubAck(h.Body); err != nil || id != 42 {
		t.Fatalf("PUBACK id %d, err %v", id, err)
	}

	h, buf, err = Read(r, buf)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := ParsePublish(h.Flags, h.Body); err != nil || string(p.Topic) != "x" || len(p.Payload) != 0 || p.QoS != 0 {
		t.Fatalf("third packet: %+v, err %v", p, err)
	}
	if _, _, err := Read(r, buf); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last packet: err %v, want EOF", err)
	}
}

func TestMalformedInputIsRejected(t *testing.T) {
	tests := []struct {
		name  string
		parse func() error
		want  string
	}{
		{"remaining length of five bytes", func() error {
			_, _, err := Read(bufio.NewReader(bytes.NewReader([]byte{0x30, 0xff, 0xff, 0xff, 0xff, 0x01})), nil)
			return err
		}, "remaining length"},
		{"truncated body", func() error {
			_, _, err := Read(bufio.NewReader(bytes.NewReader([]byte{0x30, 5, 0, 1})), nil)
			return err
		}, "5-byte body"},
		{"connack too long", func() error { _, err := ParseConnAck([]byte{0, 0, 0}); return err }, "CONNACK"},
		{"suback without codes", func() error { _, _, err := ParseSubAck([]byte{0, 1}); return err }, "SUBACK"},
		{"puback too short", func() error { _, err := ParsePubAck([]byte{1}); return err }, "PUBACK"},
		{"publish qos 3", func() error { _, err := ParsePublish(0x06, []byte{0, 0}); return err }, "QoS 3"},
		{"publish topic overruns body", func() error { _, err := ParsePublish(0, []byte{0, 9, 'a'}); return err }, "topic length 9"},
		{"publish qos 1 without packet id", func() error { _, err := ParsePublish(0x02, []byte{0, 1, 'a', 0}); return err }, "packet id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.parse()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}
