package interop

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/plumemq/plume/conformance/internal/testflags"
	"github.com/plumemq/plume/conformance/wire"
)

var brokerFlag = testflags.Broker

// msg is a message as a client saw it.
type msg struct {
	Topic   string
	QoS     byte
	Retain  bool
	Payload string
}

// subSpec describes a subscribing connection.
type subSpec struct {
	ClientID  string
	Clean     bool // clean start / clean session; false asks for a session that outlives the connection
	Topic     string
	QoS       byte
	Subscribe bool // false: only connect (resume a session) and listen
	Count     int  // messages to wait for (exec clients exit after them)
	Detach    bool // disconnect normally right after the SUBACK (sets up a session)
}

// peer is a real MQTT client library or tool under test.
type peer interface {
	name() string
	versions() []byte
	// subscribe returns once the broker acknowledged the subscription (or the
	// connection, when s.Subscribe is false); received messages arrive on
	// the channel. stop ends the connection.
	subscribe(t *testing.T, v byte, s subSpec) (msgs <-chan msg, stop func())
	publish(t *testing.T, v byte, m msg)
	// withWill connects with a will and returns a function that drops the
	// connection without DISCONNECT.
	withWill(t *testing.T, v byte, will msg) (drop func())
}

// wait bounds each step of a client run. Generous: a client such as MQTT.js
// starts a Node process, which on a busy 2-core machine can take seconds.
const wait = 30 * time.Second

func broker(t *testing.T) string {
	t.Helper()
	if *brokerFlag == "" {
		t.Skip("no -broker given; run: go test ./conformance/interop -broker tcp://HOST:PORT")
	}
	return *brokerFlag
}

func tag() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func versionName(v byte) string {
	if v == 4 {
		return "3.1.1"
	}
	return "5.0"
}

// expect waits for one message on ch and checks it.
func expect(t *testing.T, ch <-chan msg, want msg) {
	t.Helper()
	select {
	case got, ok := <-ch:
		if !ok {
			t.Fatalf("subscriber ended before %+v arrived", want)
		}
		if got != want {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	case <-time.After(wait):
		t.Fatalf("no message within %v, want %+v", wait, want)
	}
}

// raw is the suite's own client, the reference on the other side.
type raw struct {
	t *testing.T
	c *wire.Conn
	v byte
}

func dialRaw(t *testing.T, v byte, id string, clean bool) *raw {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := wire.Dial(ctx, broker(t), v)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &raw{t: t, c: c, v: v}
	cp := wire.Connect{Version: v, ClientID: id, CleanStart: clean, KeepAlive: 60}
	r.send(cp.Encode())
	if ack := r.next(); ack.Type != wire.CONNACK || ack.ReasonCode != 0 {
		t.Fatalf("raw client: %v", ack)
	}
	return r
}

func (r *raw) send(b []byte) {
	r.t.Helper()
	if err := r.c.Write(b, wait); err != nil {
		r.t.Fatal(err)
	}
}

func (r *raw) next() *wire.Packet {
	r.t.Helper()
	p, err := r.c.Read(wait)
	if err != nil {
		r.t.Fatalf("raw client: %v", err)
	}
	return p
}

// subscribe subscribes at QoS 2 and returns a channel of what arrives.
func (r *raw) subscribe(topic string) <-chan msg {
	r.t.Helper()
	r.send(wire.Subscribe{PacketID: 1, Subs: []wire.Subscription{{Filter: topic, Options: 2}}}.Encode(r.v))
	if p := r.next(); p.Type != wire.SUBACK || p.ReasonCodes[0] >= 0x80 {
		r.t.Fatalf("raw subscribe: %v", p)
	}
	ch := make(chan msg, 64)
	go func() {
		defer close(ch)
		for {
			p, err := r.c.Read(time.Minute)
			if err != nil {
				return
			}
			switch {
			case p.Type == wire.PUBLISH && p.QoS == 1:
				r.c.Write(wire.Ack(r.v, wire.PUBACK, p.PacketID, 0, nil), wait)
			case p.Type == wire.PUBLISH && p.QoS == 2:
				r.c.Write(wire.Ack(r.v, wire.PUBREC, p.PacketID, 0, nil), wait)
			case p.Type == wire.PUBREL:
				r.c.Write(wire.Ack(r.v, wire.PUBCOMP, p.PacketID, 0, nil), wait)
			}
			if p.Type == wire.PUBLISH {
				ch <- msg{Topic: p.Topic, QoS: p.QoS, Retain: p.Retain, Payload: string(p.Payload)}
			}
		}
	}()
	return ch
}

// publish publishes at QoS 1 and waits for the PUBACK.
func (r *raw) publish(topic, payload string, retain bool) {
	r.t.Helper()
	r.send(wire.Publish{Topic: topic, Payload: []byte(payload), QoS: 1, PacketID: 9, Retain: retain}.Encode(r.v))
	if p := r.next(); p.Type != wire.PUBACK {
		r.t.Fatalf("raw publish: %v", p)
	}
}

// clearRetained removes the retained message of topic after the test.
func clearRetained(t *testing.T, v byte, topic string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		c, err := wire.Dial(ctx, *brokerFlag, v)
		if err != nil {
			return
		}
		defer c.Close()
		c.Write(wire.Connect{Version: v, ClientID: "clr" + tag(), CleanStart: true}.Encode(), wait)
		c.Read(wait)
		c.Write(wire.Publish{Topic: topic, Retain: true, QoS: 1, PacketID: 1}.Encode(v), wait)
		c.Read(wait)
	})
}

