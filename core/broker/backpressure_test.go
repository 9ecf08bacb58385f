package broker_test

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
)

// Backpressure (limits.queue_full: backpressure, docs/decisions/0012): a
// publisher whose message overfills a subscriber's session stops being read
// until the session has room, so nothing it was acknowledged for is dropped;
// the wait is bounded, so nothing deadlocks.

// generous bounds how long a backpressure test may take for something that
// should be quick: far above any bounded wait the tests configure, far below
// the minute-long waits that would mean a deadlock.
const generous = 20 * time.Second

// peer is a raw client driven from goroutines: one writes its publishes, one
// reads, acknowledging every PUBLISH it receives (QoS 1) and counting its
// PUBACKs.
type peer struct {
	c      *rawClient
	acked  chan struct{} // closed when every publish was acknowledged
	failed chan error    // a PUBACK that was not Success, a failed write
	wg     sync.WaitGroup
}

// startPeer publishes n QoS 1 messages of size bytes to topic on c, at full
// speed. With readAfterWrite, c reads nothing until every publish is written,
// as a client that writes synchronously and reads on the same goroutine
// would: if the broker stops reading it, it stops reading too.
func startPeer(c *rawClient, topic string, n, size int, readAfterWrite bool) *peer {
	p := &peer{c: c, acked: make(chan struct{}), failed: make(chan error, 2)}
	written := make(chan struct{})
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		defer close(written)
		var buf []byte
		for i := 1; i <= n; i++ {
			payload := make([]byte, max(size, 4))
			binary.BigEndian.PutUint32(payload, uint32(i))
			pub := packets.Publish{Topic: topic, QoS: 1, PacketID: uint16(i), Payload: payload}
			buf = pub.Append(buf[:0], c.v)
			_ = c.conn.SetWriteDeadline(time.Now().Add(generous))
			if _, err := c.conn.Write(buf); err != nil {
				p.failed <- fmt.Errorf("writing publish %d: %w", i, err)
				return
			}
		}
	}()
	go func() {
		defer p.wg.Done()
		if readAfterWrite {
			<-written
		}
		acks := 0
		for {
			_ = c.conn.SetReadDeadline(time.Now().Add(generous))
			pk, err := packets.ReadPacket(c.r, c.v, 0)
			if err != nil {
				return // the test closed the connection, or it will see acked never closed
			}
			switch pk := pk.(type) {
			case *packets.Ack:
				if pk.Kind != packets.TypePuback || pk.Reason.IsError() {
					p.failed <- fmt.Errorf("got %v %d reason %v", pk.Kind, pk.PacketID, pk.Reason)
					return
				}
				if acks++; acks == n {
					close(p.acked)
				}
			case *packets.Publish:
				a := packets.Ack{Kind: packets.TypePuback, PacketID: pk.PacketID}
				if _, err := c.conn.Write(a.Append(nil, c.v)); err != nil {
					return
				}
			}
		}
	}()
	return p
}

// await waits for every publish to be acknowledged, within d.
func (p *peer) await(t *testing.T, what string, d time.Duration) {
	t.Helper()
	select {
	case <-p.acked:
	case err := <-p.failed:
		t.Fatalf("%s: %v", what, err)
	case <-time.After(d):
		t.Fatalf("%s: not every publish was acknowledged within %v", what, d)
	}
}

// stop closes the connection and waits for the goroutines.
func (p *peer) stop() {
	_ = p.c.conn.Close()
	p.wg.Wait()
}

// receiveMax is a 5.0 CONNECT for id whose Receive Maximum is window.
func receiveMax(id string, window uint16) *packets.Connect {
	cp := v5Connect(id)
	cp.Properties.ReceiveMaximum = window
	cp.Properties.Set(packets.PropReceiveMaximum)
	return cp
}

