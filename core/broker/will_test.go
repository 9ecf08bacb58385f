package broker_test

import (
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
)

// willConnect is a 5.0 CONNECT for id with a will on topic, a will delay and
// a session expiry, in seconds.
func willConnect(id, topic string, delay, expiry uint32) *packets.Connect {
	cp := persistent(id, expiry)
	cp.Will = &packets.Will{Topic: topic, Payload: []byte("gone:" + id), QoS: 1}
	if delay > 0 {
		cp.Will.Properties.WillDelay = delay
		cp.Will.Properties.Set(packets.PropWillDelay)
	}
	return cp
}

func watch(t *testing.T, addr, filter string) *rawClient {
	t.Helper()
	w, _ := connectRaw(t, addr, v5Connect("watch-"+filter))
	w.subscribe(1, sub(filter, 1))
	return w
}

func TestWillPublishedWhenConnectionDrops(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	w := watch(t, tb.addr, "will/drop")
	c, _ := dialV5(t, tb.addr, &paho.Connect{ClientID: "dropper", CleanStart: true, KeepAlive: 30,
		WillMessage: &paho.WillMessage{Topic: "will/drop", QoS: 1, Payload: []byte("bye")}})
	c.TerminateConnectionForTest()
	m := w.nextPublish()
	if string(m.Payload) != "bye" || m.QoS != 1 {
		t.Fatalf("will %q qos %d", m.Payload, m.QoS)
	}
}

func TestWillOnDisconnectReason(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	for _, tc := range []struct {
		name   string
		reason packets.ReasonCode
		will   bool
	}{
		{"normal 0x00 discards the will", packets.NormalDisconnection, false},
		{"0x04 publishes the will", packets.DisconnectWithWill, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := watch(t, tb.addr, "will/reason")
			c, _ := connectRaw(t, tb.addr, willConnect("leaver", "will/reason", 0, 0))
			c.disconnect(tc.reason)
			if tc.will {
				if m := w.nextPublish(); string(m.Payload) != "gone:leaver" {
					t.Fatalf("got %q", m.Payload)
				}
			} else {
				w.expectNothing(200 * time.Millisecond)
			}
		})
	}
}

func TestNoWillOnV311Disconnect(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	w := watch(t, tb.addr, "will/311")
	cp := &packets.Connect{ProtocolVersion: packets.V311, CleanStart: true, ClientID: "leaver311",
		Will: &packets.Will{Topic: "will/311", Payload: []byte("x")}}
	c, _ := connectRaw(t, tb.addr, cp)
	c.send(&packets.Disconnect{})
	c.expectClosed()
	w.expectNothing(200 * time.Millisecond)

	c, _ = connectRaw(t, tb.addr, cp)
	_ = c.conn.Close()
	if m := w.nextPublish(); string(m.Payload) != "x" {
		t.Fatalf("got %q", m.Payload)
	}
}

func TestWillDelayCancelledByReconnect(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	w := watch(t, tb.addr, "will/delay")
	cp := willConnect("delayed", "will/delay", 1, 60)
	c, _ := connectRaw(t, tb.addr, cp)
	_ = c.conn.Close()
	eventually(t, "drop noticed", func() bool { return tb.ClientCount() == 1 })
	cp.CleanStart = false
	connectRaw(t, tb.addr, cp) // [MQTT-3.1.3-9] back within the delay: no will
	w.expectNothing(1500 * time.Millisecond)
}

func TestWillDelayPublishesAfterDelay(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	w := watch(t, tb.addr, "will/late")
	c, _ := connectRaw(t, tb.addr, willConnect("late", "will/late", 1, 60))
	_ = c.conn.Close()
	start := time.Now()
	m := w.nextPublish()
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("will published after %v, before its 1 s delay", d)
	}
	if string(m.Payload) != "gone:late" {
		t.Fatalf("got %q", m.Payload)
	}
}

func TestWillPublishedWhenSessionExpiresBeforeDelay(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	w := watch(t, tb.addr, "will/expiry")
	c, _ := connectRaw(t, tb.addr, willConnect("short", "will/expiry", 60, 1))
	_ = c.conn.Close()
	start := time.Now()
	w.nextPublish() // at session end, 1 s, not after the 60 s delay
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("will published after %v, before the session ended", d)
	}
}

func TestWillPublishedOnTakeoverWithCleanStart(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	w := watch(t, tb.addr, "will/takeover")
	old, _ := connectRaw(t, tb.addr, willConnect("taken", "will/takeover", 0, 60))
	connectRaw(t, tb.addr, v5Connect("taken"))
	old.expectDisconnect(packets.SessionTakenOver)
	if m := w.nextPublish(); string(m.Payload) != "gone:taken" {
		t.Fatalf("got %q", m.Payload)
	}
}

func TestRetainedWillIsRetained(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	cp := willConnect("ret-will", "will/retained", 0, 0)
	cp.Will.Retain = true
	c, _ := connectRaw(t, tb.addr, cp)
	_ = c.conn.Close()
	eventually(t, "will retained", func() bool { return tb.Stats().Retained == 1 })
	w, _ := connectRaw(t, tb.addr, v5Connect("late-watcher"))
	w.subscribe(1, sub("will/retained", 1))
	if m := w.nextPublish(); !m.Retain || string(m.Payload) != "gone:ret-will" {
		t.Fatalf("got %+v", m)
	}
}

func TestWillPropertiesForwarded(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	w := watch(t, tb.addr, "will/props")
	cp := willConnect("props", "will/props", 0, 0)
	wp := &cp.Will.Properties
	wp.ContentType, wp.ResponseTopic, wp.CorrelationData = "text/plain", "r/t", []byte{9}
	wp.User = []packets.UserProperty{{Key: "k", Value: "v"}}
	wp.MessageExpiry = 100
	for _, id := range []packets.PropID{packets.PropContentType, packets.PropResponseTopic, packets.PropCorrelationData, packets.PropMessageExpiry} {
		wp.Set(id)
	}
	c, _ := connectRaw(t, tb.addr, cp)
	_ = c.conn.Close()
	m := w.nextPublish()
	p := m.Properties
	if p.ContentType != "text/plain" || p.ResponseTopic != "r/t" || len(p.CorrelationData) != 1 ||
		len(p.User) != 1 || p.User[0].Key != "k" || !p.Has(packets.PropMessageExpiry) || p.MessageExpiry > 100 {
		t.Fatalf("will properties %+v", p)
	}
}
