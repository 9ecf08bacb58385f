package wire

import (
	"bytes"
	"errors"
	"testing"

	_ "github.com/plumemq/plume/conformance/internal/testflags" // accept go test ./conformance/... -broker ...
)

func str(s string) *string { return &s }

// TestEncodersMatchHandWrittenBytes compares each encoder with bytes
// written out from the specification's figures.
func TestEncodersMatchHandWrittenBytes(t *testing.T) {
	cases := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"CONNECT 3.1.1", Connect{Version: 4, ClientID: "ab", CleanStart: true, KeepAlive: 10}.Encode(),
			[]byte{0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 10, 0, 2, 'a', 'b'}},
		{"CONNECT 5.0 with will and credentials", Connect{Version: 5, ClientID: "c", KeepAlive: 60,
			Will: &Will{Topic: "w", Payload: []byte("x"), QoS: 1, Retain: true}, Username: str("u"), Password: []byte("p"),
			Props: Properties{Int(PropSessionExpiry, 300)}}.Encode(),
			[]byte{0x10, 32, 0, 4, 'M', 'Q', 'T', 'T', 5, 0xEC, 0, 60, 5, 0x11, 0, 0, 1, 0x2C,
				0, 1, 'c', 0, 0, 1, 'w', 0, 1, 'x', 0, 1, 'u', 0, 1, 'p'}},
		{"PUBLISH QoS 0 3.1.1", Publish{Topic: "a/b", Payload: []byte("hi")}.Encode(4),
			[]byte{0x30, 7, 0, 3, 'a', '/', 'b', 'h', 'i'}},
		{"PUBLISH QoS 1 retain dup 5.0", Publish{Topic: "t", Payload: []byte("x"), QoS: 1, Retain: true, Dup: true, PacketID: 0x0102,
			Props: Properties{User("k", "v")}}.Encode(5),
			[]byte{0x3B, 14, 0, 1, 't', 1, 2, 7, 0x26, 0, 1, 'k', 0, 1, 'v', 'x'}},
		{"SUBSCRIBE 5.0", Subscribe{PacketID: 10, Subs: []Subscription{{Filter: "a/#", Options: 0x2D}}}.Encode(5),
			[]byte{0x82, 9, 0, 10, 0, 0, 3, 'a', '/', '#', 0x2D}},
		{"UNSUBSCRIBE 3.1.1", Unsubscribe{PacketID: 3, Filters: []string{"x", "y"}}.Encode(4),
			[]byte{0xA2, 8, 0, 3, 0, 1, 'x', 0, 1, 'y'}},
		{"PUBREL 3.1.1", Ack(4, PUBREL, 7, 0, nil), []byte{0x62, 2, 0, 7}},
		{"PUBACK 5.0 success is short", Ack(5, PUBACK, 7, 0, nil), []byte{0x40, 2, 0, 7}},
		{"PUBREC 5.0 with reason", Ack(5, PUBREC, 7, 0x80, nil), []byte{0x50, 4, 0, 7, 0x80, 0}},
		{"DISCONNECT 3.1.1", Disconnect(4, 0, nil), []byte{0xE0, 0}},
		{"DISCONNECT 5.0", Disconnect(5, 0x04, nil), []byte{0xE0, 2, 0x04, 0}},
		{"AUTH", Auth(0x19, nil), []byte{0xF0, 2, 0x19, 0}},
		{"PINGREQ", Pingreq(), []byte{0xC0, 0}},
	}
	for _, c := range cases {
		if !bytes.Equal(c.got, c.want) {
			t.Errorf("%s:\n got % x\nwant % x", c.name, c.got, c.want)
		}
	}
}

// TestVarintBoundaries checks the variable byte integer edges of table 1-1.
func TestVarintBoundaries(t *testing.T) {
	for _, c := range []struct {
		v    uint32
		want []byte
	}{{0, []byte{0}}, {127, []byte{0x7F}}, {128, []byte{0x80, 1}}, {16383, []byte{0xFF, 0x7F}},
		{16384, []byte{0x80, 0x80, 1}}, {2097151, []byte{0xFF, 0xFF, 0x7F}}, {268435455, []byte{0xFF, 0xFF, 0xFF, 0x7F}}} {
		got := AppendVarint(nil, c.v)
		if !bytes.Equal(got, c.want) {
			t.Errorf("%d: got % x, want % x", c.v, got, c.want)
		}
		back, n, err := readVarint(got)
		if err != nil || back != c.v || n != len(got) {
			t.Errorf("%d: decoded %d (%d bytes, %v)", c.v, back, n, err)
		}
	}
	if _, _, err := readVarint([]byte{0xFF, 0xFF, 0xFF, 0xFF, 1}); !errors.Is(err, ErrMalformed) {
		t.Errorf("five byte varint: %v, want ErrMalformed", err)
	}
}

