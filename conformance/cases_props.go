package conformance

import (
	"bytes"
	"strings"
	"time"

	"github.com/plumemq/plume/conformance/wire"
)

// MQTT 5.0 properties of PUBLISH (3.3.2.3), topic aliases, maximum packet
// size and problem information (3.1.2.11).

// brokerAliasMax returns the Topic Alias Maximum that the broker announced.
func brokerAliasMax(ack *wire.Packet) uint32 {
	if p, ok := ack.Props.Get(wire.PropTopicAliasMaximum); ok {
		return p.Int
	}
	return 0
}

var propertyCases = []Case{
	{Name: "PublishPropertiesForwardedUnaltered", V5: []string{"3.3.2-4", "3.3.2-15", "3.3.2-16", "3.3.2-17", "3.3.2-18", "3.3.2-20"}, Run: func(t *T) {
		topic := t.Topic("p")
		sub := t.Client("sub")
		sub.MustSubscribe(topic, 1)
		pub := t.Client("pub")
		resp := t.Topic("reply")
		pub.Publish(topic, "{}", 1, false,
			wire.Int(wire.PropPayloadFormat, 1), wire.Str(wire.PropResponseTopic, resp),
			wire.Bin(wire.PropCorrelationData, []byte{0, 1, 2, 0xff}), wire.User("z", "1"), wire.User("a", "2"),
			wire.User("z", "3"), wire.Str(wire.PropContentType, "application/json; charset=utf-8"))
		p := sub.ExpectPublish()
		f, _ := p.Props.Get(wire.PropPayloadFormat)
		t.Check(p.Props.Has(wire.PropPayloadFormat) && f.Int == 1, "Payload Format Indicator %v", f)
		r, _ := p.Props.Get(wire.PropResponseTopic)
		t.Check(r.Str == resp, "Response Topic %q, want %q", r.Str, resp)
		c, _ := p.Props.Get(wire.PropCorrelationData)
		t.Check(bytes.Equal(c.Bin, []byte{0, 1, 2, 0xff}), "Correlation Data % x", c.Bin)
		ct, _ := p.Props.Get(wire.PropContentType)
		t.Check(ct.Str == "application/json; charset=utf-8", "Content Type %q", ct.Str)
		checkUserProps(t, p, [][2]string{{"z", "1"}, {"a", "2"}, {"z", "3"}})
	}},
	{Name: "MessageExpiryApplied", V5: []string{"3.3.2-5", "3.3.2-6"}, Timeout: 9 * time.Second, Run: func(t *T) {
		topic := t.Topic("e")
		c, _ := t.persistent("e", false, 300)
		c.MustSubscribe(topic, 1)
		c.Disconnect()
		pub := t.Client("pub")
		pub.Publish(topic, "short", 1, false, wire.Int(wire.PropMessageExpiry, 1))
		pub.Publish(topic, "long", 1, false, wire.Int(wire.PropMessageExpiry, 60))
		t.Idle(2200*time.Millisecond, pub) // message expiry is a timer: nothing to await
		c, _ = t.persistent("e", false, 300)
		p := c.ExpectPublish()
		t.Check(string(p.Payload) == "long", "got %v, want only \"long\" (\"short\" expired)", p)
		e, ok := p.Props.Get(wire.PropMessageExpiry)
		t.Check(ok && e.Int <= 59 && e.Int > 0, "Message Expiry Interval %d (present %v) after waiting 2.2 s, want 1..59", e.Int, ok)
		c.ExpectNothing("the expired message")
	}},
	{Name: "TopicAliasZeroRefused", V5: []string{"3.3.2-8"}, Run: func(t *T) {
		refuses(t, true, wire.Publish{Topic: t.Topic("a"), Payload: []byte("x"),
			Props: props(wire.Int(wire.PropTopicAlias, 0))}.Encode(t.V), "Topic Alias 0")
	}},
	{Name: "TopicAliasesAccepted", V5: []string{"3.3.2-12"}, Run: func(t *T) {
		topic := t.Topic("a")
		sub := t.Client("sub")
		sub.MustSubscribe(topic, 1)
		pub, ack := t.Connect(t.ConnectPacket("pub"))
		max := brokerAliasMax(ack)
		if max == 0 {
			t.Skipf("broker accepts no topic aliases (Topic Alias Maximum 0)")
		}
		pub.Publish(topic, "set", 1, false, wire.Int(wire.PropTopicAlias, max))
		pub.Publish("", "use", 1, false, wire.Int(wire.PropTopicAlias, max))
		a, b := sub.ExpectPublish(), sub.ExpectPublish()
		t.Check(a.Topic == topic && b.Topic == topic && string(b.Payload) == "use", "got %v and %v on %q", a, b, topic)
	}},
	{Name: "TopicAliasNotCarriedToNewConnection", V5: []string{"3.3.2-7"}, Run: func(t *T) {
		pub, ack := t.Connect(t.ConnectPacket("pub"))
		if brokerAliasMax(ack) == 0 {
			t.Skipf("broker accepts no topic aliases (Topic Alias Maximum 0)")
		}
		pub.Publish(t.Topic("a"), "set", 1, false, wire.Int(wire.PropTopicAlias, 1))
		pub.Disconnect()
		refuses(t, true, wire.Publish{Topic: "", Payload: []byte("use"), QoS: 1, PacketID: 1,
			Props: props(wire.Int(wire.PropTopicAlias, 1))}.Encode(t.V), "a topic alias set on an earlier connection")
	}},
	{Name: "ServerTopicAliasesWithinClientMaximum", V5: []string{"3.1.2-26", "3.3.2-11"}, Run: func(t *T) {
		cp := t.ConnectPacket("sub")
		cp.Props = props(wire.Int(wire.PropTopicAliasMaximum, 1))
		sub, _ := t.Connect(cp)
		sub.MustSubscribe(t.Topic("+"), 0)
		pub := t.Client("pub")
		topics := []string{t.Topic("a"), t.Topic("b"), t.Topic("a"), t.Topic("a"), t.Topic("b")}
		for _, tp := range topics {
			pub.Publish(tp, "x", 1, false)
		}
		alias := map[uint32]string{}
		used := false
		for _, want := range topics {
			p := sub.ExpectPublish()
			a, ok := p.Props.Get(wire.PropTopicAlias)
			used = used || ok
			if ok {
				t.Check(a.Int >= 1 && a.Int <= 1, "Topic Alias %d beyond the client's maximum 1", a.Int)
				if p.Topic != "" {
					alias[a.Int] = p.Topic
				}
				got := alias[a.Int]
				t.Check(got == want, "alias %d resolves to %q, want %q", a.Int, got, want)
			} else {
				t.Check(p.Topic == want, "topic %q, want %q", p.Topic, want)
			}
		}
		if !used {
			t.Check(!t.Opts().SendsTopicAliases, "no topic alias sent, although the broker is said to send them")
			t.Skipf("the broker sent no topic alias, so there was none to check (say --sends-topic-aliases if it should)")
		}
	}},
	{Name: "NoServerTopicAliasWithoutClientMaximum", V5: []string{"3.1.2-27"}, Run: func(t *T) {
		topic := t.Topic("a")
		sub := t.Client("sub")
		sub.MustSubscribe(topic, 0)
		pub := t.Client("pub")
		for i := 0; i < 3; i++ {
			pub.Publish(topic, "x", 1, false)
		}
		for i := 0; i < 3; i++ {
			p := sub.ExpectPublish()
			t.Check(!p.Props.Has(wire.PropTopicAlias) && p.Topic == topic, "got %v with a topic alias", p)
		}
	}},
	{Name: "WildcardResponseTopicNotForwarded", V5: []string{"3.3.2-14"}, Run: func(t *T) {
		// The broker may refuse the PUBLISH or drop the property, but it must
		// not itself send a Response Topic with a wildcard.
		topic := t.Topic("a")
		sub := t.Client("sub")
		sub.MustSubscribe(topic, 1)
		pub := t.Client("pub")
		pub.Send(wire.Publish{Topic: topic, Payload: []byte("x"), QoS: 1, PacketID: 1,
			Props: props(wire.Str(wire.PropResponseTopic, t.Topic("#")))}.Encode(t.V))
		pub.TryNext(t.Wait(closeWait))
		for _, p := range t.barrier(sub, nil, topic) {
			r, _ := p.Props.Get(wire.PropResponseTopic)
			t.Check(!strings.ContainsAny(r.Str, "+#"), "broker forwarded a PUBLISH with Response Topic %q", r.Str)
		}
	}},
	{Name: "IllFormedUTF8ResponseTopicRefused", V5: []string{"3.3.2-13"}, Run: func(t *T) {
		refuses(t, true, wire.Publish{Topic: t.Topic("a"), Payload: []byte("x"),
			Props: props(wire.Str(wire.PropResponseTopic, "r\xff"))}.Encode(t.V), "ill-formed UTF-8 Response Topic")
	}},
	{Name: "IllFormedUTF8ContentTypeRefused", V5: []string{"3.3.2-19"}, Run: func(t *T) {
		refuses(t, true, wire.Publish{Topic: t.Topic("a"), Payload: []byte("x"),
			Props: props(wire.Str(wire.PropContentType, "text/\xc3"))}.Encode(t.V), "ill-formed UTF-8 Content Type")
	}},
	{Name: "IllFormedUTF8UserPropertyRefused", V5: []string{"1.5.7-1"}, Run: func(t *T) {
		refuses(t, true, wire.Publish{Topic: t.Topic("a"), Payload: []byte("x"),
			Props: props(wire.User("k", "v\xed\xbf\xbf"))}.Encode(t.V), "ill-formed UTF-8 user property value")
	}},
	{Name: "ProblemInformationWithheldWhenNotRequested", V5: []string{"3.1.2-29"}, Run: func(t *T) {
		cp := t.ConnectPacket("c")
		cp.Props = props(wire.Int(wire.PropRequestProblemInfo, 0))
		c, _ := t.Connect(cp)
		check := func(p *wire.Packet) {
			t.Check(!p.Props.Has(wire.PropReasonString) && !p.Props.Has(wire.PropUserProperty),
				"%v carries a Reason String or User Property although Request Problem Information is 0", p)
		}
		check(c.Publish(t.Topic("nobody"), "x", 1, false))
		c.Send(wire.Publish{Topic: t.Topic("nobody"), Payload: []byte("x"), QoS: 2, PacketID: 99}.Encode(t.V))
		check(c.Expect(wire.PUBREC))
		c.Send(wire.Ack(t.V, wire.PUBREL, 99, 0, nil))
		check(c.Expect(wire.PUBCOMP))
		check(c.Unsubscribe(t.Topic("never")))
		c.Send(wire.Ack(t.V, wire.PUBREL, 1234, 0, nil)) // unknown id: PUBCOMP 0x92
		check(c.Expect(wire.PUBCOMP))
		if d := t.Opts().DeniedTopic; d != "" {
			check(c.Publish(d, "x", 1, false))
		}
	}},
	{Name: "PacketsBeyondClientMaximumSizeDropped", V5: []string{"3.1.2-24", "3.1.2-25"}, Run: func(t *T) {
		topic := t.Topic("big")
		cp := t.ConnectPacket("sub")
		cp.Props = props(wire.Int(wire.PropMaximumPacketSize, 128))
		sub, _ := t.Connect(cp)
		sub.MustSubscribe(topic, 1)
		pub := t.Client("pub")
		pub.Publish(topic, strings.Repeat("b", 400), 1, false)
		pub.Publish(topic, "small", 1, false)
		p := sub.ExpectPublish()
		t.Check(string(p.Payload) == "small", "got %v (%d bytes), want only the small message", p, p.Size)
	}},
	{Name: "AcknowledgementsWithinClientMaximumSize", V5: []string{"3.4.2-2", "3.4.2-3", "3.5.2-2", "3.5.2-3", "3.6.2-2", "3.6.2-3",
		"3.7.2-2", "3.7.2-3", "3.9.2-1", "3.9.2-2", "3.11.2-1", "3.11.2-2"}, Run: func(t *T) {
		const max = 24 // room for every acknowledgement without properties
		cp := t.ConnectPacket("c")
		cp.Props = props(wire.Int(wire.PropMaximumPacketSize, max), wire.Int(wire.PropRequestProblemInfo, 1))
		c, _ := t.Connect(cp)
		check := func(p *wire.Packet) {
			t.Check(p.Size <= max, "%v of %d bytes to a client whose Maximum Packet Size is %d", p, p.Size, max)
		}
		topic := t.Topic("s")
		id := c.ID()
		c.Send(wire.Subscribe{PacketID: id, Subs: []wire.Subscription{{Filter: topic, Options: 2}}}.Encode(t.V))
		check(c.Expect(wire.SUBACK))
		check(c.Publish(t.Topic("nobody"), "x", 1, false))
		c.Send(wire.Publish{Topic: t.Topic("nobody"), Payload: []byte("x"), QoS: 2, PacketID: 77}.Encode(t.V))
		check(c.Expect(wire.PUBREC))
		c.Send(wire.Ack(t.V, wire.PUBREL, 77, 0, nil))
		check(c.Expect(wire.PUBCOMP))
		c.Send(wire.Ack(t.V, wire.PUBREL, 4321, 0, nil))
		check(c.Expect(wire.PUBCOMP))
		check(c.Unsubscribe(t.Topic("never")))
		pub := t.Client("pub")
		pub.Publish(topic, "", 2, false)
		p := c.Expect(wire.PUBLISH)
		c.Send(wire.Ack(t.V, wire.PUBREC, p.PacketID, 0, nil))
		check(c.Expect(wire.PUBREL))
		c.Send(wire.Ack(t.V, wire.PUBCOMP, p.PacketID, 0, nil))
		if d := t.Opts().DeniedTopic; d != "" {
			check(c.Publish(d, "x", 1, false))
		}
	}},
	{Name: "DisconnectWithinClientMaximumSize", V5: []string{"3.14.2-3", "3.14.2-4"}, Run: func(t *T) {
		const max = 64 // room for a CONNACK with the usual properties
		cp := t.ConnectPacket("c")
		cp.Props = props(wire.Int(wire.PropMaximumPacketSize, max), wire.Int(wire.PropRequestProblemInfo, 1))
		c, _ := t.Connect(cp)
		c.Send(wire.Publish{Topic: t.Topic("a/+"), Payload: []byte("x")}.Encode(t.V))
		for _, p := range c.ExpectClosed(closeWait, "PUBLISH to a topic with a wildcard") {
			t.Check(p.Size <= max, "%v of %d bytes to a client whose Maximum Packet Size is %d", p, p.Size, max)
		}
	}},
}
