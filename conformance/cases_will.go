package conformance

import (
	"time"

	"github.com/plumemq/plume/conformance/wire"
)

// Section 3.1.2.5 and 3.1.3.2: will messages.

// withWill connects name with a will on topic.
func (t *T) withWill(name string, w wire.Will, clean bool, connProps ...wire.Property) *Client {
	if t.V >= 5 {
		probe := t.Client("probe")
		if w.QoS > probe.maxQoS {
			t.Skipf("the broker's Maximum QoS is %d; this test needs a will at QoS %d", probe.maxQoS, w.QoS)
		}
		if w.Retain && probe.noRetain {
			t.Skipf("the broker announces Retain Available 0; this test needs a retained will")
		}
		probe.Disconnect()
	}
	cp := t.ConnectPacket(name)
	cp.Will = &w
	cp.CleanStart = clean
	cp.Props = connProps
	c, _ := t.Connect(cp)
	id := cp.ClientID
	if !clean {
		t.Cleanup(func() { t.EndSession(id) })
	}
	return c
}

var willCases = []Case{
	{Name: "WillPublishedOnNetworkFailure", V5: []string{"3.1.2-7", "3.1.2-8", "3.1.2-14"}, V4: []string{"3.1.2-8", "3.1.2-16"}, Run: func(t *T) {
		topic := t.Topic("will")
		sub := t.Client("sub")
		sub.MustSubscribe(topic, 1)
		c := t.withWill("w", wire.Will{Topic: topic, Payload: []byte("gone"), QoS: 1}, true)
		c.drop()
		p := sub.ExpectPublish()
		t.Check(string(p.Payload) == "gone" && !p.Retain, "got %v, want the will \"gone\" not retained", p)
		late := t.Client("late")
		late.MustSubscribe(topic, 1)
		late.ExpectNothing("a non-retained will kept as retained")
	}},
	{Name: "WillRetained", V5: []string{"3.1.2-15"}, V4: []string{"3.1.2-17"}, Run: func(t *T) {
		topic := t.RetainedTopic("will")
		sub := t.Client("sub")
		sub.MustSubscribe(topic, 1)
		c := t.withWill("w", wire.Will{Topic: topic, Payload: []byte("gone"), QoS: 1, Retain: true}, true)
		c.drop()
		sub.ExpectPublish()
		late := t.Client("late")
		late.MustSubscribe(topic, 1)
		p := late.ExpectPublish()
		t.Check(string(p.Payload) == "gone" && p.Retain, "got %v, want the retained will", p)
	}},
	{Name: "WillDiscardedOnNormalDisconnect", V5: []string{"3.1.2-10", "3.14.4-3"}, V4: []string{"3.1.2-10", "3.14.4-3"}, Run: func(t *T) {
		topic := t.Topic("will")
		sub := t.Client("sub")
		sub.MustSubscribe(topic, 1)
		c := t.withWill("w", wire.Will{Topic: topic, Payload: []byte("gone"), QoS: 1}, true)
		c.Send(wire.Disconnect(t.V, 0, nil))
		c.ExpectClosed(closeWait, "after DISCONNECT")
		if before := t.barrier(sub, nil, topic); len(before) > 0 {
			t.Fatalf("will published after a normal DISCONNECT: %v", before)
		}
	}},
	{Name: "WillDelayed", V5: []string{"3.1.2-8"}, Timeout: 8 * time.Second, Run: func(t *T) {
		topic := t.Topic("will")
		sub := t.Client("sub")
		sub.MustSubscribe(topic, 1)
		c := t.withWill("w", wire.Will{Topic: topic, Payload: []byte("late"), QoS: 1,
			Props: props(wire.Int(wire.PropWillDelay, 2))}, false, wire.Int(wire.PropSessionExpiry, 60))
		c.drop()
		start := time.Now()
		p := sub.ExpectPublish()
		waited := time.Since(start)
		t.Check(string(p.Payload) == "late", "got %v, want the will", p)
		t.Check(waited > 1500*time.Millisecond, "will published %v after the close; Will Delay Interval is 2 s", waited.Round(time.Millisecond))
	}},
	{Name: "WillNotSentWhenClientReturnsInTime", V5: []string{"3.1.3-9"}, Timeout: 10 * time.Second, Run: func(t *T) {
		topic := t.Topic("will")
		sub := t.Client("sub")
		sub.MustSubscribe(topic, 1)
		w := wire.Will{Topic: topic, Payload: []byte("late"), QoS: 1, Props: props(wire.Int(wire.PropWillDelay, 2))}
		c := t.withWill("w", w, false, wire.Int(wire.PropSessionExpiry, 60))
		c.drop()
		back := t.withWill("w", w, false, wire.Int(wire.PropSessionExpiry, 60))
		t.Idle(3*time.Second, sub, back) // past the Will Delay Interval: the will must not come
		if before := t.barrier(sub, nil, topic); len(before) > 0 {
			t.Fatalf("will published although the client reconnected within the delay: %v", before)
		}
	}},
	{Name: "WillUserPropertiesKeepOrder", V5: []string{"3.1.3-10"}, Run: func(t *T) {
		topic := t.Topic("will")
		sub := t.Client("sub")
		sub.MustSubscribe(topic, 1)
		c := t.withWill("w", wire.Will{Topic: topic, Payload: []byte("gone"), QoS: 1,
			Props: props(wire.User("k", "3"), wire.User("a", "1"), wire.User("k", "2"))}, true)
		c.drop()
		p := sub.ExpectPublish()
		checkUserProps(t, p, [][2]string{{"k", "3"}, {"a", "1"}, {"k", "2"}})
	}},
}

// checkUserProps fails unless p carries exactly these user properties in
// this order.
func checkUserProps(t *T, p *wire.Packet, want [][2]string) {
	got := p.Props.All(wire.PropUserProperty)
	t.Check(len(got) == len(want), "%d user properties, want %d: %v", len(got), len(want), got)
	for i, w := range want {
		t.Check(got[i].Key == w[0] && got[i].Str == w[1], "user property %d is %s=%s, want %s=%s", i, got[i].Key, got[i].Str, w[0], w[1])
	}
}
