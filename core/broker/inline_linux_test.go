package broker_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
)

// Serving inline (inline_linux.go, docs/decisions/0044): a latency-bound
// connection of a broker with no store and no hook on the publish path is
// read, handled and answered on the idle poller's goroutine. These tests
// run such a broker; each says which race or hand-off it exercises.

// inlineBroker is a broker whose latency-bound connections are served
// inline, a lone one too (ServeInlineAlone): the tests of the inline path
// need one client only.
func inlineBroker(t *testing.T, opts broker.Options) *testBroker {
	tb := inlineCapableBroker(t, opts)
	broker.ServeInlineAlone(tb.Broker)
	return tb
}

// inlineCapableBroker is a broker that serves latency-bound connections
// inline when several are latency-bound at once, as plume without a data
// directory and without hooks on the publish path.
func inlineCapableBroker(t *testing.T, opts broker.Options) *testBroker {
	opts.AllowAnonymous = true
	opts.Store = withoutStore
	return startBroker(t, opts)
}

// pingPong sends n QoS q messages to topic, to which c subscribed, one in
// flight, and checks each comes back whole and in order.
func pingPong(t *testing.T, c *rawClient, topic string, qos byte, n int, first uint16) {
	t.Helper()
	for i := range n {
		id := first + uint16(i)
		p := &packets.Publish{Topic: topic, QoS: qos, Payload: []byte{byte(i), byte(i >> 8)}}
		if qos > 0 {
			p.PacketID = id
		}
		c.publish(p)
		var got *packets.Publish
		acked := qos == 0
		for got == nil || !acked {
			switch pk := c.next().(type) {
			case *packets.Publish:
				got = pk
			case *packets.Ack:
				if pk.Kind != packets.TypePuback || pk.PacketID != id {
					t.Fatalf("message %d: got %v %d", i, pk.Kind, pk.PacketID)
				}
				acked = true
			default:
				t.Fatalf("message %d: got %T", i, pk)
			}
		}
		if len(got.Payload) != 2 || int(got.Payload[0])|int(got.Payload[1])<<8 != i {
			t.Fatalf("message %d: got payload % x", i, got.Payload)
		}
		if got.QoS > 0 {
			c.ack(packets.TypePuback, got.PacketID)
		}
	}
}

// A client with one message in flight is served on the poller, not on a
// goroutine woken per message; what it sends comes back whole and in order.
func TestLatencyBoundClientIsServedInline(t *testing.T) {
	tb := inlineBroker(t, broker.Options{})
	c, _ := connectRaw(t, tb.addr, v5Connect("inline-pp"))
	c.subscribe(1, sub("inline/pp", 1))
	before := broker.InlineServes()
	pingPong(t, c, "inline/pp", 1, 200, 10)
	pingPong(t, c, "inline/pp", 0, 200, 0)
	if n := broker.InlineServes() - before; n < 200 {
		t.Fatalf("%d inline services for 400 round trips: the poller did not serve the client", n)
	}
	// And it still answers what goes to its goroutine.
	c.subscribe(2, sub("inline/other", 0))
	c.disconnect(packets.NormalDisconnection)
	c.expectClosed()
}

// With a hook on the publish path a client is never served inline: a
// plugin call may take up to its deadline, and every other connection the
// poller serves would wait for it.
func TestClientWithPublishHooksIsNotServedInline(t *testing.T) {
	authz := &countingAuthz{}
	chain := hooks.NewChain(zerolog.Nop(), hooks.Link{Name: "authz", Hooks: authz})
	tb := inlineBroker(t, broker.Options{Hooks: chain})
	c, _ := connectRaw(t, tb.addr, v5Connect("inline-hooked"))
	c.subscribe(1, sub("hooked/pp", 1))
	before := broker.InlineServes()
	pingPong(t, c, "hooked/pp", 1, 50, 10)
	if n := broker.InlineServes() - before; n != 0 {
		t.Fatalf("%d inline services with an authorize hook, want 0", n)
	}
	if authz.calls.Load() < 50 {
		t.Fatalf("the hook saw %d publishes, want 50", authz.calls.Load())
	}
}

