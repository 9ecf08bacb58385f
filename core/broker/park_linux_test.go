package broker_test

import (
	"testing"
	"time"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
)

// Parking is Linux-only (epoll); these tests check that a parked connection
// keeps every guarantee of one with a goroutine (docs/decisions/0037).

// parkedBroker starts a broker that parks a connection 20 ms after its last byte.
func parkedBroker(t *testing.T) *testBroker {
	return startBroker(t, broker.Options{AllowAnonymous: true, ParkIdleAfter: 20 * time.Millisecond})
}

// A parked connection whose keep-alive runs out is closed with 0x8D by the
// poller's deadline wheel, not before 1.5 x keep-alive [MQTT-3.1.2-22].
func TestParkedConnectionKeepAliveExpiresWith0x8D(t *testing.T) {
	tb := parkedBroker(t)
	cp := v5Connect("parked-silent")
	cp.KeepAlive = 1
	start := time.Now()
	c, _ := connectRaw(t, tb.addr, cp)
	eventually(t, "the connection parked", func() bool { return tb.ParkedCount() == 1 })
	c.expectDisconnect(packets.KeepAliveTimeout)
	if d := time.Since(start); d < 1500*time.Millisecond {
		t.Fatalf("disconnected after %v, before 1.5 x keep-alive", d)
	}
}

// The poller may already be waiting when the first keep-alive is scheduled:
// a connection without keep-alive parks first (the wheel stays empty), then
// one with keep-alive 1 s must still be closed. The poller used to wait for
// ever on an empty wheel and missed it until some other socket's event.
func TestKeepAliveScheduledWhileThePollerWaitsExpires(t *testing.T) {
	tb := parkedBroker(t)
	quiet := v5Connect("parked-no-keepalive")
	connectRaw(t, tb.addr, quiet)
	eventually(t, "the first connection parked", func() bool { return tb.ParkedCount() == 1 })
	time.Sleep(50 * time.Millisecond) // let the poller go back to waiting; the verdict does not rest on it
	cp := v5Connect("parked-silent-2")
	cp.KeepAlive = 1
	c, _ := connectRaw(t, tb.addr, cp)
	eventually(t, "the second connection parked", func() bool { return tb.ParkedCount() == 2 })
	c.expectDisconnect(packets.KeepAliveTimeout)
}

// Data on a parked connection resumes it, and it parks again after; its
// keep-alive deadline starts over from the new bytes.
func TestParkedConnectionWakesOnDataAndParksAgain(t *testing.T) {
	tb := parkedBroker(t)
	cp := v5Connect("parked-pinger")
	cp.KeepAlive = 2
	c, _ := connectRaw(t, tb.addr, cp)
	for range 3 {
		eventually(t, "the connection parked", func() bool { return tb.ParkedCount() == 1 })
		c.send(&packets.Pingreq{})
		if p := c.next(); p.Type() != packets.TypePingresp {
			t.Fatalf("got %T, want PINGRESP", p)
		}
	}
}

// A message for a parked subscriber reaches it without waking its reader.
func TestParkedSubscriberReceivesMessages(t *testing.T) {
	tb := parkedBroker(t)
	s, _ := connectRaw(t, tb.addr, v5Connect("parked-sub"))
	s.subscribe(1, sub("parked/t", 0))
	p, _ := connectRaw(t, tb.addr, v5Connect("parked-pub"))
	eventually(t, "both connections parked", func() bool { return tb.ParkedCount() == 2 })
	p.publish(&packets.Publish{Topic: "parked/t", Payload: []byte("x")})
	if m := s.nextPublish(); string(m.Payload) != "x" {
		t.Fatalf("got %q", m.Payload)
	}
}

// Taking over a parked connection's session closes the parked one with 0x8E,
// and shutting down with parked connections sends them 0x8B.
func TestParkedConnectionTakeoverAndShutdown(t *testing.T) {
	tb := startBrokerNoCleanup(t, broker.Options{AllowAnonymous: true, ParkIdleAfter: 20 * time.Millisecond})
	old, _ := connectRaw(t, tb.addr, persistent("parked-twin", 60))
	eventually(t, "the connection parked", func() bool { return tb.ParkedCount() == 1 })
	cp := persistent("parked-twin", 60)
	cp.CleanStart = false
	nu, _ := connectRaw(t, tb.addr, cp)
	old.expectDisconnect(packets.SessionTakenOver)
	eventually(t, "the new connection parked", func() bool { return tb.ParkedCount() == 1 })
	tb.shutdown(t)
	nu.expectDisconnect(packets.ServerShuttingDown)
}
