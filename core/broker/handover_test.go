package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
)

// memberConnect is a CONNECT for a shared-subscription member whose session
// ends with its connection: 5.0 with Session Expiry 0, or 3.1.1 with Clean
// Session.
func memberConnect(id string, version byte) *packets.Connect {
	return &packets.Connect{ProtocolName: "MQTT", ProtocolVersion: version, CleanStart: true, ClientID: id, KeepAlive: 60}
}

// publishN publishes n QoS qos messages "1" ... "n" to topic and awaits
// their acknowledgements, so each one was accepted by the broker.
func publishN(t *testing.T, p *rawClient, topic string, qos byte, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		p.publish(&packets.Publish{Topic: topic, QoS: qos, PacketID: uint16(i), Payload: fmt.Append(nil, i)})
		if qos == 1 {
			p.expectAck(packets.TypePuback, uint16(i))
		} else {
			p.expectAck(packets.TypePubrec, uint16(i))
			p.ack(packets.TypePubrel, uint16(i))
			p.expectAck(packets.TypePubcomp, uint16(i))
		}
	}
}

// Issue 16, failure 3: member A of a QoS 1 shared subscription receives
// messages it never acknowledges (three in flight, its window; two queued
// behind them), then its connection is reset and its session ends. All five
// go to member B, in order, as new deliveries: B never saw them, so DUP is 0
// [MQTT-3.3.1-1], and they carry B's own packet ids.
func TestSharedMemberEndingSessionHandsItsMessagesToAnotherMember(t *testing.T) {
	for _, v := range []struct {
		name string
		a, b byte
	}{{"5.0", packets.V5, packets.V5}, {"3.1.1", packets.V311, packets.V311}, {"3.1.1 to 5.0", packets.V311, packets.V5}} {
		t.Run(v.name, func(t *testing.T) {
			tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{MaxInflight: 3}})
			a, _ := connectRaw(t, tb.addr, memberConnect("ho-a", v.a))
			a.subscribe(1, sub("$share/g/ho/#", 1))
			p, _ := connectRaw(t, tb.addr, v5Connect("ho-pub"))
			publishN(t, p, "ho/x", 1, 5)
			for i := 1; i <= 3; i++ {
				if m := a.nextPublish(); string(m.Payload) != fmt.Sprint(i) {
					t.Fatalf("A got %q, want %d", m.Payload, i)
				}
			}
			b, _ := connectRaw(t, tb.addr, memberConnect("ho-b", v.b))
			b.subscribe(1, sub("$share/g/ho/#", 1))
			_ = a.conn.(interface{ SetLinger(int) error }).SetLinger(0) // a reset, not a FIN
			_ = a.conn.Close()
			for i := 1; i <= 5; i++ {
				m := b.nextPublish()
				if string(m.Payload) != fmt.Sprint(i) || m.QoS != 1 || m.Dup {
					t.Fatalf("B got %q QoS %d DUP %v, want %d at QoS 1 without DUP", m.Payload, m.QoS, m.Dup, i)
				}
				b.ack(packets.TypePuback, m.PacketID)
			}
			b.expectNothing(100 * time.Millisecond)
			eventually(t, "five deliveries counted as handed over", func() bool { return tb.Stats().SharedHandedOver == 5 })
			if s := tb.Stats(); s.Dropped != 0 {
				t.Fatalf("Dropped = %d", s.Dropped)
			}
		})
	}
}

// A QoS 2 delivery already sent to the member whose session ends must not go
// to another member [MQTT-4.8.2-5]: it is dropped and counted. The QoS 2
// messages still queued for it were never sent, so they are handed over.
func TestSharedMemberEndingSessionKeepsSentQoS2FromOthers(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{MaxInflight: 3}})
	a, _ := connectRaw(t, tb.addr, memberConnect("ho2-a", packets.V5))
	a.subscribe(1, sub("$share/g/ho2/#", 2))
	p, _ := connectRaw(t, tb.addr, v5Connect("ho2-pub"))
	publishN(t, p, "ho2/x", 2, 5)
	for i := 1; i <= 3; i++ {
		a.nextPublish()
	}
	b, _ := connectRaw(t, tb.addr, memberConnect("ho2-b", packets.V5))
	b.subscribe(1, sub("$share/g/ho2/#", 2))
	_ = a.conn.Close()
	var ids []uint16
	for i := 4; i <= 5; i++ {
		m := b.nextPublish()
		if string(m.Payload) != fmt.Sprint(i) || m.QoS != 2 || m.Dup {
			t.Fatalf("B got %q QoS %d DUP %v, want %d at QoS 2 without DUP", m.Payload, m.QoS, m.Dup, i)
		}
		ids = append(ids, m.PacketID)
	}
	for _, id := range ids {
		b.ack(packets.TypePubrec, id)
		b.expectAck(packets.TypePubrel, id)
		b.ack(packets.TypePubcomp, id)
	}
	b.expectNothing(100 * time.Millisecond)
	eventually(t, "two handed over, three dropped", func() bool {
		s := tb.Stats()
		return s.SharedHandedOver == 2 && s.SharedDropped == 3 && s.Dropped == 3
	})
}

// With no member left, a shared delivery of an ending session has nowhere to
// go: it is dropped and counted.
func TestSharedMemberEndingSessionAloneDropsAndCounts(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{MaxInflight: 3}})
	a, _ := connectRaw(t, tb.addr, memberConnect("ho3-a", packets.V311))
	a.subscribe(1, sub("$share/g/ho3/#", 1))
	p, _ := connectRaw(t, tb.addr, v5Connect("ho3-pub"))
	publishN(t, p, "ho3/x", 1, 5)
	a.nextPublish()
	_ = a.conn.Close()
	eventually(t, "five shared deliveries dropped", func() bool {
		s := tb.Stats()
		return s.SharedDropped == 5 && s.Dropped == 5 && s.Sessions == 1
	})
}
