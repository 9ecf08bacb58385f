package broker_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
)

func TestSharedSubscriptionBalancedAcrossGroup(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	const members, n = 3, 30
	var cs []*v5Client
	for i := 0; i < members; i++ {
		c, _ := dialV5(t, tb.addr, &paho.Connect{ClientID: fmt.Sprintf("member-%d", i), CleanStart: true, KeepAlive: 30})
		if _, err := c.Subscribe(ctxWait(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "$share/g/work/#", QoS: 1}}}); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	plain, _ := connectRaw(t, tb.addr, v5Connect("everything"))
	plain.subscribe(1, sub("work/#", 0))

	p, _ := connectRaw(t, tb.addr, v5Connect("producer"))
	for i := 1; i <= n; i++ {
		p.publish(&packets.Publish{Topic: "work/item", QoS: 1, PacketID: uint16(i), Payload: []byte(fmt.Sprint(i))})
		p.expectAck(packets.TypePuback, uint16(i))
	}
	for i := 0; i < n; i++ {
		plain.nextPublish() // a non-shared subscriber still gets every message
	}
	for _, c := range cs {
		for j := 0; j < n/members; j++ {
			c.expectMessage(t)
		}
		c.expectNoMessage(t, 50*time.Millisecond)
	}
}

func TestSharedSubscriptionGetsNoRetainedMessages(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	p, _ := connectRaw(t, tb.addr, v5Connect("shared-ret-pub"))
	p.publish(&packets.Publish{Topic: "sr/t", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("r")})
	p.expectAck(packets.TypePuback, 1)
	c, _ := connectRaw(t, tb.addr, v5Connect("shared-ret"))
	c.subscribe(1, sub("$share/g/sr/#", 1))
	c.expectNothing(200 * time.Millisecond) // no retained on shared subscriptions (MQTT 5.0 §3.3.1.3: only a new non-shared one gets them)
}

func TestSharedSubscriptionPrefersOnlineMembers(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	away, _ := connectRaw(t, tb.addr, persistent("away", 60))
	away.subscribe(1, sub("$share/g/on/#", 1))
	away.disconnect(packets.NormalDisconnection)
	here, _ := connectRaw(t, tb.addr, v5Connect("here"))
	here.subscribe(1, sub("$share/g/on/#", 1))
	p, _ := connectRaw(t, tb.addr, v5Connect("on-pub"))
	for i := 1; i <= 4; i++ {
		p.publish(&packets.Publish{Topic: "on/x", QoS: 1, PacketID: uint16(i), Payload: []byte("x")})
	}
	for i := 1; i <= 4; i++ {
		m := here.nextPublish()
		here.ack(packets.TypePuback, m.PacketID)
	}
}

func TestUnsubscribeFromSharedSubscription(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	c, _ := connectRaw(t, tb.addr, v5Connect("unshare"))
	c.subscribe(1, sub("$share/g/u/#", 0))
	c.send(&packets.Unsubscribe{PacketID: 2, Filters: []string{"$share/g/u/#"}})
	p := c.next()
	if ua, ok := p.(*packets.Unsuback); !ok || len(ua.Reasons) != 1 || ua.Reasons[0] != packets.Success {
		t.Fatalf("got %T %+v, want UNSUBACK success", p, p)
	}
	if n := tb.Stats().Subscriptions; n != 0 {
		t.Fatalf("Subscriptions = %d after unsubscribe", n)
	}
}

func TestNoLocalOnSharedSubscriptionIsProtocolError(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	c, _ := connectRaw(t, tb.addr, v5Connect("nolocal-shared"))
	c.send(&packets.Subscribe{PacketID: 1, Subscriptions: []packets.Subscription{{Filter: "$share/g/x", NoLocal: true}}})
	c.expectDisconnect(packets.ProtocolError) // [MQTT-3.8.3-4]
}
