package broker_test

// The adversarial suite, write side: clients that never read. A connection
// the broker cannot write to must end the way every connection ends — will,
// session, log line — and must not take another connection's socket with it.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
)

// floodUntilGone publishes 64 KiB QoS 0 messages to topic until the
// broker has ended the connection of the client that does not read them.
func floodUntilGone(t *testing.T, tb *testBroker, topic string, connected int) {
	t.Helper()
	p, _ := connectRaw(t, tb.addr, v5Connect(topic+"-flooder"))
	payload := make([]byte, 64<<10)
	deadline := time.Now().Add(20 * time.Second)
	for tb.Stats().ClientsConnected > connected {
		if time.Now().After(deadline) {
			t.Fatalf("the non-reading client is still connected (%d clients)", tb.Stats().ClientsConnected)
		}
		for range 16 {
			p.publish(&packets.Publish{Topic: topic, Payload: payload})
		}
		p.send(&packets.Pingreq{}) // paces the flood: the broker read it all
		if r := p.next(); r.Type() != packets.TypePingresp {
			t.Fatalf("got %T", r)
		}
	}
}

// A write that times out ends the connection through its one end: the will
// is published, the client no longer counts as connected, and an info line
// says why — with keep-alive 0 and the reader parked, where nothing else
// would ever notice.
func TestWriteTimeoutEndsTheConnection(t *testing.T) {
	logs := &logBuffer{}
	tb := startBroker(t, broker.Options{AllowAnonymous: true, ParkIdleAfter: 20 * time.Millisecond,
		Log:    zerolog.New(logs).Level(zerolog.InfoLevel),
		Limits: broker.Limits{WriteTimeout: 300 * time.Millisecond}})
	watcher, _ := connectRaw(t, tb.addr, v5Connect("zombie-watcher"))
	watcher.subscribe(1, sub("zombie/will", 1))

	cp := v5Connect("zombie")
	cp.KeepAlive = 0
	cp.Will = &packets.Will{Topic: "zombie/will", Payload: []byte("gone"), QoS: 1}
	z, _ := connectRaw(t, tb.addr, cp)
	z.subscribe(1, sub("zombie/flood", 0))
	eventually(t, "the reader parked", func() bool { return tb.ParkedCount() >= 1 })

	floodUntilGone(t, tb, "zombie/flood", 2)
	if w := watcher.nextPublish(); string(w.Payload) != "gone" {
		t.Fatalf("watcher got %q, want the will", w.Payload)
	}
	var line map[string]any
	eventually(t, "the disconnect logged", func() bool {
		for _, e := range logs.find("client disconnected") {
			if e["client_id"] == "zombie" {
				line = e
				return true
			}
		}
		return false
	})
	if e, _ := line["error"].(string); !strings.Contains(e, "write failed") || line["level"] != "info" {
		t.Fatalf("disconnect line %v: want level info and the write failure", line)
	}
}

// Issue 16, failure 1: a connection whose write timed out gives up its socket
// only after leaving the idle poller, so the connection that gets the socket
// number next is never forgotten by the poller when the first is cleaned up
// (here by a takeover of its client id). The innocent one keeps being read.
func TestSocketNumberReuseDoesNotStallAnotherConnection(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, ParkIdleAfter: 20 * time.Millisecond,
		Limits: broker.Limits{WriteTimeout: 300 * time.Millisecond}})
	cp := persistent("x-stuck", 60)
	cp.KeepAlive = 0
	x, _ := connectRaw(t, tb.addr, cp)
	x.subscribe(1, sub("x/flood", 0))
	eventually(t, "x parked", func() bool { return tb.ParkedCount() >= 1 })
	floodUntilGone(t, tb, "x/flood", 1)
	// Free x's client socket as well, so that y's accepted socket is likely
	// to get the number x's had on the broker's side.
	_ = x.conn.Close()

	y, _ := connectRaw(t, tb.addr, v5Connect("y-innocent"))
	y.subscribe(1, sub("y/t", 1))
	eventually(t, "y parked", func() bool { return tb.ParkedCount() >= 1 })

	takeover := persistent("x-stuck", 60)
	takeover.CleanStart = false
	connectRaw(t, tb.addr, takeover)

	y.send(&packets.Pingreq{})
	if r := y.next(); r.Type() != packets.TypePingresp {
		t.Fatalf("y got %T, want PINGRESP", r)
	}
	p, _ := connectRaw(t, tb.addr, v5Connect("y-publisher"))
	for i := range 30 {
		p.publish(&packets.Publish{Topic: "y/t", QoS: 1, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
		p.expectAck(packets.TypePuback, uint16(i+1))
	}
	for i := range 30 {
		m := y.nextPublish()
		if string(m.Payload) != fmt.Sprint(i) {
			t.Fatalf("message %d: got %q", i, m.Payload)
		}
		y.ack(packets.TypePuback, m.PacketID)
	}
}
