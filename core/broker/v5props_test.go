package broker_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
)

func TestMessageExpiryReducedWhenForwardedAndExpiredNeverSent(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	s, _ := connectRaw(t, tb.addr, persistent("expiry-sub", 60))
	s.subscribe(1, sub("mexp/#", 1))
	s.disconnect(packets.NormalDisconnection)

	p, _ := connectRaw(t, tb.addr, v5Connect("expiry-pub"))
	for i, e := range []uint32{1, 10} {
		m := &packets.Publish{Topic: "mexp/t", QoS: 1, PacketID: uint16(i + 1), Payload: []byte{byte('0' + i)}}
		m.Properties.MessageExpiry = e
		m.Properties.Set(packets.PropMessageExpiry)
		p.publish(m)
		p.expectAck(packets.TypePuback, uint16(i+1))
	}
	time.Sleep(1100 * time.Millisecond) // the first message's lifetime must pass; nothing to await

	cp := persistent("expiry-sub", 60)
	cp.CleanStart = false
	s2, _ := connectRaw(t, tb.addr, cp)
	m := s2.nextPublish()
	if string(m.Payload) != "1" {
		t.Fatalf("got %q: an expired message was sent [MQTT-3.3.2-5]", m.Payload)
	}
	if !m.Properties.Has(packets.PropMessageExpiry) || m.Properties.MessageExpiry >= 10 {
		t.Fatalf("Message Expiry %d, want less than 10 [MQTT-3.3.2-6]", m.Properties.MessageExpiry)
	}
	s2.ack(packets.TypePuback, m.PacketID)
	s2.expectNothing(100 * time.Millisecond)
}

func TestInboundTopicAlias(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	s, _ := dialV5(t, tb.addr, &paho.Connect{ClientID: "alias-sub", CleanStart: true, KeepAlive: 30})
	if _, err := s.Subscribe(ctxWait(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "alias/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	p, ack := dialV5(t, tb.addr, &paho.Connect{ClientID: "alias-pub", CleanStart: true, KeepAlive: 30})
	if ack.Properties == nil || ack.Properties.TopicAliasMaximum == nil || *ack.Properties.TopicAliasMaximum == 0 {
		t.Fatal("CONNACK has no Topic Alias Maximum")
	}
	one := uint16(1)
	for _, topic := range []string{"alias/long/topic", ""} {
		if _, err := p.Publish(ctxWait(t), &paho.Publish{Topic: topic, QoS: 1, Payload: []byte("m"),
			Properties: &paho.PublishProperties{TopicAlias: &one}}); err != nil {
			t.Fatal(err)
		}
		m := s.expectMessage(t)
		if m.Topic != "alias/long/topic" {
			t.Fatalf("delivered on %q", m.Topic)
		}
		if m.Properties != nil && m.Properties.TopicAlias != nil {
			t.Fatal("the publisher's topic alias was forwarded")
		}
	}
}

func TestTopicAliasAboveMaximumDisconnects0x94(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{TopicAliasMaximum: 2}})
	c, _ := connectRaw(t, tb.addr, v5Connect("alias-big"))
	m := &packets.Publish{Topic: "a", Payload: []byte("x")}
	m.Properties.TopicAlias = 3
	m.Properties.Set(packets.PropTopicAlias)
	c.publish(m)
	c.expectDisconnect(packets.TopicAliasInvalid)
}