// TestInterop runs every scenario for every client and version, and QoS 1
// messages between every pair of clients.
func TestInterop(t *testing.T) {
	broker(t)
	peers := []peer{mosquittoClients{}, pahoGolang{}, pahoMQTTGolang{}, mqttJS{}}
	// MQTT.js again over each WebSocket listener given (-broker-ws and the
	// rest): the scenarios, whose reference client stays on TCP, so every
	// message crosses from one transport to the other. Not in the pairs:
	// they would only repeat that crossing.
	webSockets := []peer{mqttJS{via: "ws"}, mqttJS{via: "wss"}, mqttJS{via: "wss+mTLS"}}
	for _, p := range slices.Concat(peers, webSockets) {
		for _, v := range p.versions() {
			t.Run(fmt.Sprintf("%s/%s", p.name(), versionName(v)), func(t *testing.T) {
				t.Parallel()
				if j, ok := p.(mqttJS); ok {
					j.target(t) // skips a transport whose listener no flag names
				}
				for _, sc := range scenarios {
					t.Run(sc.name, func(t *testing.T) { sc.run(t, p, v) })
				}
			})
		}
	}
	for _, pub := range peers {
		for _, sub := range peers {
			for _, v := range []byte{4, 5} {
				if !supports(pub, v) || !supports(sub, v) {
					continue
				}
				t.Run(fmt.Sprintf("pair/%s->%s/%s", pub.name(), sub.name(), versionName(v)), func(t *testing.T) {
					t.Parallel()
					topic := "cfi/" + tag() + "/pair"
					ch, stop := sub.subscribe(t, v, subSpec{ClientID: "s" + tag(), Clean: true, Topic: topic, QoS: 1, Subscribe: true, Count: 1})
					defer stop()
					pub.publish(t, v, msg{Topic: topic, QoS: 1, Payload: "from " + pub.name()})
					expect(t, ch, msg{Topic: topic, QoS: 1, Payload: "from " + pub.name()})
				})
			}
		}
	}
}

func supports(p peer, v byte) bool {
	for _, x := range p.versions() {
		if x == v {
			return true
		}
	}
	return false
}

var scenarios = []struct {
	name string
	run  func(t *testing.T, p peer, v byte)
}{
	{"QoS0", func(t *testing.T, p peer, v byte) { pubSub(t, p, v, 0) }},
	{"QoS1", func(t *testing.T, p peer, v byte) { pubSub(t, p, v, 1) }},
	{"QoS2", func(t *testing.T, p peer, v byte) { pubSub(t, p, v, 2) }},
	{"Retained", func(t *testing.T, p peer, v byte) {
		topic := "cfi/" + tag() + "/ret"
		clearRetained(t, v, topic)
		p.publish(t, v, msg{Topic: topic, QoS: 1, Retain: true, Payload: "kept"})
		ch, stop := p.subscribe(t, v, subSpec{ClientID: "r" + tag(), Clean: true, Topic: topic, QoS: 1, Subscribe: true, Count: 1})
		defer stop()
		expect(t, ch, msg{Topic: topic, QoS: 1, Retain: true, Payload: "kept"})
	}},
	{"Will", func(t *testing.T, p peer, v byte) {
		topic := "cfi/" + tag() + "/will"
		watch := dialRaw(t, v, "w"+tag(), true).subscribe(topic)
		drop := p.withWill(t, v, msg{Topic: topic, QoS: 1, Payload: "gone"})
		drop()
		expect(t, watch, msg{Topic: topic, QoS: 1, Payload: "gone"})
	}},
	{"PersistentSession", func(t *testing.T, p peer, v byte) {
		topic := "cfi/" + tag() + "/sess"
		id := "p" + tag()
		p.subscribe(t, v, subSpec{ClientID: id, Clean: false, Topic: topic, QoS: 1, Subscribe: true, Detach: true})
		t.Cleanup(func() { dialRaw(t, v, id, true).c.Close() })
		dialRaw(t, v, "q"+tag(), true).publish(topic, "while away", false)
		ch, stop := p.subscribe(t, v, subSpec{ClientID: id, Clean: false, Topic: topic, QoS: 1, Count: 1})
		defer stop()
		expect(t, ch, msg{Topic: topic, QoS: 1, Payload: "while away"})
	}},
}

// pubSub has the client subscribe and publish at qos; the suite's own
// client, subscribed at QoS 2, checks that the client really published at
// qos.
func pubSub(t *testing.T, p peer, v byte, qos byte) {
	topic := fmt.Sprintf("cfi/%s/q%d", tag(), qos)
	watch := dialRaw(t, v, "w"+tag(), true).subscribe(topic)
	ch, stop := p.subscribe(t, v, subSpec{ClientID: "s" + tag(), Clean: true, Topic: topic, QoS: qos, Subscribe: true, Count: 1})
	defer stop()
	want := msg{Topic: topic, QoS: qos, Payload: fmt.Sprintf("qos %d from %s", qos, p.name())}
	p.publish(t, v, want)
	expect(t, ch, want)
	expect(t, watch, want)
}
