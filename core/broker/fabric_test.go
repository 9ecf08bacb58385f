package broker_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/session"
)

// recordingFabric is a broker.Fabric that keeps what the broker told it.
type recordingFabric struct {
	mu        sync.Mutex
	published []session.Message
	interest  []string
}

func (f *recordingFabric) Publish(m *session.Message) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.published = append(f.published, m.Copy())
}

func (f *recordingFabric) Interest(filter string, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.interest = append(f.interest, fmt.Sprintf("%s %v", filter, on))
}

func (f *recordingFabric) SharedInterest(group, filter string, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.interest = append(f.interest, fmt.Sprintf("$share/%s/%s %v", group, filter, on))
}

func (f *recordingFabric) snapshot() ([]session.Message, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.published), slices.Clone(f.interest)
}

func subscribeV5(t *testing.T, c *v5Client, opts ...paho.SubscribeOptions) {
	t.Helper()
	if _, err := c.Subscribe(ctxWait(t), &paho.Subscribe{Subscriptions: opts}); err != nil {
		t.Fatal(err)
	}
}

func TestFabricHearsLocalPublishesOnceAndInterestChanges(t *testing.T) {
	f := &recordingFabric{}
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Fabric: f, SysInterval: 10 * time.Millisecond})
	s, _ := dialV5(t, tb.addr, &paho.Connect{ClientID: "s", CleanStart: true, KeepAlive: 30})
	subscribeV5(t, s, paho.SubscribeOptions{Topic: "a/#", QoS: 1}, paho.SubscribeOptions{Topic: "$SYS/broker/uptime"})
	subscribeV5(t, s, paho.SubscribeOptions{Topic: "$share/g/a/+", QoS: 1})
	p, _ := dialV5(t, tb.addr, &paho.Connect{ClientID: "p", CleanStart: true, KeepAlive: 30})
	res, err := p.Publish(ctxWait(t), &paho.Publish{Topic: "elsewhere", QoS: 1, Payload: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if res.ReasonCode != 0 {
		t.Fatalf("PUBACK %#x for a topic with no local subscriber: a cluster node cannot know there is none", res.ReasonCode)
	}
	if _, err := p.Publish(ctxWait(t), &paho.Publish{Topic: "a/b", QoS: 1, Payload: []byte("y")}); err != nil {
		t.Fatal(err)
	}
	if m := s.expectMessage(t); m.Topic != "$SYS/broker/uptime" && m.Topic != "a/b" {
		t.Fatalf("got %q", m.Topic)
	}
	// The local non-shared subscriber gets a/b once; the shared group waits
	// for the fabric (RouteShared), and $SYS messages keep coming.
	got := 0
	for deadline := time.Now().Add(wait); got < 1 && time.Now().Before(deadline); {
		if m := s.expectMessage(t); m.Topic == "a/b" {
			got++
		}
	}
	if _, err := s.Unsubscribe(ctxWait(t), &paho.Unsubscribe{Topics: []string{"a/#", "$share/g/a/+"}}); err != nil {
		t.Fatal(err)
	}

	pub, interest := f.snapshot()
	var topics []string
	for _, m := range pub {
		topics = append(topics, m.Topic)
		if m.Publisher != "p" {
			t.Errorf("forwarded %q with publisher %q", m.Topic, m.Publisher)
		}
	}
	if !slices.Equal(topics, []string{"elsewhere", "a/b"}) {
		t.Fatalf("fabric got %q, want the two client publishes, no $SYS", topics)
	}
	want := []string{"a/# true", "$SYS/broker/uptime true", "$share/g/a/+ true", "a/# false", "$share/g/a/+ false"}
	if !slices.Equal(interest, want) {
		t.Fatalf("interest %q, want %q", interest, want)
	}
}

func TestRouteFromPeerDeliversLocallyOnlyWithNoLocalAndRetain(t *testing.T) {
	f := &recordingFabric{}
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Fabric: f})
	s, _ := dialV5(t, tb.addr, &paho.Connect{ClientID: "s", CleanStart: true, KeepAlive: 30})
	subscribeV5(t, s, paho.SubscribeOptions{Topic: "r/+", QoS: 1, NoLocal: true})
	subscribeV5(t, s, paho.SubscribeOptions{Topic: "$share/g/r/+", QoS: 1})

	// The subscriber's own publication on another node: No Local holds
	// [MQTT-3.8.3-3]; a peer's does not.
	tb.RouteFromPeer(&session.Message{Topic: "r/1", Payload: []byte("own"), QoS: 1, Publisher: "s"})
	tb.RouteFromPeer(&session.Message{Topic: "r/2", Payload: []byte("peer"), QoS: 1, Retain: true, Publisher: "x"})
	m := s.expectMessage(t)
	if m.Topic != "r/2" || string(m.Payload) != "peer" || m.Retain {
		// [MQTT-3.3.1-9]: a live message is sent with RETAIN 0 without Retain As Published.
		t.Fatalf("got %q %q retain=%v, want the peer's r/2 with RETAIN 0", m.Topic, m.Payload, m.Retain)
	}
	s.expectNoMessage(t, 100*time.Millisecond) // and not through the shared group
	if pub, _ := f.snapshot(); len(pub) != 0 {
		t.Fatalf("a peer's message was forwarded again: %d", len(pub))
	}
	// Stored in this node's retained index: a new subscriber gets it.
	n, _ := dialV5(t, tb.addr, &paho.Connect{ClientID: "n", CleanStart: true, KeepAlive: 30})
	subscribeV5(t, n, paho.SubscribeOptions{Topic: "r/#"})
	if m := n.expectMessage(t); m.Topic != "r/2" || !m.Retain {
		t.Fatalf("new subscriber got %q retain=%v, want retained r/2", m.Topic, m.Retain)
	}
	if !tb.RouteShared(&session.Message{Topic: "r/3", Payload: []byte("sh"), QoS: 1, Publisher: "x"}, "g", "r/+") {
		t.Fatal("RouteShared found no member")
	}
	if m := s.expectMessage(t); m.Topic != "r/3" {
		t.Fatalf("shared member got %q", m.Topic)
	}
	if tb.RouteShared(&session.Message{Topic: "r/3", QoS: 1}, "nobody", "r/+") {
		t.Fatal("RouteShared delivered to a group with no member here")
	}
}