func TestOutboundTopicAliases(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{OutboundTopicAliases: true}})
	cp := v5Connect("alias-out")
	cp.Properties.TopicAliasMaximum = 1
	cp.Properties.Set(packets.PropTopicAliasMaximum)
	s, _ := connectRaw(t, tb.addr, cp)
	s.subscribe(1, sub("out/#", 0))
	p, _ := connectRaw(t, tb.addr, v5Connect("alias-out-pub"))
	for _, topic := range []string{"out/a", "out/a", "out/b"} {
		p.publish(&packets.Publish{Topic: topic, Payload: []byte(topic)})
	}
	first, second, third := s.nextPublish(), s.nextPublish(), s.nextPublish()
	if first.Topic != "out/a" || first.Properties.TopicAlias != 1 {
		t.Fatalf("first: topic %q alias %d, want out/a with alias 1", first.Topic, first.Properties.TopicAlias)
	}
	if second.Topic != "" || second.Properties.TopicAlias != 1 || string(second.Payload) != "out/a" {
		t.Fatalf("second: topic %q alias %d, want alias 1 only", second.Topic, second.Properties.TopicAlias)
	}
	if third.Topic != "out/b" || third.Properties.Has(packets.PropTopicAlias) {
		t.Fatalf("third: topic %q alias %d, want no alias beyond the client's maximum", third.Topic, third.Properties.TopicAlias)
	}
}

func TestNoOutboundTopicAliasWithoutClientMaximum(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{OutboundTopicAliases: true}})
	s, _ := connectRaw(t, tb.addr, v5Connect("alias-none"))
	s.subscribe(1, sub("none/#", 0))
	p, _ := connectRaw(t, tb.addr, v5Connect("alias-none-pub"))
	p.publish(&packets.Publish{Topic: "none/a", Payload: []byte("x")})
	if m := s.nextPublish(); m.Properties.Has(packets.PropTopicAlias) {
		t.Fatal("alias sent to a client whose Topic Alias Maximum is 0 [MQTT-3.3.2-9]")
	}
}

func TestSubscriptionIdentifiersOfEveryMatchingSubscription(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	s, _ := connectRaw(t, tb.addr, v5Connect("subid"))
	for i, f := range map[uint32]string{5: "si/#", 7: "si/+"} {
		sp := &packets.Subscribe{PacketID: uint16(i), Subscriptions: []packets.Subscription{sub(f, 1)}}
		sp.Properties.SubscriptionIDs = []uint32{i}
		sp.Properties.Set(packets.PropSubscriptionID)
		s.send(sp)
		s.expectSuback(uint16(i))
	}
	s.subscribe(9, sub("si/x", 0)) // no identifier
	p, _ := connectRaw(t, tb.addr, v5Connect("subid-pub"))
	p.publish(&packets.Publish{Topic: "si/x", QoS: 1, PacketID: 1, Payload: []byte("x")})
	m := s.nextPublish()
	ids := slices.Sorted(slices.Values(m.Properties.SubscriptionIDs))
	if !slices.Equal(ids, []uint32{5, 7}) {
		t.Fatalf("Subscription Identifiers %v, want [5 7]", ids)
	}
	if m.QoS != 1 {
		t.Fatalf("merged delivery QoS %d, want the highest, 1", m.QoS)
	}
	s.ack(packets.TypePuback, m.PacketID)
	s.expectNothing(100 * time.Millisecond) // one copy per client
}

