package broker_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
)

func TestQoSDeliveredAtMinimumOfPublishAndSubscriptionV5(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	for _, tc := range []struct{ pub, sub, want byte }{
		{0, 2, 0}, {1, 2, 1}, {2, 2, 2}, {2, 1, 1}, {2, 0, 0}, {1, 0, 0},
	} {
		t.Run(fmt.Sprintf("pub%d_sub%d", tc.pub, tc.sub), func(t *testing.T) {
			topic := fmt.Sprintf("qos/%d/%d", tc.pub, tc.sub)
			s, _ := dialV5(t, tb.addr, &paho.Connect{ClientID: "sub-" + topic, CleanStart: true, KeepAlive: 30})
			if _, err := s.Subscribe(ctxWait(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: tc.sub}}}); err != nil {
				t.Fatal(err)
			}
			p, _ := dialV5(t, tb.addr, &paho.Connect{ClientID: "pub-" + topic, CleanStart: true, KeepAlive: 30})
			res, err := p.Publish(ctxWait(t), &paho.Publish{Topic: topic, QoS: tc.pub, Payload: []byte("hello")})
			if err != nil {
				t.Fatal(err)
			}
			if tc.pub > 0 && res.ReasonCode != 0 {
				t.Fatalf("publish ack reason %#x", res.ReasonCode)
			}
			m := s.expectMessage(t)
			if m.QoS != tc.want || string(m.Payload) != "hello" || m.Topic != topic {
				t.Fatalf("got qos %d %q on %q, want qos %d", m.QoS, m.Payload, m.Topic, tc.want)
			}
		})
	}
}

func TestQoSRoundTripV311(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	for _, qos := range []byte{0, 1, 2} {
		t.Run("qos"+strconv.Itoa(int(qos)), func(t *testing.T) {
			topic := "v311/qos/" + strconv.Itoa(int(qos))
			got := make(chan mqtt.Message, 10)
			s := dialV311(t, tb.addr, "s311-"+topic, true)
			waitToken(t, s.Subscribe(topic, 2, func(_ mqtt.Client, m mqtt.Message) { got <- m }))
			p := dialV311(t, tb.addr, "p311-"+topic, true)
			waitToken(t, p.Publish(topic, qos, false, "payload"))
			select {
			case m := <-got:
				if m.Qos() != qos || string(m.Payload()) != "payload" {
					t.Fatalf("got qos %d %q", m.Qos(), m.Payload())
				}
			case <-time.After(wait):
				t.Fatal("no message")
			}
		})
	}
}

func TestMessagesOnOneTopicArriveInOrder(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	s, _ := connectRaw(t, tb.addr, v5Connect("order-sub"))
	s.subscribe(1, sub("order", 1))
	p, _ := connectRaw(t, tb.addr, v5Connect("order-pub"))
	const n = 200
	for i := 1; i <= n; i++ {
		p.publish(&packets.Publish{Topic: "order", QoS: 1, PacketID: uint16(i), Payload: []byte(strconv.Itoa(i))})
	}
	for i := 1; i <= n; i++ {
		m := s.nextPublish()
		if string(m.Payload) != strconv.Itoa(i) {
			t.Fatalf("message %d has payload %q", i, m.Payload)
		}
		s.ack(packets.TypePuback, m.PacketID)
	}
	for i := 1; i <= n; i++ {
		p.expectAck(packets.TypePuback, uint16(i))
	}
}

func TestOutboundWindowHonoursClientReceiveMaximum(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	cp := v5Connect("rm-sub")
	cp.Properties.ReceiveMaximum = 2
	cp.Properties.Set(packets.PropReceiveMaximum)
	s, _ := connectRaw(t, tb.addr, cp)
	s.subscribe(1, sub("rm", 1))
	p, _ := connectRaw(t, tb.addr, v5Connect("rm-pub"))
	for i := 1; i <= 5; i++ {
		p.publish(&packets.Publish{Topic: "rm", QoS: 1, PacketID: uint16(i), Payload: []byte{byte('0' + i)}})
		p.expectAck(packets.TypePuback, uint16(i))
	}
	first := s.nextPublish()
	second := s.nextPublish()
	s.expectNothing(200 * time.Millisecond) // window full
	s.ack(packets.TypePuback, first.PacketID)
	third := s.nextPublish()
	s.expectNothing(200 * time.Millisecond)
	if string(first.Payload)+string(second.Payload)+string(third.Payload) != "123" {
		t.Fatalf("got %q %q %q", first.Payload, second.Payload, third.Payload)
	}
	s.ack(packets.TypePuback, second.PacketID)
	s.ack(packets.TypePuback, third.PacketID)
	for _, want := range []string{"4", "5"} {
		m := s.nextPublish()
		if string(m.Payload) != want {
			t.Fatalf("got %q, want %q", m.Payload, want)
		}
	}
}

func TestInboundQoS2ResentPublishIsDeliveredOnce(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	s, _ := connectRaw(t, tb.addr, v5Connect("q2-sub"))
	s.subscribe(1, sub("q2", 2))
	p, _ := connectRaw(t, tb.addr, v5Connect("q2-pub"))
	pub := &packets.Publish{Topic: "q2", QoS: 2, PacketID: 7, Payload: []byte("once")}
	p.publish(pub)
	p.expectAck(packets.TypePubrec, 7)
	pub.Dup = true
	p.publish(pub) // [MQTT-4.3.3-10] the resend is acknowledged, not delivered
	p.expectAck(packets.TypePubrec, 7)
	p.ack(packets.TypePubrel, 7)
	p.expectAck(packets.TypePubcomp, 7)

	m := s.nextPublish()
	if m.QoS != 2 || string(m.Payload) != "once" {
		t.Fatalf("got %+v", m)
	}
	s.ack(packets.TypePubrec, m.PacketID)
	s.expectAck(packets.TypePubrel, m.PacketID)
	s.ack(packets.TypePubcomp, m.PacketID)
	s.expectNothing(200 * time.Millisecond)
}