// A QoS 1 subscriber with a small queue that does not read, then reads, and
// a publisher at full speed: with backpressure every acknowledged message
// reaches the subscriber once, in order; in drop mode the same run drops and
// counts what did not fit.
func TestBackpressureLosesNothingWhereDropModeDrops(t *testing.T) {
	const n = 200
	for _, mode := range []broker.QueueFullPolicy{broker.QueueFullBackpressure, broker.QueueFullDrop} {
		t.Run(mode.String(), func(t *testing.T) {
			tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{
				MaxQueued: 5, QueueFull: mode,
				BackpressureMaxWait: time.Minute, // the subscriber, not the bound, ends each wait
			}})
			s, _ := connectRaw(t, tb.addr, receiveMax("bp-sub", 5))
			s.subscribe(1, sub("bp/t", 1))
			pc, _ := connectRaw(t, tb.addr, v5Connect("bp-pub"))
			p := startPeer(pc, "bp/t", n, 16, false)
			defer p.stop()

			want := n
			if mode == broker.QueueFullBackpressure {
				// The publisher is held: its acknowledgements wait for the subscriber.
				eventually(t, "the publisher to wait", func() bool { return tb.Stats().BackpressureWaits > 0 })
			} else {
				p.await(t, "drop mode", generous)
				st, _ := tb.SessionStats("bp-sub")
				want = n - int(st.Dropped)
				if st.Dropped == 0 || tb.Stats().DroppedQueueFull != st.Dropped {
					t.Fatalf("drop mode: session dropped %d, broker counts %d queue-full drops; want the same, above 0",
						st.Dropped, tb.Stats().DroppedQueueFull)
				}
			}
			last := uint32(0)
			for i := 0; i < want; i++ {
				_ = s.conn.SetReadDeadline(time.Now().Add(generous))
				pk, err := packets.ReadPacket(s.r, s.v, 0)
				if err != nil {
					t.Fatalf("%s: after %d of %d messages: %v", mode, i, want, err)
				}
				m, ok := pk.(*packets.Publish)
				if !ok {
					t.Fatalf("got %T, want PUBLISH", pk)
				}
				seq := binary.BigEndian.Uint32(m.Payload)
				if seq <= last || mode == broker.QueueFullBackpressure && seq != last+1 {
					t.Fatalf("%s: message %d after %d", mode, seq, last)
				}
				last = seq
				s.ack(packets.TypePuback, m.PacketID)
			}
			p.await(t, mode.String(), generous)
			st, _ := tb.SessionStats("bp-sub")
			if mode == broker.QueueFullBackpressure && (st.Dropped != 0 || tb.Stats().Dropped != 0) {
				t.Fatalf("backpressure dropped %d (broker: %d), want 0", st.Dropped, tb.Stats().Dropped)
			}
			t.Logf("%s: %d of %d delivered, %d dropped, %d waits", mode, want, n, st.Dropped, tb.Stats().BackpressureWaits)
		})
	}
}

// A publisher subscribed to its own topic, with a full queue and a client
// that reads only after it has written everything: the broker must not wait
// for the publisher's own acknowledgements, which its waiting reader would
// never read. Its overflow is dropped and counted as in drop mode.
func TestBackpressurePublisherNeverWaitsOnItsOwnSession(t *testing.T) {
	const n = 50
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{
		MaxQueued: 2, QueueFull: broker.QueueFullBackpressure, BackpressureMaxWait: time.Minute,
	}})
	c, _ := connectRaw(t, tb.addr, receiveMax("bp-self", 2))
	c.subscribe(1, sub("bp/self", 1))
	p := startPeer(c, "bp/self", n, 16, true)
	defer p.stop()
	p.await(t, "publishing to itself", generous)
	if bs := tb.Stats(); bs.BackpressureWaits != 0 || bs.DroppedQueueFull == 0 {
		t.Fatalf("%d waits, %d queue-full drops; want none and some", bs.BackpressureWaits, bs.DroppedQueueFull)
	}
}

