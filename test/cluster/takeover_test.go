package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// Sessions move between plume processes (decision 0056): a persistent
// subscriber that reconnects to another node resumes its session there,
// with what was in flight and queued, whether the node it left lives (its
// connection then gets 0x8E) or was killed.

// mqttClient is a paho.golang (MQTT 5.0) client of one node.
type mqttClient struct {
	*paho.Client
	msgs chan *paho.Publish
	gone chan *paho.Disconnect
	ack  *paho.Connack
}

// connectTo connects a client to nd, again until the node accepts it or
// waitFor passes: a node that has just lost a peer may answer 0x88 Server
// unavailable while JetStream elects new leaders.
func connectTo(t *testing.T, nd *node, id string, clean bool, receiveMax uint16, manualAck bool) *mqttClient {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		c, err := tryConnect(nd, id, clean, receiveMax, manualAck)
		if err == nil {
			t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("connect %s to %s: %v", id, nd.name, err)
		}
		time.Sleep(200 * time.Millisecond) // the node retries nothing for us; a client would back off too
	}
}

func tryConnect(nd *node, id string, clean bool, receiveMax uint16, manualAck bool) (*mqttClient, error) {
	conn, err := net.DialTimeout("tcp", nd.mqtt, waitFor)
	if err != nil {
		return nil, err
	}
	c := &mqttClient{msgs: make(chan *paho.Publish, 1000), gone: make(chan *paho.Disconnect, 1)}
	c.Client = paho.NewClient(paho.ClientConfig{
		Conn: conn, EnableManualAcknowledgment: manualAck,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.msgs <- pr.Packet
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) { c.gone <- d },
	})
	expiry := uint32(300)
	cp := &paho.Connect{ClientID: id, CleanStart: clean, KeepAlive: 60, Properties: &paho.ConnectProperties{SessionExpiryInterval: &expiry}}
	if receiveMax > 0 {
		cp.Properties.ReceiveMaximum = &receiveMax
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if c.ack, err = c.Connect(ctx, cp); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return c, nil
}

func (c *mqttClient) publish(t *testing.T, topic, payload string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := c.Publish(ctx, &paho.Publish{Topic: topic, Payload: []byte(payload), QoS: 1}); err != nil {
		t.Fatalf("publish %q: %v", payload, err)
	}
}

func (c *mqttClient) subscribe(t *testing.T, filter string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
}

func (c *mqttClient) next(t *testing.T, skip string) *paho.Publish {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case m := <-c.msgs:
			if string(m.Payload) == skip {
				continue
			}
			return m
		case <-deadline:
			t.Fatal("no message received")
			return nil
		}
	}
}

// routes publishes probes on from until one reaches c: the subscription
// has reached from's node (interest crosses a moment after SUBACK).
func (c *mqttClient) routes(t *testing.T, from *mqttClient, topic string) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		from.publish(t, topic, "probe")
		select {
		case m := <-c.msgs:
			if string(m.Payload) == "probe" {
				return
			}
			t.Fatalf("before the probe: %q", m.Payload)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no probe on %s reached the subscriber", topic)
		}
	}
}

func TestSessionMovesBetweenLivePlumeProcesses(t *testing.T) {
	c := newCluster(t, 3)
	c.startAll()
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	old := connectTo(t, n1, "mover", false, 1, true)
	old.subscribe(t, "mv/#")
	pub := connectTo(t, n1, "pub1", true, 0, false)
	for i := 1; i <= 3; i++ {
		pub.publish(t, "mv/a", fmt.Sprintf("m%d", i))
	}
	if m := old.next(t, ""); string(m.Payload) != "m1" {
		t.Fatalf("first message %q, want m1", m.Payload)
	} // not acknowledged: m1 in flight, m2 and m3 queued

	moved := connectTo(t, n2, "mover", false, 0, false)
	select {
	case d := <-old.gone:
		if d.ReasonCode != 0x8E {
			t.Fatalf("old connection: DISCONNECT 0x%02X, want 0x8E Session taken over", d.ReasonCode)
		}
	case <-time.After(waitFor):
		t.Fatal("the connection on n1 was not told 0x8E")
	}
	if !moved.ack.SessionPresent {
		t.Fatal("CONNACK on n2: session present 0, want 1")
	}
	for _, want := range []string{"m1", "m2", "m3"} {
		if m := moved.next(t, ""); string(m.Payload) != want {
			t.Fatalf("on n2: %q, want %q", m.Payload, want)
		}
	}
	pub3 := connectTo(t, n3, "pub3", true, 0, false)
	moved.routes(t, pub3, "mv/b")
}

