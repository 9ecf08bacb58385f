package broker_test

import (
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
)

func TestRetainedDeliveredOnSubscribeAndClearedByEmptyPayload(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	p, _ := dialV5(t, tb.addr, &paho.Connect{ClientID: "ret-pub", CleanStart: true, KeepAlive: 30})
	if _, err := p.Publish(ctxWait(t), &paho.Publish{Topic: "ret/a", QoS: 1, Retain: true, Payload: []byte("kept")}); err != nil {
		t.Fatal(err)
	}
	s, _ := dialV5(t, tb.addr, &paho.Connect{ClientID: "ret-sub", CleanStart: true, KeepAlive: 30})
	if _, err := s.Subscribe(ctxWait(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "ret/+", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	m := s.expectMessage(t)
	if !m.Retain || string(m.Payload) != "kept" || m.Topic != "ret/a" {
		t.Fatalf("got retain=%v %q on %q", m.Retain, m.Payload, m.Topic)
	}
	// [MQTT-3.3.1-6] an empty retained payload clears the topic; it is
	// still delivered to current subscribers.
	if _, err := p.Publish(ctxWait(t), &paho.Publish{Topic: "ret/a", QoS: 1, Retain: true}); err != nil {
		t.Fatal(err)
	}
	if m := s.expectMessage(t); len(m.Payload) != 0 {
		t.Fatalf("clearing message has payload %q", m.Payload)
	}
	s2, _ := dialV5(t, tb.addr, &paho.Connect{ClientID: "ret-sub2", CleanStart: true, KeepAlive: 30})
	if _, err := s2.Subscribe(ctxWait(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "ret/+", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	s2.expectNoMessage(t, 200*time.Millisecond)
	if n := tb.Stats().Retained; n != 0 {
		t.Fatalf("Retained = %d after clearing", n)
	}
}

func TestRetainHandling(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	p, _ := connectRaw(t, tb.addr, v5Connect("rh-pub"))
	p.publish(&packets.Publish{Topic: "rh/t", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("r")})
	p.expectAck(packets.TypePuback, 1)
	for _, tc := range []struct {
		handling     byte
		first, again bool // retained sent on the first subscribe, on the repeat
	}{
		{0, true, true},
		{1, true, false},
		{2, false, false},
	} {
		c, _ := connectRaw(t, tb.addr, v5Connect("rh-sub"))
		s := packets.Subscription{Filter: "rh/#", QoS: 1, RetainHandling: tc.handling}
		for i, want := range []bool{tc.first, tc.again} {
			c.subscribe(uint16(i+1), s)
			if want {
				m := c.nextPublish()
				if !m.Retain || string(m.Payload) != "r" {
					t.Fatalf("handling %d: got %+v", tc.handling, m)
				}
				c.ack(packets.TypePuback, m.PacketID)
			} else {
				c.expectNothing(100 * time.Millisecond)
			}
		}
		c.disconnect(packets.NormalDisconnection)
	}
}

func TestRetainAsPublishedKeepsFlagOnLiveMessages(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	rap, _ := connectRaw(t, tb.addr, v5Connect("rap"))
	rap.subscribe(1, packets.Subscription{Filter: "rap/t", QoS: 0, RetainAsPublished: true})
	plain, _ := connectRaw(t, tb.addr, v5Connect("plain"))
	plain.subscribe(1, sub("rap/t", 0))
	p, _ := connectRaw(t, tb.addr, v5Connect("rap-pub"))
	p.publish(&packets.Publish{Topic: "rap/t", Retain: true, Payload: []byte("x")})
	if m := rap.nextPublish(); !m.Retain {
		t.Fatal("Retain As Published subscriber got RETAIN 0 [MQTT-3.3.1-13]")
	}
	if m := plain.nextPublish(); m.Retain {
		t.Fatal("ordinary subscriber got RETAIN 1 on a live message [MQTT-3.3.1-12]")
	}
}

func TestNoLocalSuppressesOwnMessages(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	c, _ := connectRaw(t, tb.addr, v5Connect("nolocal"))
	c.subscribe(1, packets.Subscription{Filter: "nl/a", QoS: 1, NoLocal: true}, sub("nl/b", 1))
	c.publish(&packets.Publish{Topic: "nl/a", QoS: 1, PacketID: 1, Payload: []byte("a")})
	c.publish(&packets.Publish{Topic: "nl/b", QoS: 1, PacketID: 2, Payload: []byte("b")})
	// Only the message on nl/b comes back; the acknowledgements are in order.
	var got []string
	for i := 0; i < 3; i++ {
		switch p := c.next().(type) {
		case *packets.Publish:
			got = append(got, string(p.Payload))
			c.ack(packets.TypePuback, p.PacketID)
		case *packets.Ack:
			if p.PacketID == 1 && p.Reason != packets.NoMatchingSubscribers {
				t.Fatalf("PUBACK for nl/a reason %v, want 0x10", p.Reason)
			}
		}
	}
	c.expectNothing(100 * time.Millisecond)
	if len(got) != 1 || got[0] != "b" {
		t.Fatalf("got %q, want only b", got)
	}
}

func TestDollarTopicsNotMatchedByLeadingWildcards(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, SysInterval: 50 * time.Millisecond})
	all, _ := connectRaw(t, tb.addr, v5Connect("wild"))
	all.subscribe(1, sub("#", 0), sub("+/broker/#", 0))
	sys, _ := connectRaw(t, tb.addr, v5Connect("sys"))
	sys.subscribe(1, sub("$SYS/broker/version", 0))
	if m := sys.nextPublish(); m.Topic != "$SYS/broker/version" || len(m.Payload) == 0 {
		t.Fatalf("got %q on %q", m.Payload, m.Topic)
	}
	sys.nextPublish() // and again on the next tick
	all.expectNothing(100 * time.Millisecond)
}

func TestSysTopicsPublishCounters(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, SysInterval: 50 * time.Millisecond})
	c, _ := connectRaw(t, tb.addr, v5Connect("sys-counters"))
	c.subscribe(1, sub("$SYS/broker/clients/connected", 0))
	// The retained value may predate this client; the next tick counts it.
	m := c.nextPublish()
	if string(m.Payload) != "1" {
		m = c.nextPublish()
	}
	if string(m.Payload) != "1" {
		t.Fatalf("clients/connected = %q, want 1", m.Payload)
	}
	// A tick has stored the value: a new subscription gets it retained.
	// The first one's copy may come with a tick before it, not retained
	// [MQTT-3.3.1-12]: before the first tick, the first copy was that
	// (a failure seen once in a hundred runs).
	c.send(&packets.Subscribe{PacketID: 2, Subscriptions: []packets.Subscription{sub("$SYS/broker/clients/+", 0)}})
	for i := 0; ; i++ {
		if p, ok := c.next().(*packets.Publish); ok && p.Retain && p.Topic == "$SYS/broker/clients/connected" {
			break
		}
		if i == 50 {
			t.Fatal("no retained $SYS value after a second SUBSCRIBE: sent without RETAIN")
		}
	}
}