func TestRequestResponseAndUserPropertiesForwarded(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	s, _ := dialV5(t, tb.addr, &paho.Connect{ClientID: "props-sub", CleanStart: true, KeepAlive: 30})
	if _, err := s.Subscribe(ctxWait(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "req", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	p, _ := dialV5(t, tb.addr, &paho.Connect{ClientID: "props-pub", CleanStart: true, KeepAlive: 30})
	pf := byte(1)
	user := paho.UserProperties{{Key: "b", Value: "2"}, {Key: "a", Value: "1"}, {Key: "b", Value: "3"}}
	if _, err := p.Publish(ctxWait(t), &paho.Publish{Topic: "req", QoS: 1, Payload: []byte("héllo"),
		Properties: &paho.PublishProperties{ResponseTopic: "resp/1", CorrelationData: []byte{1, 2, 3},
			ContentType: "text/plain", PayloadFormat: &pf, User: user}}); err != nil {
		t.Fatal(err)
	}
	m := s.expectMessage(t)
	pp := m.Properties
	if pp == nil || pp.ResponseTopic != "resp/1" || !bytes.Equal(pp.CorrelationData, []byte{1, 2, 3}) ||
		pp.ContentType != "text/plain" || pp.PayloadFormat == nil || *pp.PayloadFormat != 1 {
		t.Fatalf("properties not forwarded: %+v", pp)
	}
	if !slices.Equal(pp.User, user) {
		t.Fatalf("user properties %v, want %v in order [MQTT-3.3.2-18]", pp.User, user)
	}
}

func TestInvalidUTF8WithPayloadFormatIndicatorRejected0x99(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	c, _ := connectRaw(t, tb.addr, v5Connect("utf8"))
	// Built by hand: our encoder may refuse to write it.
	body := []byte{0, 1, 't', 0, 1, 2, 0x01, 0x01, 0xff, 0xfe}
	c.write(append([]byte{0x32, byte(len(body))}, body...))
	c.expectDisconnect(packets.PayloadFormatInvalid)
}

func TestMaximumPacketSizeInbound(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{MaxPacketSize: 1024}})
	c, ack := connectRaw(t, tb.addr, v5Connect("big-in"))
	if ack.Properties.MaximumPacketSize != 1024 {
		t.Fatalf("CONNACK Maximum Packet Size %d", ack.Properties.MaximumPacketSize)
	}
	c.publish(&packets.Publish{Topic: "big", Payload: make([]byte, 2000)})
	c.expectDisconnect(packets.PacketTooLarge)
}

func TestMaximumPacketSizeOutboundSkipsTooLargeMessages(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	cp := v5Connect("small-out")
	cp.Properties.MaximumPacketSize = 200
	cp.Properties.Set(packets.PropMaximumPacketSize)
	s, _ := connectRaw(t, tb.addr, cp)
	s.subscribe(1, sub("size/#", 1))
	p, _ := connectRaw(t, tb.addr, v5Connect("small-out-pub"))
	p.publish(&packets.Publish{Topic: "size/a", QoS: 1, PacketID: 1, Payload: make([]byte, 500)})
	p.publish(&packets.Publish{Topic: "size/b", QoS: 1, PacketID: 2, Payload: []byte("small")})
	if m := s.nextPublish(); string(m.Payload) != "small" { // [MQTT-3.1.2-25]
		t.Fatalf("got %d bytes on %q", len(m.Payload), m.Topic)
	}
}

func TestReceiveMaximumExceededByClientDisconnects0x93(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{MaxInflight: 2}})
	c, ack := connectRaw(t, tb.addr, v5Connect("greedy"))
	if ack.Properties.ReceiveMaximum != 2 {
		t.Fatalf("CONNACK Receive Maximum %d", ack.Properties.ReceiveMaximum)
	}
	for i := uint16(1); i <= 2; i++ {
		c.publish(&packets.Publish{Topic: "rm/in", QoS: 2, PacketID: i, Payload: []byte("x")})
		c.expectAck(packets.TypePubrec, i)
	}
	c.publish(&packets.Publish{Topic: "rm/in", QoS: 2, PacketID: 3, Payload: []byte("x")})
	c.expectDisconnect(packets.ReceiveMaximumExceeded)
}

