package broker_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"runtime/metrics"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
)

// A publisher's reader writes what it delivers inline, on its own goroutine
// (docs/decisions/0036-low-rate-path.md). These tests hold that write to its
// promises: it never waits for a subscriber that does not read, and it never
// interleaves with the flusher that takes over what the socket refused.

// TestNonReadingSubscriberNeverStallsThePublisher fills a subscriber's socket
// that is never read, then asks the publisher's own connection for a
// PINGRESP and another subscriber for the last message: both come only if
// the publisher's reader is not stuck writing to the full socket. The write
// timeout is longer than the test, so a blocking write would stall it for
// good rather than end the stuck connection and free the publisher.
func TestNonReadingSubscriberNeverStallsThePublisher(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Store: withoutStore,
		Limits: broker.Limits{MaxWriteBuffer: 64 << 20, WriteTimeout: time.Hour}})
	stuck := dialSmallWindow(t, tb.addr)
	stuck.connect(v5Connect("stuck"))
	stuck.subscribe(1, packets.Subscription{Filter: "flood"})
	reader, _ := connectRaw(t, tb.addr, v5Connect("reader"))
	reader.subscribe(1, packets.Subscription{Filter: "flood"})
	pub, _ := connectRaw(t, tb.addr, v5Connect("pub"))

	// 4 MiB: far more than the stuck subscriber's 4 KiB receive window and
	// the broker's send buffer for it, so its socket refuses writes early.
	const n, size = 512, 8 << 10
	done := make(chan error, 1)
	go func() { // the reading subscriber drains as it goes
		for i := range n {
			p, err := reader.read(10 * wait)
			if err != nil {
				done <- fmt.Errorf("message %d: %w", i, err)
				return
			}
			if _, ok := p.(*packets.Publish); !ok {
				done <- fmt.Errorf("message %d: got %T", i, p)
				return
			}
		}
		done <- nil
	}()
	msg := (&packets.Publish{Topic: "flood", Payload: make([]byte, size)}).Append(nil, packets.V5)
	_ = pub.conn.SetWriteDeadline(time.Now().Add(10 * wait))
	for i := range n {
		if _, err := pub.conn.Write(msg); err != nil {
			t.Fatalf("publish %d: the broker stopped reading the publisher: %v", i, err)
		}
	}
	pub.send(&packets.Pingreq{})
	if p, err := pub.read(10 * wait); err != nil || p.Type() != packets.TypePingresp {
		t.Fatalf("publisher got %v, %v; want PINGRESP", p, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("reading subscriber: %v", err)
	}
}

// dialSmallWindow dials with a 4 KiB receive buffer, set before the
// connection exists so that the window it advertises is small from the start.
func dialSmallWindow(t *testing.T, addr string) *rawClient {
	t.Helper()
	d := net.Dialer{Timeout: wait, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = setRcvBuf(fd, 4096)
		}); err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &rawClient{t: t, conn: conn, r: bufio.NewReader(conn), v: packets.V5}
}