// Other goroutines write to a connection served inline: a pipelining
// publisher (served by its own goroutine, which the batch size sends
// there) floods a client that ping-pongs on its own topic. Every message
// of both arrives, in order, once.
func TestWritesFromOtherGoroutinesReachAnInlineClient(t *testing.T) {
	tb := inlineBroker(t, broker.Options{})
	s, _ := connectRaw(t, tb.addr, v5Connect("inline-sub"))
	s.subscribe(1, sub("inline/own", 0), sub("inline/flood", 1))
	p, _ := connectRaw(t, tb.addr, v5Connect("inline-flood"))
	const flood = 2000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var b []byte
		for i := range flood {
			pk := &packets.Publish{Topic: "inline/flood", QoS: 1, PacketID: uint16(i%60000 + 1), Payload: []byte{byte(i), byte(i >> 8)}}
			b = pk.Append(b, packets.V5)
			if i%50 == 49 {
				_ = p.conn.SetWriteDeadline(time.Now().Add(wait))
				if _, err := p.conn.Write(b); err != nil {
					t.Errorf("publisher write: %v", err)
					return
				}
				b = b[:0]
			}
		}
	}()
	go func() { // the publisher's PUBACKs, so that its socket never fills
		for {
			if _, err := p.read(30 * time.Second); err != nil {
				return
			}
		}
	}()
	own, flooded := 0, 0
	deadline := time.Now().Add(30 * time.Second)
	s.publish(&packets.Publish{Topic: "inline/own", Payload: []byte{0, 0}})
	for own < 300 || flooded < flood {
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s: %d of 300 own messages, %d of %d flooded", own, flooded, flood)
		}
		m := s.nextPublish()
		seq := int(m.Payload[0]) | int(m.Payload[1])<<8
		switch m.Topic {
		case "inline/own":
			if seq != own {
				t.Fatalf("own message %d arrived as %d", own, seq)
			}
			own++
			if own < 300 {
				s.publish(&packets.Publish{Topic: "inline/own", Payload: []byte{byte(own), byte(own >> 8)}})
			}
		case "inline/flood":
			if seq != flooded {
				t.Fatalf("flooded message %d arrived as %d", flooded, seq)
			}
			flooded++
			s.ack(packets.TypePuback, m.PacketID)
		}
	}
	wg.Wait()
	s.expectNothing(50 * time.Millisecond)
}

// A takeover kicks a connection the poller may be serving at that moment:
// the old connection, ping-ponging on another goroutine, ends with 0x8E,
// the new one is connected and served, every round.
func TestTakeoverOfAnInlineClient(t *testing.T) {
	tb := inlineBroker(t, broker.Options{})
	old, _ := connectRaw(t, tb.addr, v5Connect("inline-take"))
	old.subscribe(1, sub("take/t", 0))
	for round := range 20 {
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { // the old connection keeps sending while it is taken over
			defer close(done)
			b := (&packets.Publish{Topic: "take/t", Payload: []byte("x")}).Append(nil, packets.V5)
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = old.conn.SetWriteDeadline(time.Now().Add(wait))
				if _, err := old.conn.Write(b); err != nil {
					return
				}
				time.Sleep(100 * time.Microsecond)
			}
		}()
		nu, _ := connectRaw(t, tb.addr, v5Connect("inline-take"))
		close(stop)
		<-done
		for {
			p, err := old.read(wait)
			if err != nil {
				t.Fatalf("round %d: the old connection ended without DISCONNECT: %v", round, err)
			}
			if p.Type() == packets.TypePublish {
				continue
			}
			if d, ok := p.(*packets.Disconnect); !ok || d.Reason != packets.SessionTakenOver {
				t.Fatalf("round %d: got %T %+v, want DISCONNECT 0x8E", round, p, p)
			}
			break
		}
		old.expectClosed()
		nu.subscribe(1, sub("take/t", 0))
		pingPong(t, nu, "take/t", 0, 5, 0)
		old = nu
	}
}

// A client served inline that goes away without DISCONNECT has its will
// published; one that sends DISCONNECT 0x00 has not [MQTT-3.1.2-8], [MQTT-3.1.2-10].
func TestInlineClientsWill(t *testing.T) {
	tb := inlineBroker(t, broker.Options{})
	w, _ := connectRaw(t, tb.addr, v5Connect("inline-watch"))
	w.subscribe(1, sub("inline/will", 0))
	for _, drop := range []bool{true, false} {
		cp := v5Connect("inline-willing")
		cp.Will = &packets.Will{Topic: "inline/will", Payload: []byte("gone")}
		c, _ := connectRaw(t, tb.addr, cp)
		c.subscribe(1, sub("inline/own", 0))
		pingPong(t, c, "inline/own", 0, 20, 0)
		if drop {
			_ = c.conn.Close()
			if m := w.nextPublish(); string(m.Payload) != "gone" {
				t.Fatalf("will payload %q", m.Payload)
			}
		} else {
			c.disconnect(packets.NormalDisconnection)
			c.expectClosed()
			w.expectNothing(200 * time.Millisecond)
		}
	}
}

// A client served inline that falls silent is closed with 0x8D after 1.5
// times its keep-alive [MQTT-3.1.2-22]: the poller's wheel stands in for
// the read deadline its goroutine would have had.
func TestInlineClientKeepAliveExpires(t *testing.T) {
	tb := inlineBroker(t, broker.Options{})
	cp := v5Connect("inline-silent")
	cp.KeepAlive = 1
	c, _ := connectRaw(t, tb.addr, cp)
	c.subscribe(1, sub("inline/ka", 0))
	pingPong(t, c, "inline/ka", 0, 20, 0)
	start := time.Now()
	p, err := c.read(10 * time.Second)
	if d, ok := p.(*packets.Disconnect); err != nil || !ok || d.Reason != packets.KeepAliveTimeout {
		t.Fatalf("got %T %+v, %v; want DISCONNECT 0x8D", p, p, err)
	}
	if quiet := time.Since(start); quiet < time.Second {
		t.Fatalf("closed after %v of silence, before 1.5 x keep-alive", quiet)
	}
	c.expectClosed()
}