func TestConnackCapabilityProperties(t *testing.T) {
	q1, no := byte(1), false
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{
		MaxQoS: &q1, RetainAvailable: &no, MaxInflight: 10, MaxPacketSize: 4096, TopicAliasMaximum: 5}})
	_, ack := connectRaw(t, tb.addr, v5Connect("caps"))
	p := ack.Properties
	for _, c := range []struct {
		name      string
		id        packets.PropID
		got, want uint64
	}{
		{"Receive Maximum", packets.PropReceiveMaximum, uint64(p.ReceiveMaximum), 10},
		{"Maximum Packet Size", packets.PropMaximumPacketSize, uint64(p.MaximumPacketSize), 4096},
		{"Topic Alias Maximum", packets.PropTopicAliasMaximum, uint64(p.TopicAliasMaximum), 5},
		{"Maximum QoS", packets.PropMaximumQoS, uint64(p.MaximumQoS), 1},
		{"Retain Available", packets.PropRetainAvailable, uint64(p.RetainAvailable), 0},
		{"Wildcard Subscription Available", packets.PropWildcardSubAvailable, uint64(p.WildcardSubAvailable), 1},
		{"Subscription Identifiers Available", packets.PropSubIDAvailable, uint64(p.SubIDAvailable), 1},
		{"Shared Subscription Available", packets.PropSharedSubAvailable, uint64(p.SharedSubAvailable), 1},
	} {
		if !p.Has(c.id) || c.got != c.want {
			t.Errorf("%s = %d (present %v), want %d", c.name, c.got, p.Has(c.id), c.want)
		}
	}
	// What was announced is enforced.
	c, _ := connectRaw(t, tb.addr, v5Connect("caps-violator"))
	c.publish(&packets.Publish{Topic: "caps", QoS: 2, PacketID: 1, Payload: []byte("x")})
	c.expectDisconnect(packets.QoSNotSupported)
	c, _ = connectRaw(t, tb.addr, v5Connect("caps-violator"))
	c.publish(&packets.Publish{Topic: "caps", Retain: true, Payload: []byte("x")})
	c.expectDisconnect(packets.RetainNotSupported)
}

func TestOutboundAliasNotAssignedByADiscardedMessage(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{OutboundTopicAliases: true}})
	cp := v5Connect("alias-size")
	cp.Properties.TopicAliasMaximum = 1
	cp.Properties.MaximumPacketSize = 200
	cp.Properties.Set(packets.PropTopicAliasMaximum)
	cp.Properties.Set(packets.PropMaximumPacketSize)
	s, _ := connectRaw(t, tb.addr, cp)
	s.subscribe(1, sub("as/#", 0))
	p, _ := connectRaw(t, tb.addr, v5Connect("alias-size-pub"))
	p.publish(&packets.Publish{Topic: "as/a", Payload: make([]byte, 500)}) // too large: never sent
	p.publish(&packets.Publish{Topic: "as/a", Payload: []byte("small")})
	m := s.nextPublish()
	if m.Topic != "as/a" {
		t.Fatalf("topic %q alias %d: the client never learnt this alias", m.Topic, m.Properties.TopicAlias)
	}
}

func TestResentQoS2AtReceiveMaximumIsAcknowledged(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{MaxInflight: 2}})
	c, _ := connectRaw(t, tb.addr, v5Connect("resender"))
	for i := uint16(1); i <= 2; i++ {
		c.publish(&packets.Publish{Topic: "rm/dup", QoS: 2, PacketID: i, Payload: []byte("x")})
		c.expectAck(packets.TypePubrec, i)
	}
	// Resending an id already counted does not add to the window [MQTT-4.3.3-10].
	c.publish(&packets.Publish{Topic: "rm/dup", QoS: 2, PacketID: 2, Dup: true, Payload: []byte("x")})
	c.expectAck(packets.TypePubrec, 2)
}

func TestReasonStringDroppedWhenAboveClientMaximumPacketSize(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	cp := v5Connect("tiny")
	cp.Properties.MaximumPacketSize = 16
	cp.Properties.Set(packets.PropMaximumPacketSize)
	c, _ := connectRaw(t, tb.addr, cp)
	c.write([]byte{0x30, 0x04, 0, 1, '#', 0}) // a wildcard in a topic name
	got := readToClose(t, c)
	// [MQTT-3.14.2-3] the Reason String is left out rather than exceed the limit.
	if len(got) > 16 || len(got) < 3 || got[0] != 0xe0 || got[2] != byte(packets.TopicNameInvalid) {
		t.Fatalf("DISCONNECT % x (%d bytes), want 0x90 within 16 bytes", got, len(got))
	}
}
