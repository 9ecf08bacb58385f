package packets

import (
	"bytes"
	"testing"
)

// hotPackets are the packets the broker decodes and encodes per message.
func benchPublish(props bool) *Publish {
	p := &Publish{QoS: 1, Topic: "sensors/building-1/floor-2/temperature", PacketID: 42,
		Payload: bytes.Repeat([]byte("x"), 256)}
	if props {
		p.Properties = Properties{Present: present(PropMessageExpiry, PropContentType, PropTopicAlias),
			MessageExpiry: 60, ContentType: "application/json", TopicAlias: 3,
			SubscriptionIDs: []uint32{7, 300}, User: []UserProperty{{"trace", "abc123"}, {"tenant", "acme"}}}
	}
	return p
}

func splitPacket(tb testing.TB, b []byte) (FixedHeader, []byte) {
	h, n, err := DecodeFixedHeader(b)
	if err != nil {
		tb.Fatal(err)
	}
	return h, b[n:]
}

// TestHotPathDoesNotAllocate guards the zero-allocation promise outside benchmarks.
func TestHotPathDoesNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 1024)
	for _, v := range []byte{V311, V5} {
		wire := benchPublish(false).Append(nil, v)
		h, body := splitPacket(t, wire)
		var p Publish
		if n := testing.AllocsPerRun(100, func() { _ = p.Decode(h, body, v) }); n != 0 {
			t.Errorf("v%d Publish.Decode: %v allocations", v, n)
		}
		if n := testing.AllocsPerRun(100, func() { buf = p.Append(buf[:0], v) }); n != 0 {
			t.Errorf("v%d Publish.Append: %v allocations", v, n)
		}
		ack := &Ack{Kind: TypePuback, PacketID: 42, Reason: NoMatchingSubscribers}
		aw := ack.Append(nil, v)
		ah, abody := splitPacket(t, aw)
		var a Ack
		if n := testing.AllocsPerRun(100, func() { _ = a.Decode(ah, abody, v) }); n != 0 {
			t.Errorf("v%d Ack.Decode: %v allocations", v, n)
		}
		if n := testing.AllocsPerRun(100, func() { buf = a.Append(buf[:0], v) }); n != 0 {
			t.Errorf("v%d Ack.Append: %v allocations", v, n)
		}
	}
	// With properties, a reused value keeps its slices: no allocation after the first.
	wire := benchPublish(true).Append(nil, V5)
	h, body := splitPacket(t, wire)
	var p Publish
	_ = p.Decode(h, body, V5)
	if n := testing.AllocsPerRun(100, func() { _ = p.Decode(h, body, V5) }); n != 0 {
		t.Errorf("reused Publish.Decode with properties: %v allocations", n)
	}
	if n := testing.AllocsPerRun(100, func() { buf = p.Append(buf[:0], V5) }); n != 0 {
		t.Errorf("Publish.Append with properties: %v allocations", n)
	}
}

func benchDecodePublish(b *testing.B, v byte, props bool) {
	wire := benchPublish(props).Append(nil, v)
	h, body := splitPacket(b, wire)
	var p Publish
	b.ReportAllocs()
	b.SetBytes(int64(len(wire)))
	for b.Loop() {
		if err := p.Decode(h, body, v); err != nil {
			b.Fatal(err)
		}
	}
}

func benchEncodePublish(b *testing.B, v byte, props bool) {
	p := benchPublish(props)
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	b.SetBytes(int64(len(p.Append(nil, v))))
	for b.Loop() {
		buf = p.Append(buf[:0], v)
	}
}

func BenchmarkDecodePublish311(b *testing.B)         { benchDecodePublish(b, V311, false) }
func BenchmarkDecodePublish5(b *testing.B)           { benchDecodePublish(b, V5, false) }
func BenchmarkDecodePublish5Properties(b *testing.B) { benchDecodePublish(b, V5, true) }
func BenchmarkEncodePublish311(b *testing.B)         { benchEncodePublish(b, V311, false) }
func BenchmarkEncodePublish5(b *testing.B)           { benchEncodePublish(b, V5, false) }
func BenchmarkEncodePublish5Properties(b *testing.B) { benchEncodePublish(b, V5, true) }

func BenchmarkDecodePublishFresh5Properties(b *testing.B) {
	wire := benchPublish(true).Append(nil, V5)
	h, body := splitPacket(b, wire)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(h, body, V5); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeAck5(b *testing.B) {
	wire := (&Ack{Kind: TypePuback, PacketID: 42}).Append(nil, V5)
	h, body := splitPacket(b, wire)
	var a Ack
	b.ReportAllocs()
	for b.Loop() {
		if err := a.Decode(h, body, V5); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeAck5(b *testing.B) {
	a := &Ack{Kind: TypePuback, PacketID: 42}
	buf := make([]byte, 0, 16)
	b.ReportAllocs()
	for b.Loop() {
		buf = a.Append(buf[:0], V5)
	}
}

func BenchmarkDecodeFixedHeader(b *testing.B) {
	wire := benchPublish(false).Append(nil, V5)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := DecodeFixedHeader(wire); err != nil {
			b.Fatal(err)
		}
	}
}