// TestInlineWritesAndFlushersNeverInterleave has two publishers deliver
// numbered messages to one subscriber while it also asks for PINGRESPs (sent
// by a flusher goroutine, not inline), and reads nothing at first so that
// inline writes find the socket full and hand over to a flusher mid-stream.
// Every packet must then parse, each publisher's messages must arrive in
// order and complete, and every PINGRESP must come.
func TestInlineWritesAndFlushersNeverInterleave(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Store: withoutStore, Limits: broker.Limits{MaxWriteBuffer: 256 << 20}})
	sub, _ := connectRaw(t, tb.addr, v5Connect("sub"))
	sub.subscribe(1, packets.Subscription{Filter: "seq/+"})
	const pubs, n, pings = 2, 2000, 200
	var wg sync.WaitGroup
	for k := range pubs {
		pub, _ := connectRaw(t, tb.addr, v5Connect(fmt.Sprintf("pub-%d", k)))
		_ = pub.conn.SetWriteDeadline(time.Now().Add(4 * wait))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				p := make([]byte, 4<<10) // 2 x 8 MiB: the subscriber's socket fills while it does not read
				binary.BigEndian.PutUint32(p, uint32(i))
				if _, err := pub.conn.Write((&packets.Publish{Topic: fmt.Sprintf("seq/%d", k), Payload: p}).Append(nil, packets.V5)); err != nil {
					t.Errorf("publisher %d: %v", k, err)
					return
				}
			}
		}()
	}
	_ = sub.conn.SetWriteDeadline(time.Now().Add(4 * wait))
	wg.Add(1)
	go func() { // PINGRESPs go through a flusher, while the publishers' writes go inline
		defer wg.Done()
		for range pings {
			if _, err := sub.conn.Write((&packets.Pingreq{}).Append(nil, packets.V5)); err != nil {
				t.Errorf("PINGREQ: %v", err)
				return
			}
		}
	}()
	// Nothing is read until everything is sent: the broker meets a full
	// socket, and its inline writes hand over to a flusher.
	wg.Wait()
	next := make([]uint32, pubs)
	pongs := 0
	for total := 0; total < pubs*n || pongs < pings; {
		switch p := sub.next().(type) {
		case *packets.Publish:
			var k int
			if _, err := fmt.Sscanf(p.Topic, "seq/%d", &k); err != nil || k >= pubs {
				t.Fatalf("topic %q", p.Topic)
			}
			if got := binary.BigEndian.Uint32(p.Payload); got != next[k] {
				t.Fatalf("publisher %d: message %d arrived when %d was next", k, got, next[k])
			}
			next[k]++
			total++
		case *packets.Pingresp:
			pongs++
		default:
			t.Fatalf("got %T", p)
		}
	}
}

// TestRoundTripStartsNoGoroutine holds the low-rate path to its point: a
// client with one message in flight, at QoS 0 and 1, gets its delivery and
// its PUBACK written by the broker goroutine that read its PUBLISH, not by a
// goroutine started for each message (before decision 0036: one per round
// trip). At QoS 2 the PUBREL that answers the client's PUBREC goes out with
// the PUBCOMP read beside it, by the same reader (before decision 0045: a
// flusher goroutine per delivery).
func TestRoundTripStartsNoGoroutine(t *testing.T) {
	tb := startBroker(t, broker.Options{AllowAnonymous: true, Store: withoutStore})
	c, _ := connectRaw(t, tb.addr, v5Connect("pingpong"))
	c.subscribe(1, packets.Subscription{Filter: "pp", QoS: 2})
	const rounds = 200
	roundTrip := func(qos byte, id uint16) {
		c.send(&packets.Publish{Topic: "pp", QoS: qos, PacketID: id, Payload: []byte("x")})
		// QoS 2 ends with the client's PUBCOMP and the delivery's PUBREL.
		got, acked, released := false, qos == 0, qos < 2
		for !got || !acked || !released {
			switch p := c.next().(type) {
			case *packets.Publish:
				got = true
				switch p.QoS {
				case 1:
					c.send(&packets.Ack{Kind: packets.TypePuback, PacketID: p.PacketID})
				case 2:
					c.send(&packets.Ack{Kind: packets.TypePubrec, PacketID: p.PacketID})
				}
			case *packets.Ack:
				switch {
				case p.Kind == packets.TypePubrec && p.PacketID == id:
					c.send(&packets.Ack{Kind: packets.TypePubrel, PacketID: id})
				case p.Kind == packets.TypePubrel:
					c.send(&packets.Ack{Kind: packets.TypePubcomp, PacketID: p.PacketID})
					released = true
				case p.PacketID == id && (p.Kind == packets.TypePuback || p.Kind == packets.TypePubcomp):
					acked = true
				}
			default:
				t.Fatalf("got %T", p)
			}
		}
	}
	for _, qos := range []byte{0, 1, 2} {
		roundTrip(qos, 1) // whatever the first message starts (pools, the poller) is not per message
		before := goroutinesCreated()
		for i := range rounds {
			roundTrip(qos, uint16(i%100+1))
		}
		// Some slack for the runtime's and the test framework's own.
		n := goroutinesCreated() - before
		if n > rounds/10 {
			t.Errorf("QoS %d: %d goroutines started for %d round trips", qos, n, rounds)
		}
	}
}

func goroutinesCreated() uint64 {
	s := []metrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
