package broker_test

import (
	"io"
	"strings"
	"testing"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
)

func TestConnectRefusedWithReason(t *testing.T) {
	q1, no := byte(1), false
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{
		MaxClientIDLength: 8, MaxQoS: &q1, RetainAvailable: &no}})
	will := func(topic string, qos byte, retain bool) *packets.Will {
		return &packets.Will{Topic: topic, Payload: []byte("w"), QoS: qos, Retain: retain}
	}
	for _, tc := range []struct {
		name string
		cp   *packets.Connect
		want packets.ReasonCode
	}{
		{"client id longer than the limit", v5Connect(strings.Repeat("x", 9)), packets.ClientIdentifierNotValid},
		{"will QoS above Maximum QoS [MQTT-3.2.2-12]", &packets.Connect{ProtocolVersion: packets.V5, CleanStart: true, ClientID: "w1", Will: will("w", 2, false)}, packets.QoSNotSupported},
		{"will retain without Retain Available [MQTT-3.2.2-13]", &packets.Connect{ProtocolVersion: packets.V5, CleanStart: true, ClientID: "w2", Will: will("w", 0, true)}, packets.RetainNotSupported},
		{"3.1.1 client id too long is return code 2", &packets.Connect{ProtocolVersion: packets.V311, CleanStart: true, ClientID: strings.Repeat("y", 9)}, packets.ClientIdentifierNotValid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, tb.addr)
			if ack := c.connect(tc.cp); ack.Reason != tc.want {
				t.Fatalf("CONNACK %v, want %v", ack.Reason, tc.want)
			}
			c.expectClosed()
		})
	}
	if s := tb.Stats(); s.Refused != 4 || s.Sessions != 0 {
		t.Fatalf("stats %+v, want 4 refused and no session", s)
	}
}

func TestSubscribeAndUnsubscribeReasonCodes(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{MaxSubscriptions: 2}})
	c, _ := connectRaw(t, tb.addr, v5Connect("subcodes"))
	c.send(&packets.Subscribe{PacketID: 1, Subscriptions: []packets.Subscription{sub("a", 1), sub("b", 2), sub("c", 0), sub("a", 0)}})
	p := c.next()
	ack, ok := p.(*packets.Suback)
	want := []packets.ReasonCode{packets.GrantedQoS1, packets.GrantedQoS2, packets.QuotaExceeded, packets.GrantedQoS0}
	if !ok || len(ack.Reasons) != len(want) {
		t.Fatalf("got %+v", p)
	}
	for i := range want {
		if ack.Reasons[i] != want[i] {
			t.Fatalf("SUBACK %v, want %v (replacing a subscription is not a new one [MQTT-3.8.4-3])", ack.Reasons, want)
		}
	}
	c.send(&packets.Unsubscribe{PacketID: 2, Filters: []string{"a", "zzz"}})
	p = c.next()
	ua, ok := p.(*packets.Unsuback)
	if !ok || len(ua.Reasons) != 2 || ua.Reasons[0] != packets.Success || ua.Reasons[1] != packets.NoSubscriptionExisted {
		t.Fatalf("got %+v, want UNSUBACK [0x00 0x11]", p)
	}
}

func TestV311SubscribeFailureIs0x80(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{MaxSubscriptions: 1}})
	c, _ := connectRaw(t, tb.addr, &packets.Connect{ProtocolVersion: packets.V311, CleanStart: true, ClientID: "sub311"})
	c.write([]byte{0x82, 0x0c, 0, 1, 0, 1, 'a', 1, 0, 3, 'b', '/', 'c', 1})
	_ = c.conn.SetReadDeadline(deadline())
	got := make([]byte, 6)
	if _, err := io.ReadFull(c.r, got); err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x90, 0x04, 0, 1, 0x01, 0x80}; string(got) != string(want) {
		t.Fatalf("SUBACK % x, want % x", got, want)
	}
}

func TestMQTT31ClientConnects(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	c, _ := connectRaw(t, tb.addr, &packets.Connect{ProtocolName: "MQIsdp", ProtocolVersion: packets.V31, CleanStart: true, ClientID: "old-timer"})
	c.subscribe(1, sub("v31/t", 1))
	c.publish(&packets.Publish{Topic: "v31/t", QoS: 1, PacketID: 2, Payload: []byte("x")})
	if m := c.nextPublish(); string(m.Payload) != "x" {
		t.Fatalf("got %q", m.Payload)
	}
	// 3.1 limits client ids to 23 bytes.
	c2 := dialRaw(t, tb.addr)
	ack := c2.connect(&packets.Connect{ProtocolName: "MQIsdp", ProtocolVersion: packets.V31, CleanStart: true, ClientID: strings.Repeat("z", 24)})
	if ack.Reason != packets.ClientIdentifierNotValid {
		t.Fatalf("CONNACK %v", ack.Reason)
	}
}

func TestClientPublishWithSubscriptionIdentifierIsProtocolError(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	c, _ := connectRaw(t, tb.addr, v5Connect("subid-pub"))
	// PUBLISH "t" with property 0x0B = 1: only the server may send it [MQTT-3.3.4-6].
	c.write([]byte{0x30, 0x06, 0, 1, 't', 0x02, 0x0b, 0x01})
	c.expectDisconnect(packets.ProtocolError)
}
