package broker_test

import (
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
)

func persistent(id string, expiry uint32) *packets.Connect {
	cp := v5Connect(id)
	cp.Properties.SessionExpiry = expiry
	cp.Properties.Set(packets.PropSessionExpiry)
	return cp
}

func TestKeepAliveZeroOutlivesConnectTimeout(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{ConnectTimeout: 200 * time.Millisecond}})
	c, _ := connectRaw(t, tb.addr, v5Connect("idle"))
	c.expectNothing(500 * time.Millisecond) // idle past the CONNECT timeout
	c.send(&packets.Pingreq{})
	if p := c.next(); p.Type() != packets.TypePingresp {
		t.Fatalf("got %T, want PINGRESP", p)
	}
}

func TestKeepAliveExpiryDisconnectsWith0x8D(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	cp := v5Connect("silent")
	cp.KeepAlive = 1
	c, _ := connectRaw(t, tb.addr, cp)
	start := time.Now()
	c.expectDisconnect(packets.KeepAliveTimeout)
	if d := time.Since(start); d < time.Second {
		t.Fatalf("disconnected after %v, before 1.5 x keep-alive", d)
	}
}

func TestServerKeepAliveLowersClientKeepAlive(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{MaxKeepAlive: 1}})
	cp := v5Connect("keep60")
	cp.KeepAlive = 60
	c, ack := connectRaw(t, tb.addr, cp)
	if !ack.Properties.Has(packets.PropServerKeepAlive) || ack.Properties.ServerKeepAlive != 1 {
		t.Fatalf("CONNACK Server Keep Alive = %v (present %v), want 1", ack.Properties.ServerKeepAlive, ack.Properties.Has(packets.PropServerKeepAlive))
	}
	c.expectDisconnect(packets.KeepAliveTimeout)
}

func TestTakeoverSendsDisconnect0x8EToOldConnection(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	old, _ := connectRaw(t, tb.addr, persistent("twin", 60))
	old.subscribe(1, sub("twin/t", 1))
	cp := persistent("twin", 60)
	cp.CleanStart = false
	nu, ack := connectRaw(t, tb.addr, cp)
	if !ack.SessionPresent {
		t.Fatal("taken-over session not present")
	}
	old.expectDisconnect(packets.SessionTakenOver)
	p, _ := connectRaw(t, tb.addr, v5Connect("twin-pub"))
	p.publish(&packets.Publish{Topic: "twin/t", QoS: 1, PacketID: 1, Payload: []byte("x")})
	if m := nu.nextPublish(); string(m.Payload) != "x" {
		t.Fatalf("got %q", m.Payload)
	}
}

func TestTakeoverOfV311ClosesOldConnection(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	cp := &packets.Connect{ProtocolVersion: packets.V311, ClientID: "twin311", CleanStart: true}
	old, _ := connectRaw(t, tb.addr, cp)
	connectRaw(t, tb.addr, &packets.Connect{ProtocolVersion: packets.V311, ClientID: "twin311", CleanStart: true})
	old.expectClosed() // 3.1.1 has no DISCONNECT from the server
}

func TestQoS1RedeliveredWithDupOnResume(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	s, _ := connectRaw(t, tb.addr, persistent("dup", 60))
	s.subscribe(1, sub("dup/t", 2))
	p, _ := connectRaw(t, tb.addr, v5Connect("dup-pub"))
	p.publish(&packets.Publish{Topic: "dup/t", QoS: 1, PacketID: 1, Payload: []byte("a")})
	p.publish(&packets.Publish{Topic: "dup/t", QoS: 2, PacketID: 2, Payload: []byte("b")})
	first := s.nextPublish()
	second := s.nextPublish()
	if first.Dup || second.Dup {
		t.Fatal("DUP set on first delivery")
	}
	s.ack(packets.TypePubrec, second.PacketID)
	s.expectAck(packets.TypePubrel, second.PacketID)
	_ = s.conn.Close() // without acknowledging first or completing second

	cp := persistent("dup", 60)
	cp.CleanStart = false
	s2, ack := connectRaw(t, tb.addr, cp)
	if !ack.SessionPresent {
		t.Fatal("session not present")
	}
	again := s2.nextPublish()
	if !again.Dup || again.PacketID != first.PacketID || string(again.Payload) != "a" {
		t.Fatalf("resent %+v, want DUP copy of id %d", again, first.PacketID)
	}
	// [MQTT-4.4.0-1] the PUBREL of the released QoS 2 message is resent too.
	s2.expectAck(packets.TypePubrel, second.PacketID)
	s2.ack(packets.TypePuback, again.PacketID)
	s2.ack(packets.TypePubcomp, second.PacketID)
	s2.expectNothing(200 * time.Millisecond)
}

func TestCleanStartDiscardsSession(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	s, _ := connectRaw(t, tb.addr, persistent("clean", 60))
	s.subscribe(1, sub("clean/t", 1))
	s.disconnect(packets.NormalDisconnection)
	s2, ack := connectRaw(t, tb.addr, persistent("clean", 60)) // Clean Start 1
	if ack.SessionPresent {
		t.Fatal("session present after Clean Start")
	}
	p, _ := connectRaw(t, tb.addr, v5Connect("clean-pub"))
	p.publish(&packets.Publish{Topic: "clean/t", QoS: 1, PacketID: 1, Payload: []byte("x")})
	if a := p.expectAck(packets.TypePuback, 1); a.Reason != packets.NoMatchingSubscribers {
		t.Fatalf("old subscription survived Clean Start: PUBACK %v", a.Reason)
	}
	s2.expectNothing(100 * time.Millisecond)
}

