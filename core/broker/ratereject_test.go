package broker_test

import (
	"context"
	"strings"
	"testing"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
)

// rateHooks refuses publishes as a rate-limit plugin does: the topic's
// first level names the reason code.
type rateHooks struct{ hooks.Base }

func (rateHooks) Provides(p hooks.Point) bool { return p == hooks.PointOnPublish }

func (rateHooks) OnPublish(_ context.Context, _ *hooks.Client, m *packets.Publish) (hooks.PublishResult, error) {
	switch {
	case strings.HasPrefix(m.Topic, "quota/"):
		return hooks.PublishResult{Action: hooks.Reject, Reason: packets.QuotaExceeded, ReasonString: "byte rate too high"}, nil
	case strings.HasPrefix(m.Topic, "rate/"):
		return hooks.PublishResult{Action: hooks.Reject, Reason: packets.MessageRateTooHigh, ReasonString: "message rate too high"}, nil
	case strings.HasPrefix(m.Topic, "banned/"):
		return hooks.PublishResult{Action: hooks.Reject, Reason: packets.Banned}, nil
	case strings.HasPrefix(m.Topic, "format/"):
		return hooks.PublishResult{Action: hooks.Reject, Reason: packets.PayloadFormatInvalid}, nil
	}
	return hooks.PublishResult{}, nil
}

// A 3.1.1 publisher cannot be told that its message was refused; one over a
// rate or quota is disconnected [MQTT-3.3.5-2] rather than acknowledged,
// so that it stops, and its unacknowledged message is sent again when it
// reconnects instead of being lost.
func TestV311PublisherOverALimitIsDisconnected(t *testing.T) {
	tb := startBroker(t, broker.Options{Hooks: rateHooks{}, AllowAnonymous: true})
	for _, tc := range []struct {
		topic string
		qos   byte
	}{{"quota/x", 1}, {"rate/x", 0}, {"quota/x", 2}} {
		cp := v5Connect("v3-" + tc.topic)
		cp.ProtocolVersion = packets.V311
		c, _ := connectRaw(t, tb.addr, cp)
		var id uint16
		if tc.qos > 0 {
			id = 7
		}
		c.publish(&packets.Publish{Topic: tc.topic, QoS: tc.qos, PacketID: id, Payload: []byte("x")})
		c.expectClosed()
	}
	// Other refusals keep the 3.1.1 behaviour: acknowledged and dropped.
	cp := v5Connect("v3-format")
	cp.ProtocolVersion = packets.V311
	c, _ := connectRaw(t, tb.addr, cp)
	c.publish(&packets.Publish{Topic: "format/x", QoS: 1, PacketID: 1, Payload: []byte("x")})
	if a := c.expectAck(packets.TypePuback, 1); a.Reason != packets.Success {
		t.Fatalf("3.1.1 PUBACK %v", a.Reason)
	}
}

// A 5.0 publisher over a limit keeps its connection and gets the reason on
// its acknowledgement; a hook's reason code that PUBACK and PUBREC may not
// carry (0x96 is a DISCONNECT code, 0x8A a CONNACK one) is not sent as is,
// which would break the client's decoder [MQTT-3.4.2-1].
func TestV5RefusalReasonsFitTheAcknowledgement(t *testing.T) {
	tb := startBroker(t, broker.Options{Hooks: rateHooks{}, AllowAnonymous: true})
	c, _ := connectRaw(t, tb.addr, v5Connect("v5-rate"))
	for i, tc := range []struct {
		topic string
		qos   byte
		want  packets.ReasonCode
	}{
		{"quota/x", 1, packets.QuotaExceeded},
		{"rate/x", 1, packets.QuotaExceeded},
		{"rate/x", 2, packets.QuotaExceeded},
		{"banned/x", 1, packets.UnspecifiedError},
		{"format/x", 1, packets.PayloadFormatInvalid},
	} {
		id := uint16(i + 1)
		c.publish(&packets.Publish{Topic: tc.topic, QoS: tc.qos, PacketID: id, Payload: []byte("x")})
		kind := packets.TypePuback
		if tc.qos == 2 {
			kind = packets.TypePubrec
		}
		if a := c.expectAck(kind, id); a.Reason != tc.want {
			t.Errorf("%s QoS %d: %v, want %v", tc.topic, tc.qos, a.Reason, tc.want)
		}
	}
	c.publish(&packets.Publish{Topic: "rate/x", Payload: []byte("x")}) // QoS 0: nothing to answer
	c.publish(&packets.Publish{Topic: "ok", QoS: 1, PacketID: 99, Payload: []byte("x")})
	if a := c.expectAck(packets.TypePuback, 99); a.Reason.IsError() {
		t.Fatalf("after the refusals: %v", a.Reason)
	}
}