func TestPubrelForUnknownIDAnsweredWithPubcomp0x92(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	c, _ := connectRaw(t, tb.addr, v5Connect("pubrel-unknown"))
	c.ack(packets.TypePubrel, 99)
	a := c.expectAck(packets.TypePubcomp, 99)
	if a.Reason != packets.PacketIdentifierNotFound {
		t.Fatalf("PUBCOMP reason %v", a.Reason)
	}
}

func TestPublishWithoutSubscribersAcknowledgedWith0x10(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	c, _ := connectRaw(t, tb.addr, v5Connect("nobody"))
	c.publish(&packets.Publish{Topic: "nobody/listens", QoS: 1, PacketID: 1, Payload: []byte("x")})
	if a := c.expectAck(packets.TypePuback, 1); a.Reason != packets.NoMatchingSubscribers {
		t.Fatalf("PUBACK reason %v, want 0x10", a.Reason)
	}
}

func TestSlowConsumerDoesNotStallPublisherOrOthers(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{MaxWriteBuffer: 64 << 10}})
	slow := dialRaw(t, tb.addr)
	slow.connect(v5Connect("slow"))
	slow.subscribe(1, sub("flood", 0))
	// slow never reads again: its socket buffers fill up and QoS 0 is shed.

	fast, _ := connectRaw(t, tb.addr, v5Connect("fast"))
	fast.subscribe(1, sub("flood", 1))
	const n = 600
	got := make(chan int, 1)
	go func() { // reads and acknowledges; no t.Fatal off the test goroutine
		count := 0
		for count < n {
			// Generous: a busy machine may pause this reader for seconds.
			p, err := fast.read(10 * wait)
			if err != nil {
				break
			}
			if m, ok := p.(*packets.Publish); ok {
				count++
				a := packets.Ack{Kind: packets.TypePuback, PacketID: m.PacketID}
				if _, err := fast.conn.Write(a.Append(nil, packets.V5)); err != nil {
					break
				}
			}
		}
		got <- count
	}()

	p, _ := connectRaw(t, tb.addr, v5Connect("flooder"))
	payload := make([]byte, 32<<10)
	for i := 1; i <= n; i++ {
		p.publish(&packets.Publish{Topic: "flood", QoS: 1, PacketID: uint16(i), Payload: payload})
	}
	for i := 1; i <= n; i++ {
		p.expectAck(packets.TypePuback, uint16(i))
	}
	select {
	case c := <-got:
		if c != n {
			t.Fatalf("fast subscriber got %d of %d messages", c, n)
		}
	case <-time.After(10 * wait):
		t.Fatal("fast subscriber stalled")
	}
	if d := tb.Stats().Dropped; d == 0 {
		t.Fatal("no QoS 0 message was shed for the slow consumer")
	}
}

func TestQueueOverflowIsCounted(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{MaxQueued: 3}})
	cp := v5Connect("overflow")
	cp.Properties.SessionExpiry = 60
	cp.Properties.Set(packets.PropSessionExpiry)
	s, _ := connectRaw(t, tb.addr, cp)
	s.subscribe(1, sub("of", 1))
	s.disconnect(packets.NormalDisconnection)
	eventually(t, "subscriber offline", func() bool { return tb.ClientCount() == 0 })

	p, _ := connectRaw(t, tb.addr, v5Connect("of-pub"))
	for i := 1; i <= 5; i++ {
		p.publish(&packets.Publish{Topic: "of", QoS: 1, PacketID: uint16(i), Payload: []byte{byte('0' + i)}})
		p.expectAck(packets.TypePuback, uint16(i))
	}
	if d := tb.Stats().Dropped; d != 2 {
		t.Fatalf("Dropped = %d, want 2", d)
	}
	cp.CleanStart = false
	s2, ack := connectRaw(t, tb.addr, cp)
	if !ack.SessionPresent {
		t.Fatal("session not present")
	}
	for _, want := range []string{"1", "2", "3"} {
		m := s2.nextPublish()
		if string(m.Payload) != want {
			t.Fatalf("got %q, want %q", m.Payload, want)
		}
		s2.ack(packets.TypePuback, m.PacketID)
	}
	s2.expectNothing(200 * time.Millisecond)
}

// ---- paho.mqtt.golang (3.1.1) ----

func dialV311(t *testing.T, addr, id string, clean bool) mqtt.Client {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetCleanSession(clean).SetAutoReconnect(false).SetConnectRetry(false).
		SetProtocolVersion(4).SetKeepAlive(30 * time.Second).SetConnectTimeout(wait)
	c := mqtt.NewClient(o)
	waitToken(t, c.Connect())
	t.Cleanup(func() { c.Disconnect(50) })
	return c
}

func waitToken(t *testing.T, tok mqtt.Token) {
	t.Helper()
	if !tok.WaitTimeout(wait) {
		t.Fatal("token timed out")
	}
	if err := tok.Error(); err != nil {
		t.Fatal(err)
	}
}
