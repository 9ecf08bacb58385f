package broker_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
)

func TestShutdownSends0x8BTo5ClientsAndClosesOthers(t *testing.T) {
	tb := startBrokerNoCleanup(t, broker.Options{AllowAnonymous: true})
	v5, _ := connectRaw(t, tb.addr, v5Connect("shut5"))
	v311, _ := connectRaw(t, tb.addr, &packets.Connect{ProtocolVersion: packets.V311, CleanStart: true, ClientID: "shut311"})
	idle := dialRaw(t, tb.addr) // no CONNECT yet
	tb.shutdown(t)
	v5.expectDisconnect(packets.ServerShuttingDown)
	v311.expectClosed()
	idle.expectClosed()
	if _, err := net.DialTimeout("tcp", tb.addr, time.Second); err == nil {
		t.Fatal("listener still accepting after Shutdown")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := tb.Serve(l, "late"); !errors.Is(err, broker.ErrClosed) {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
}

func TestShutdownHonoursContextDeadline(t *testing.T) {
	tb := startBrokerNoCleanup(t, broker.Options{AllowAnonymous: true})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = tb.Shutdown(ctx) // may or may not finish in time; must not block
	tb.shutdown(t)       // a second call waits for the rest
}

func TestPersistentSessionSurvivesRestartOnSameStore(t *testing.T) {
	store := session.NewMemoryStore()
	first := startBrokerNoCleanup(t, broker.Options{AllowAnonymous: true, Store: store})

	s, _ := connectRaw(t, first.addr, persistent("survivor", 600))
	s.subscribe(1, sub("restart/#", 1))
	p, _ := connectRaw(t, first.addr, v5Connect("restart-pub"))
	// One message in flight (received, never acknowledged) ...
	p.publish(&packets.Publish{Topic: "restart/t", QoS: 1, PacketID: 1, Payload: []byte("0")})
	p.expectAck(packets.TypePuback, 1)
	inflight := s.nextPublish()
	s.disconnect(packets.NormalDisconnection)
	eventually(t, "subscriber offline", func() bool { return first.ClientCount() == 1 })
	// ... and three queued while the client is away, plus a retained message.
	for i := 1; i <= 3; i++ {
		p.publish(&packets.Publish{Topic: "restart/t", QoS: 1, PacketID: uint16(i + 1), Payload: []byte(strconv.Itoa(i))})
		p.expectAck(packets.TypePuback, uint16(i+1))
	}
	p.publish(&packets.Publish{Topic: "restart/kept", QoS: 1, PacketID: 9, Retain: true, Payload: []byte("r")})
	p.expectAck(packets.TypePuback, 9)
	first.shutdown(t)

	second := startBroker(t, broker.Options{AllowAnonymous: true, Store: store})
	cp := persistent("survivor", 600)
	cp.CleanStart = false
	s2, ack := connectRaw(t, second.addr, cp)
	if !ack.SessionPresent {
		t.Fatal("session not present after restart")
	}
	m := s2.nextPublish()
	if !m.Dup || m.PacketID != inflight.PacketID || string(m.Payload) != "0" {
		t.Fatalf("in-flight message resent as %+v", m)
	}
	s2.ack(packets.TypePuback, m.PacketID)
	for i := 1; i <= 3; i++ {
		m := s2.nextPublish()
		if string(m.Payload) != strconv.Itoa(i) || m.Dup {
			t.Fatalf("queued message %d: %+v", i, m)
		}
		s2.ack(packets.TypePuback, m.PacketID)
	}
	if m := s2.nextPublish(); string(m.Payload) != "r" || m.Retain { // queued live, so RETAIN 0
		t.Fatalf("queued retained message: %+v", m)
	} else {
		s2.ack(packets.TypePuback, m.PacketID)
	}
	// The subscription itself survived: a new message is routed to it.
	p2, _ := connectRaw(t, second.addr, v5Connect("restart-pub2"))
	p2.publish(&packets.Publish{Topic: "restart/new", QoS: 1, PacketID: 1, Payload: []byte("new")})
	if a := p2.expectAck(packets.TypePuback, 1); a.Reason != packets.Success {
		t.Fatalf("PUBACK %v: the subscription did not survive", a.Reason)
	}
	if m := s2.nextPublish(); string(m.Payload) != "new" {
		t.Fatalf("got %q", m.Payload)
	}
	if n := second.Stats().Retained; n != 1 {
		t.Fatalf("Retained = %d after restart, want 1", n)
	}
}

func TestSessionWithoutExpiryNotRestored(t *testing.T) {
	store := session.NewMemoryStore()
	first := startBrokerNoCleanup(t, broker.Options{AllowAnonymous: true, Store: store})
	s, _ := connectRaw(t, first.addr, v5Connect("ephemeral"))
	s.subscribe(1, sub("eph/#", 1))
	first.shutdown(t)
	second := startBroker(t, broker.Options{AllowAnonymous: true, Store: store})
	if n := second.Stats().Sessions; n != 0 {
		t.Fatalf("Sessions = %d: a session with expiry 0 outlived its connection", n)
	}
}

func TestDelayedWillKeepsItsDelayAcrossRestart(t *testing.T) {
	store := session.NewMemoryStore()
	first := startBrokerNoCleanup(t, broker.Options{AllowAnonymous: true, Store: store})
	// A persistent watcher: a will published at any time lands in its session.
	w, _ := connectRaw(t, first.addr, persistent("will-watcher", 600))
	w.subscribe(1, sub("will/restart", 1))
	w.disconnect(packets.NormalDisconnection)
	c, _ := connectRaw(t, first.addr, willConnect("patient", "will/restart", 60, 600))
	_ = c.conn.Close()
	eventually(t, "drop noticed", func() bool { return first.ClientCount() == 0 })
	first.shutdown(t)

	second := startBroker(t, broker.Options{AllowAnonymous: true, Store: store})
	wp := persistent("will-watcher", 600)
	wp.CleanStart = false
	w2, _ := connectRaw(t, second.addr, wp)
	w2.expectNothing(300 * time.Millisecond) // 60 s have not passed
	// The client comes back in time: the will is cancelled for good [MQTT-3.1.3-9].
	cp := willConnect("patient", "will/restart", 60, 600)
	cp.CleanStart = false
	if _, ack := connectRaw(t, second.addr, cp); !ack.SessionPresent {
		t.Fatal("session not present after restart")
	}
	w2.expectNothing(100 * time.Millisecond)
}