func TestSessionEndsAfterExpiryInterval(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	s, _ := connectRaw(t, tb.addr, persistent("expiring", 1))
	s.subscribe(1, sub("exp/t", 1))
	s.disconnect(packets.NormalDisconnection)
	if n := tb.Stats().Sessions; n != 1 {
		t.Fatalf("Sessions = %d right after disconnect, want 1", n)
	}
	eventually(t, "session expiry", func() bool { return tb.Stats().Sessions == 0 && tb.Stats().Subscriptions == 0 })
	cp := persistent("expiring", 1)
	cp.CleanStart = false
	_, ack := connectRaw(t, tb.addr, cp)
	if ack.SessionPresent {
		t.Fatal("expired session resumed")
	}
}

func TestSessionExpiryChangedOnDisconnect(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	s, _ := connectRaw(t, tb.addr, persistent("shorten", 600))
	d := &packets.Disconnect{Reason: packets.NormalDisconnection}
	d.Properties.SessionExpiry = 0
	d.Properties.Set(packets.PropSessionExpiry)
	s.send(d)
	s.expectClosed()
	eventually(t, "session ended by DISCONNECT expiry 0", func() bool { return tb.Stats().Sessions == 0 })
}

func TestDisconnectMayNotReviveSessionWithExpiryZero(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	s, _ := connectRaw(t, tb.addr, v5Connect("revive"))
	d := &packets.Disconnect{Reason: packets.NormalDisconnection}
	d.Properties.SessionExpiry = 60
	d.Properties.Set(packets.PropSessionExpiry)
	s.send(d)
	s.expectDisconnect(packets.ProtocolError) // [MQTT-3.14.2-2]
}

func TestAssignedClientIdentifierForEmptyID(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	_, ack := connectRaw(t, tb.addr, v5Connect(""))
	if !ack.Properties.Has(packets.PropAssignedClientID) || ack.Properties.AssignedClientID == "" {
		t.Fatal("no Assigned Client Identifier")
	}
	// 3.1.1 without Clean Session may not use an empty id [MQTT-3.1.3-8].
	c := dialRaw(t, tb.addr)
	ack = c.connect(&packets.Connect{ProtocolVersion: packets.V311})
	if ack.Reason != packets.ClientIdentifierNotValid { // return code 2 on the wire
		t.Fatalf("3.1.1 CONNACK %v, want identifier rejected", ack.Reason)
	}
}

func TestPersistentSessionResumeV5(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	expiry := uint32(60)
	cp := &paho.Connect{ClientID: "paho-persist", CleanStart: true, KeepAlive: 30,
		Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}}
	c, _ := dialV5(t, tb.addr, cp)
	if _, err := c.Subscribe(ctxWait(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "persist/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Disconnect(&paho.Disconnect{}); err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	eventually(t, "disconnect", func() bool { return tb.ClientCount() == 0 })

	p, _ := dialV5(t, tb.addr, &paho.Connect{ClientID: "paho-persist-pub", CleanStart: true, KeepAlive: 30})
	if _, err := p.Publish(ctxWait(t), &paho.Publish{Topic: "persist/a", QoS: 1, Payload: []byte("while away")}); err != nil {
		t.Fatal(err)
	}
	cp.CleanStart = false
	c2, ack := dialV5(t, tb.addr, cp)
	if !ack.SessionPresent {
		t.Fatal("session not present")
	}
	if m := c2.expectMessage(t); string(m.Payload) != "while away" || m.QoS != 1 {
		t.Fatalf("got %q qos %d", m.Payload, m.QoS)
	}
}

func TestPersistentSessionResumeV311(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	got := make(chan mqtt.Message, 10)
	o := mqtt.NewClientOptions().AddBroker("tcp://" + tb.addr).SetClientID("p311").
		SetCleanSession(false).SetAutoReconnect(false).SetProtocolVersion(4).SetConnectTimeout(wait).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { got <- m })
	c := mqtt.NewClient(o)
	waitToken(t, c.Connect())
	waitToken(t, c.Subscribe("p311/t", 1, nil))
	c.Disconnect(50)
	eventually(t, "disconnect", func() bool { return tb.ClientCount() == 0 })

	p := dialV311(t, tb.addr, "p311-pub", true)
	waitToken(t, p.Publish("p311/t", 1, false, "queued"))

	c = mqtt.NewClient(o)
	tok := c.Connect()
	waitToken(t, tok)
	defer c.Disconnect(50)
	if !tok.(*mqtt.ConnectToken).SessionPresent() {
		t.Fatal("session not present")
	}
	select {
	case m := <-got:
		if string(m.Payload()) != "queued" {
			t.Fatalf("got %q", m.Payload())
		}
	case <-time.After(wait):
		t.Fatal("queued message not delivered on resume")
	}
}