// Two clients publishing to each other as fast as they can, each reading
// only after it has written everything: each broker reader waits for the
// other client's session, whose client is blocked writing to a reader that
// waits. The bounded wait breaks the cycle: both finish within a few bounds.
func TestBackpressureMutualPublishersDoNotDeadlock(t *testing.T) {
	// Enough bytes that neither client's writes fit in the socket buffers
	// while the broker is not reading it.
	const n, size = 400, 64 << 10
	const bound = 100 * time.Millisecond
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{
		MaxQueued: 4, QueueFull: broker.QueueFullBackpressure, BackpressureMaxWait: bound,
	}})
	a, _ := connectRaw(t, tb.addr, receiveMax("bp-a", 4))
	a.subscribe(1, sub("bp/a", 1))
	b, _ := connectRaw(t, tb.addr, receiveMax("bp-b", 4))
	b.subscribe(1, sub("bp/b", 1))
	pa := startPeer(a, "bp/b", n, size, true)
	defer pa.stop()
	pb := startPeer(b, "bp/a", n, size, true)
	defer pb.stop()
	pa.await(t, "a publishing to b", generous)
	pb.await(t, "b publishing to a", generous)
	bs := tb.Stats()
	if bs.BackpressureTimeouts == 0 {
		t.Fatalf("no wait timed out (%d waits): the clients never blocked each other, the test proves nothing", bs.BackpressureWaits)
	}
	t.Logf("%d waits, %d timed out, %d dropped", bs.BackpressureWaits, bs.BackpressureTimeouts, bs.Dropped)
}

// A publisher held by backpressure is taken over promptly: the stop request
// wakes its waiting reader instead of leaving it to the bound.
func TestBackpressureWaitingPublisherIsTakenOverPromptly(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{
		MaxQueued: 2, QueueFull: broker.QueueFullBackpressure, BackpressureMaxWait: time.Hour,
	}})
	s, _ := connectRaw(t, tb.addr, receiveMax("bp-still", 1))
	s.subscribe(1, sub("bp/still", 1))
	pc, _ := connectRaw(t, tb.addr, v5Connect("bp-held"))
	p := startPeer(pc, "bp/still", 10, 16, false)
	defer p.stop()
	eventually(t, "the publisher to wait", func() bool { return tb.Stats().BackpressureWaits > 0 })
	c := dialRaw(t, tb.addr)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.send(v5Connect("bp-held"))
		_ = c.conn.SetReadDeadline(time.Now().Add(generous))
		_, _ = packets.ReadPacket(c.r, c.v, 0)
	}()
	select {
	case <-done:
	case <-time.After(generous):
		t.Fatal("the takeover of a publisher waiting for room did not complete")
	}
}

// The broker's wait is its own silence, not the client's: a publisher held
// longer than its keep-alive allows is not disconnected for it, and its
// PINGREQ sent meanwhile is answered once the broker reads again. The
// keep-alive close [MQTT-3.1.2-22] is about the client's silence.
func TestBackpressureWaitDoesNotCountAgainstKeepAlive(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Limits: broker.Limits{
		MaxQueued: 1, QueueFull: broker.QueueFullBackpressure, BackpressureMaxWait: 2 * time.Second,
	}})
	s, _ := connectRaw(t, tb.addr, receiveMax("bp-deaf", 1))
	s.subscribe(1, sub("bp/deaf", 1))
	cp := v5Connect("bp-alive")
	cp.KeepAlive = 1 // the broker gives up on it after 1.5 s of silence
	c, _ := connectRaw(t, tb.addr, cp)
	// In flight, queued, then over: the reader waits 2 s. The PINGREQ's
	// first byte arrives with them, so the reader is in the middle of a
	// packet when it reads again, with the deadline it had set before.
	var burst []byte
	for i := uint16(1); i <= 3; i++ {
		p := packets.Publish{Topic: "bp/deaf", QoS: 1, PacketID: i, Payload: []byte{byte(i)}}
		burst = p.Append(burst, c.v)
	}
	ping := (&packets.Pingreq{}).Append(nil, c.v)
	c.write(append(burst, ping[0]))
	for i := uint16(1); i <= 3; i++ {
		c.expectAck(packets.TypePuback, i)
	}
	c.write(ping[1:])
	_ = c.conn.SetReadDeadline(time.Now().Add(generous))
	if pk, err := packets.ReadPacket(c.r, c.v, 0); err != nil || pk.Type() != packets.TypePingresp {
		t.Fatalf("after the broker's wait: %v %v, want PINGRESP", pk, err)
	}
	if bs := tb.Stats(); bs.BackpressureTimeouts != 1 {
		t.Fatalf("%d waits timed out, want 1 (the subscriber never reads)", bs.BackpressureTimeouts)
	}
}