// TestDecodeBrokerPackets decodes packets as a broker would send them.
func TestDecodeBrokerPackets(t *testing.T) {
	p, err := ReadPacket(bytes.NewReader([]byte{0x20, 8, 1, 0, 5, 0x22, 0, 10, 0x24, 1}), 5)
	if err != nil {
		t.Fatal(err)
	}
	if p.Type != CONNACK || !p.SessionPresent || p.ReasonCode != 0 || p.Size != 10 {
		t.Errorf("CONNACK: %+v", p)
	}
	if m, _ := p.Props.Get(PropTopicAliasMaximum); m.Int != 10 {
		t.Errorf("Topic Alias Maximum %d", m.Int)
	}
	p, err = ReadPacket(bytes.NewReader([]byte{0x90, 5, 0, 9, 0, 1, 0x80}), 5)
	if err != nil || p.PacketID != 9 || !bytes.Equal(p.ReasonCodes, []byte{1, 0x80}) {
		t.Errorf("SUBACK: %+v %v", p, err)
	}
	p, err = ReadPacket(bytes.NewReader([]byte{0x32, 7, 0, 1, 'a', 0, 5, 'h', 'i'}), 4)
	if err != nil || p.Topic != "a" || p.QoS != 1 || p.PacketID != 5 || string(p.Payload) != "hi" {
		t.Errorf("PUBLISH: %+v %v", p, err)
	}
}

// TestDecodeRecordsViolations checks the rules a parsable packet can still
// break.
func TestDecodeRecordsViolations(t *testing.T) {
	cases := []struct {
		name  string
		bytes []byte
		rule  string
	}{
		{"non-minimal remaining length", []byte{0xD0, 0x80, 0x00}, "MQTT-1.5.5-1"},
		{"PUBACK with flags", []byte{0x41, 2, 0, 1}, "MQTT-2.1.3-1"},
		{"QoS 0 with DUP", []byte{0x38, 4, 0, 1, 'a', 0}, "MQTT-3.3.1-2"},
		{"wildcard topic", []byte{0x30, 4, 0, 1, '#', 0}, "MQTT-3.3.2-2"},
		{"packet id 0", []byte{0x32, 6, 0, 1, 'a', 0, 0, 0}, "MQTT-2.2.1-4"},
		{"ill-formed UTF-8 topic", []byte{0x30, 4, 0, 1, 0xFF, 0}, "MQTT-1.5.4-1"},
		{"CONNACK reserved flags", []byte{0x20, 3, 2, 0, 0}, "MQTT-3.2.2-1"},
	}
	for _, c := range cases {
		p, err := ReadPacket(bytes.NewReader(c.bytes), 5)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		found := false
		for _, v := range p.Violations {
			found = found || v.Statement == c.rule
		}
		if !found {
			t.Errorf("%s: violations %v, want %s", c.name, p.Violations, c.rule)
		}
	}
}

// TestDecodeRejectsMalformed checks that broken packets are errors, not
// guesses.
func TestDecodeRejectsMalformed(t *testing.T) {
	for name, b := range map[string][]byte{
		"QoS 3 PUBLISH":          {0x36, 5, 0, 1, 'a', 0, 1},
		"topic beyond packet":    {0x30, 2, 0, 9},
		"truncated properties":   {0x20, 3, 0, 0, 5},
		"unknown property":       {0x20, 5, 0, 0, 2, 0x7F, 0},
		"PINGRESP with a body":   {0xD0, 1, 0},
		"3.1.1 CONNACK too long": {0x20, 3, 0, 0, 0},
	} {
		v := byte(5)
		if name == "3.1.1 CONNACK too long" {
			v = 4
		}
		if _, err := ReadPacket(bytes.NewReader(b), v); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}