func TestClientMayNotPublishToSys(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	c, _ := connectRaw(t, tb.addr, v5Connect("sys-writer"))
	c.publish(&packets.Publish{Topic: "$SYS/broker/version", QoS: 1, PacketID: 1, Payload: []byte("fake")})
	if a := c.expectAck(packets.TypePuback, 1); a.Reason != packets.NotAuthorized {
		t.Fatalf("PUBACK reason %v, want 0x87", a.Reason)
	}
}

func TestExpiredRetainedMessageNotDelivered(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	p, _ := connectRaw(t, tb.addr, v5Connect("ret-exp-pub"))
	for i, e := range []uint32{1, 60} {
		m := &packets.Publish{Topic: "retexp/" + string(rune('a'+i)), QoS: 1, PacketID: uint16(i + 1), Retain: true, Payload: []byte("x")}
		m.Properties.MessageExpiry = e
		m.Properties.Set(packets.PropMessageExpiry)
		p.publish(m)
		p.expectAck(packets.TypePuback, uint16(i+1))
	}
	time.Sleep(1100 * time.Millisecond) // the first one's lifetime must pass; nothing to await
	c, _ := connectRaw(t, tb.addr, v5Connect("ret-exp-sub"))
	c.subscribe(1, sub("retexp/#", 1))
	m := c.nextPublish()
	if m.Topic != "retexp/b" || m.Properties.MessageExpiry >= 60 {
		t.Fatalf("got %q with expiry %d, want only retexp/b with a reduced expiry", m.Topic, m.Properties.MessageExpiry)
	}
	c.ack(packets.TypePuback, m.PacketID)
	c.expectNothing(100 * time.Millisecond)
	// The expired one is gone from the index, not just skipped.
	if n := tb.Stats().Retained; n != 1 {
		t.Errorf("retained count %d after the expired message was met, want 1", n)
	}
}
