package fabric

import (
	"errors"
	"reflect"
	"testing"

	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	props := &packets.Properties{
		PayloadFormat: 1, ContentType: "text/plain", ResponseTopic: "re/ply", CorrelationData: []byte{0, 1},
		User: []packets.UserProperty{{Key: "k", Value: "v"}, {Key: "k", Value: ""}},
	}
	props.Set(packets.PropPayloadFormat)
	props.Set(packets.PropContentType)
	props.Set(packets.PropResponseTopic)
	props.Set(packets.PropCorrelationData)
	props.Set(packets.PropUser)
	for _, m := range []session.Message{
		{Topic: "a/b", Payload: []byte("x"), QoS: 0, Publisher: "p"},
		{Topic: "a.b/*/ /", Payload: []byte("payload"), QoS: 2, Retain: true, Publisher: "é", Props: props},
		{Topic: "t", QoS: 1},
	} {
		env := appendEnvelope(nil, &m, 42, 1500)
		setSeq(env, 7)
		e, err := decodeEnvelope(env)
		if err != nil {
			t.Fatalf("%q: %v", m.Topic, err)
		}
		if e.origin != 42 || e.seq != 7 || e.leftMs != 1500 {
			t.Fatalf("%q: origin %d seq %d left %d", m.Topic, e.origin, e.seq, e.leftMs)
		}
		if !reflect.DeepEqual(e.msg, m) {
			t.Fatalf("decoded %+v\nwant    %+v", e.msg, m)
		}
		// Every truncation is refused or decodes to a shorter payload: never a panic.
		for i := range env {
			if d, err := decodeEnvelope(env[:i]); err == nil && len(d.msg.Payload) >= len(m.Payload) && len(m.Payload) > 0 {
				t.Fatalf("%q cut at %d decoded whole", m.Topic, i)
			}
		}
	}
}

func TestEnvelopeRefusesAnotherVersionAndQoS3(t *testing.T) {
	env := appendEnvelope(nil, &session.Message{Topic: "a"}, 1, 0)
	env[0] = 2
	if _, err := decodeEnvelope(env); !errors.Is(err, errEnvelope) {
		t.Fatalf("version 2: %v", err)
	}
	env[0], env[1] = envelopeVersion, 3
	if _, err := decodeEnvelope(env); !errors.Is(err, errEnvelope) {
		t.Fatalf("QoS 3: %v", err)
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	f.Add(appendEnvelope(nil, &session.Message{Topic: "a/b", Payload: []byte("x"), QoS: 1, Publisher: "p"}, 1, 10))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEnvelope(b)
		if err != nil {
			return
		}
		again := appendEnvelope(nil, &e.msg, e.origin, e.leftMs)
		setSeq(again, e.seq)
		if e2, err := decodeEnvelope(again); err != nil || !reflect.DeepEqual(e2, e) {
			t.Fatalf("re-encoded envelope decodes to %+v, %v; want %+v", e2, err, e)
		}
	})
}

func BenchmarkEnvelope(b *testing.B) {
	m := &session.Message{Topic: "factory/line-7/sensor/temperature", Payload: make([]byte, 64), QoS: 1, Publisher: "sensor-0042"}
	b.Run("encode", func(b *testing.B) {
		buf := make([]byte, 0, 256)
		b.ReportAllocs()
		for b.Loop() {
			buf = appendEnvelope(buf[:0], m, 1, 0)
		}
	})
	b.Run("decode", func(b *testing.B) {
		env := appendEnvelope(nil, m, 1, 0)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeEnvelope(env); err != nil {
				b.Fatal(err)
			}
		}
	})
}