func TestSessionOfAKilledPlumeProcessResumesOnAnother(t *testing.T) {
	c := newCluster(t, 3)
	c.startAll()
	n1, n2 := c.nodes[0], c.nodes[1]
	sub := connectTo(t, n1, "survivor", false, 0, false)
	sub.subscribe(t, "kd/#")
	if err := sub.Disconnect(&paho.Disconnect{}); err != nil {
		t.Fatal(err)
	}
	<-sub.Done()
	pub := connectTo(t, n1, "pub1", true, 0, false)
	for i := 1; i <= 5; i++ {
		pub.publish(t, "kd/a", fmt.Sprintf("q%d", i)) // acknowledged: queued for the offline session, replicated
	}
	n1.kill()

	moved := connectTo(t, n2, "survivor", false, 0, false)
	if !moved.ack.SessionPresent {
		t.Fatal("CONNACK on n2 after n1's kill -9: session present 0, want 1")
	}
	for i := 1; i <= 5; i++ {
		want := fmt.Sprintf("q%d", i)
		if m := moved.next(t, ""); string(m.Payload) != want {
			t.Fatalf("on n2: %q, want %q (every acknowledged message, in order)", m.Payload, want)
		}
	}
	pub3 := connectTo(t, c.nodes[2], "pub3", true, 0, false)
	moved.routes(t, pub3, "kd/b")
}

// The messages published on another node while the session's node is
// dead and before the client comes back reach nobody's router: only the
// ingest's catch-up from the dead node's positions (decision 0055) brings
// them (cmd/plume/takeover.go passes the fabric to the Mover).
func TestMessagesPublishedWhileTheSessionsNodeIsDeadAreDelivered(t *testing.T) {
	c := newCluster(t, 3)
	c.startAll()
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	sub := connectTo(t, n1, "away", false, 0, false)
	sub.subscribe(t, "aw/#")
	pub := connectTo(t, n3, "pub3", true, 0, false)
	sub.routes(t, pub, "aw/probe")
	if err := sub.Disconnect(&paho.Disconnect{}); err != nil {
		t.Fatal(err)
	}
	<-sub.Done()
	n1.kill()
	for i := 1; i <= 5; i++ {
		pub.publish(t, "aw/a", fmt.Sprintf("w%d", i)) // acknowledged on n3 while nobody holds the session
	}
	moved := connectTo(t, n2, "away", false, 0, false)
	if !moved.ack.SessionPresent {
		t.Fatal("CONNACK on n2: session present 0, want 1")
	}
	for i := 1; i <= 5; i++ {
		want := fmt.Sprintf("w%d", i)
		if m := moved.next(t, "probe"); string(m.Payload) != want {
			t.Fatalf("on n2: %q, want %q", m.Payload, want)
		}
	}
}

// logged waits until one of nodes logs a JSON line with message msg whose
// fields include the given ones, and returns that node. The log is read
// from its file: the harness copies each line there as it comes.
func logged(t *testing.T, within time.Duration, msg string, fields map[string]any, nodes ...*node) *node {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		for _, nd := range nodes {
			data, err := os.ReadFile(nd.logPath)
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(string(data), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(line), &m) != nil || m["message"] != msg {
					continue
				}
				match := true
				for k, v := range fields {
					match = match && fmt.Sprint(m[k]) == fmt.Sprint(v)
				}
				if match {
					return nd
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no node logged %q with %v within %s", msg, fields, within)
		}
		time.Sleep(100 * time.Millisecond) // polling a file: nothing to wait on
	}
}

// A node killed for good: after the adoption delay one survivor adopts
// its persistent session (decision 0056), so that messages published
// afterwards are queued for it, and the client that comes back to the
// other survivor gets them (the session moves again, from the adopter).
func TestSurvivorAdoptsTheSessionsOfAKilledPlumeProcess(t *testing.T) {
	c := newCluster(t, 3)
	c.startAll()
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	sub := connectTo(t, n1, "adoptee", false, 0, false)
	sub.subscribe(t, "ad/#")
	if err := sub.Disconnect(&paho.Disconnect{}); err != nil {
		t.Fatal(err)
	}
	<-sub.Done()
	n1.kill()
	adopter := logged(t, waitFor, "takeover: sessions of a node that left adopted", map[string]any{"dead_node": "n1", "sessions": 1}, n2, n3)
	t.Logf("%s adopted n1's session", adopter.name)

	other := n2
	if adopter == n2 {
		other = n3
	}
	// Published on the adopter: queued for the adopted session there, and
	// stored before the PUBACK. (On another node they would cross on core
	// NATS once the subscription's interest reached it: this round's ingest
	// is what makes that path lossless, decision 0055.)
	pub := connectTo(t, adopter, "pub", true, 0, false)
	for i := 1; i <= 3; i++ {
		pub.publish(t, "ad/a", fmt.Sprintf("a%d", i))
	}
	// The client comes back to the other survivor: the session moves again,
	// from the adopter.
	back := connectTo(t, other, "adoptee", false, 0, false)
	if !back.ack.SessionPresent {
		t.Fatalf("CONNACK on %s: session present 0, want 1", other.name)
	}
	for i := 1; i <= 3; i++ {
		want := fmt.Sprintf("a%d", i)
		if m := back.next(t, ""); string(m.Payload) != want {
			t.Fatalf("on %s: %q, want %q", other.name, m.Payload, want)
		}
	}
}