// A packet that arrives in two parts, with a pause between them, is handed
// to the connection's goroutine, which waits for the rest; it arrives whole.
func TestPacketArrivingInPartsToAnInlineClient(t *testing.T) {
	tb := inlineBroker(t, broker.Options{})
	c, _ := connectRaw(t, tb.addr, v5Connect("inline-parts"))
	c.subscribe(1, sub("inline/parts", 0))
	for i := range 10 {
		pingPong(t, c, "inline/parts", 0, 3, 0)
		b := (&packets.Publish{Topic: "inline/parts", Payload: []byte{byte(i), 0, 7, 7}}).Append(nil, packets.V5)
		cut := 1 + i%(len(b)-1)
		c.write(b[:cut])
		time.Sleep(2 * time.Millisecond) // the first part is read alone
		c.write(b[cut:])
		if m := c.nextPublish(); len(m.Payload) != 4 || m.Payload[0] != byte(i) {
			t.Fatalf("part %d: got % x", i, m.Payload)
		}
	}
}

// Shutdown ends connections parked for, or being given, inline service:
// each is told 0x8B and closed, and Shutdown returns.
func TestShutdownEndsInlineClients(t *testing.T) {
	tb := startBrokerNoCleanup(t, broker.Options{AllowAnonymous: true, Store: withoutStore})
	var cs []*rawClient
	for i := range 8 {
		c, _ := connectRaw(t, tb.addr, v5Connect("inline-shut-"+string(rune('a'+i))))
		c.subscribe(1, sub("shut/"+string(rune('a'+i)), 0))
		pingPong(t, c, "shut/"+string(rune('a'+i)), 0, 10, 0)
		cs = append(cs, c)
	}
	// Half of them are sending while the broker shuts down.
	var wg sync.WaitGroup
	for _, c := range cs[:4] {
		wg.Add(1)
		go func(conn net.Conn) {
			defer wg.Done()
			b := (&packets.Publish{Topic: "shut/none", Payload: []byte("x")}).Append(nil, packets.V5)
			for {
				_ = conn.SetWriteDeadline(time.Now().Add(wait))
				if _, err := conn.Write(b); err != nil {
					return
				}
			}
		}(c.conn)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tb.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for i, c := range cs {
		for {
			p, err := c.read(wait)
			if err != nil {
				t.Fatalf("client %d: closed without DISCONNECT: %v", i, err)
			}
			if d, ok := p.(*packets.Disconnect); ok {
				if d.Reason != packets.ServerShuttingDown {
					t.Fatalf("client %d: DISCONNECT %v, want 0x8B", i, d.Reason)
				}
				break
			}
		}
		c.expectClosed()
	}
	wg.Wait()
}

// At QoS 2 the broker's PUBREL to the subscriber is written by a flusher
// goroutine, not the reader's batch. To a connection served inline, which
// has no net.Conn, it is written on its socket as the batch's writes are:
// rebuilding the net.Conn for it, and detaching it again, cost two thirds
// of the round trips (seen: 87 rebuilds in 200 round trips).
func TestInlineClientAtQoS2IsNotRebuiltPerMessage(t *testing.T) {
	tb := inlineBroker(t, broker.Options{})
	c, _ := connectRaw(t, tb.addr, v5Connect("inline-q2"))
	c.subscribe(1, sub("inline/q2", 2))
	rebuilt, served := broker.WriteAttaches(), broker.InlineServes()
	for i := range 200 {
		id := uint16(i + 1)
		c.publish(&packets.Publish{Topic: "inline/q2", QoS: 2, PacketID: id, Payload: []byte{byte(i)}})
		var out *packets.Publish
		for rec := false; !rec || out == nil; {
			switch p := c.next().(type) {
			case *packets.Ack:
				rec = rec || (p.Kind == packets.TypePubrec && p.PacketID == id)
			case *packets.Publish:
				out = p
			}
		}
		if len(out.Payload) != 1 || out.Payload[0] != byte(i) {
			t.Fatalf("message %d: got % x", i, out.Payload)
		}
		c.ack(packets.TypePubrel, id)
		c.ack(packets.TypePubrec, out.PacketID)
		for comp, rel := false, false; !comp || !rel; {
			a, ok := c.next().(*packets.Ack)
			if !ok {
				t.Fatalf("message %d: want PUBCOMP and PUBREL, got %T", i, a)
			}
			comp = comp || (a.Kind == packets.TypePubcomp && a.PacketID == id)
			rel = rel || (a.Kind == packets.TypePubrel && a.PacketID == out.PacketID)
		}
		c.ack(packets.TypePubcomp, out.PacketID)
	}
	if n := broker.InlineServes() - served; n < 200 {
		t.Fatalf("%d inline services for 200 QoS 2 round trips", n)
	}
	if n := broker.WriteAttaches() - rebuilt; n > 5 {
		t.Fatalf("%d rebuilds of the net.Conn for 200 round trips, want at most a few", n)
	}
}
