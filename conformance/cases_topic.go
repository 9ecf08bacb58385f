package conformance

import (
	"errors"

	"github.com/plumemq/plume/conformance/wire"
)

// Section 4.7 topic names and filters, and 1.5.4 UTF-8 strings in topics.

// filterRefused subscribes to an invalid filter and expects a failure code
// in the SUBACK or a closed connection.
func filterRefused(t *T, filter, why string) {
	c := t.Client("c")
	c.Send(wire.Subscribe{PacketID: 1, Subs: []wire.Subscription{{Filter: filter, Options: 1}}}.Encode(t.V))
	p, err := c.TryNext(t.Wait(closeWait))
	switch {
	case errors.Is(err, wire.ErrClosed):
		return
	case err != nil:
		t.Fatalf("%s: %v", why, err)
	case p.Type == wire.SUBACK:
		t.Check(len(p.ReasonCodes) == 1 && p.ReasonCodes[0] >= 0x80, "%s: SUBACK % x, want a failure code", why, p.ReasonCodes)
	case p.Type == wire.DISCONNECT:
		checkClosing(t, append([]*wire.Packet{p}, c.ExpectClosed(closeWait, why)...))
	default:
		t.Fatalf("%s: got %v", why, p)
	}
}

var topicCases = []Case{
	{Name: "WildcardsMatchLevels", V5: []string{"4.5.0-1"}, V4: []string{"4.5.0-1"}, Run: func(t *T) {
		type sub struct {
			filter string
			want   []string
		}
		subs := []sub{
			{"w/#", []string{"w", "w/a", "w/a/b", "w/", "w//b", "w/a/b/c"}},
			{"w/+", []string{"w/a", "w/"}},
			{"w/+/b", []string{"w/a/b", "w//b"}},
			{"w/a/+/#", []string{"w/a/b", "w/a/b/c"}},
		}
		published := []string{"w", "w/a", "w/a/b", "w/", "w//b", "w/a/b/c", "wx", "x/w"}
		for _, s := range subs {
			c := t.Client("s")
			c.MustSubscribe(t.Topic(s.filter), 0)
			pub := t.Client("p")
			for _, tp := range published {
				pub.Publish(t.Topic(tp), tp, 1, false)
			}
			want := map[string]bool{}
			for _, w := range s.want {
				want[w] = true
			}
			got := map[string]bool{}
			check := func(p *wire.Packet) {
				tp := string(p.Payload)
				t.Check(p.Topic == t.Topic(tp), "topic %q for a message published to %q", p.Topic, tp)
				t.Check(want[tp], "filter %q matched topic %q", s.filter, tp)
				t.Check(!got[tp], "filter %q: %q delivered twice", s.filter, tp)
				got[tp] = true
			}
			for len(got) < len(want) { // the matching ones must all come
				p, err := c.TryNext(t.Left())
				if err != nil {
					t.Fatalf("filter %q: got %v of %v, then %v", s.filter, got, s.want, err)
				}
				check(p)
			}
			for _, p := range c.Sync() { // and nothing else, as far as has arrived
				check(p)
			}
			c.Disconnect()
			pub.Disconnect()
		}
	}},
	{Name: "MultiLevelWildcardMustBeLast", V5: []string{"4.7.1-1"}, V4: []string{"4.7.1-2"}, Run: func(t *T) {
		filterRefused(t, t.Topic("#/x"), "filter with # before the last level")
	}},
	{Name: "MultiLevelWildcardMustBeWholeLevel", V5: []string{"4.7.1-1"}, V4: []string{"4.7.1-2"}, Run: func(t *T) {
		filterRefused(t, t.Topic("x#"), "filter with # inside a level")
	}},
	{Name: "SingleLevelWildcardMustBeWholeLevel", V5: []string{"4.7.1-2"}, V4: []string{"4.7.1-3"}, Run: func(t *T) {
		filterRefused(t, t.Topic("a+/b"), "filter with + inside a level")
	}},
	{Name: "WildcardInTopicNameRefused", V5: []string{"3.3.2-2", "4.7.0-1"}, V4: []string{"3.3.2-2", "4.7.1-1"}, Run: func(t *T) {
		refuses(t, true, wire.Publish{Topic: t.Topic("+"), Payload: []byte("x")}.Encode(t.V), "PUBLISH to a topic name with +")
	}},
	{Name: "DollarTopicsNotMatchedByLeadingWildcards", V5: []string{"4.7.2-1"}, V4: []string{"4.7.2-1"}, Run: func(t *T) {
		sub := t.Client("sub")
		sub.MustSubscribe("+/"+t.tag+"/d", 1)
		pub := t.Client("pub")
		pub.Send(wire.Publish{Topic: "$cf/" + t.tag + "/d", Payload: []byte("dollar"), QoS: 1, PacketID: 1}.Encode(t.V))
		ack, err := pub.TryNext(t.Wait(closeWait))
		switch {
		case err != nil:
			t.Skipf("broker refuses PUBLISH to a $ topic (%v)", err)
		case ack.Type != wire.PUBACK:
			t.Fatalf("got %v, want PUBACK", ack)
		case ack.ReasonCode >= 0x80:
			t.Skipf("broker refuses PUBLISH to a $ topic (PUBACK 0x%02x)", ack.ReasonCode)
		}
		pub.Publish("cf/"+t.tag+"/d", "plain", 1, false)
		p := sub.ExpectPublish()
		t.Check(string(p.Payload) == "plain", "filter +/%s/d matched %q", t.tag, p.Topic)
	}},
	{Name: "EmptyTopicNameRefused", V5: []string{"4.7.3-1"}, V4: []string{"4.7.3-1"}, Run: func(t *T) {
		refuses(t, true, wire.Publish{Topic: "", Payload: []byte("x")}.Encode(t.V), "PUBLISH with an empty topic and no alias")
	}},
	{Name: "EmptyTopicFilterRefused", V5: []string{"4.7.3-1"}, V4: []string{"4.7.3-1"}, Run: func(t *T) {
		filterRefused(t, "", "empty topic filter")
	}},
	{Name: "NullCharacterInTopicRefused", V5: []string{"4.7.3-2", "1.5.4-2"}, V4: []string{"4.7.3-2", "1.5.3-2"}, Run: func(t *T) {
		refuses(t, true, wire.Publish{Topic: t.Topic("a\x00b"), Payload: []byte("x")}.Encode(t.V), "topic name with U+0000")
	}},
	{Name: "SurrogateInTopicRefused", V5: []string{"1.5.4-1"}, V4: []string{"1.5.3-1"}, Run: func(t *T) {
		refuses(t, true, wire.Publish{Topic: t.Topic("a\xed\xa0\x80b"), Payload: []byte("x")}.Encode(t.V), "topic name with an encoded surrogate")
	}},
	{Name: "TopicsNotNormalised", V5: []string{"4.7.3-4", "1.5.4-3"}, V4: []string{"4.7.3-4", "1.5.3-3"}, Run: func(t *T) {
		composed := t.Topic("caf\u00e9")
		bom := t.Topic("\ufeffx")
		sub := t.Client("sub")
		sub.MustSubscribe(composed, 1)
		sub.MustSubscribe(bom, 1)
		pub := t.Client("pub")
		for _, tp := range []string{t.Topic("cafe\u0301"), t.Topic("CAF\u00c9"), t.Topic("x"), t.Topic("caf\u00e9 ")} {
			pub.Publish(tp, "other", 1, false)
		}
		pub.Publish(composed, "exact", 1, false)
		pub.Publish(bom, "bom", 1, false)
		a, b := sub.ExpectPublish(), sub.ExpectPublish()
		t.Check(string(a.Payload) == "exact" && a.Topic == composed, "got %v, want \"exact\" on %q", a, composed)
		t.Check(string(b.Payload) == "bom" && b.Topic == bom, "got %v, want \"bom\" on the topic with U+FEFF kept", b)
	}},
}
