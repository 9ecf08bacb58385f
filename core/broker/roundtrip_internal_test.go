package broker

import (
	"bytes"
	"context"
	"io"
	"net"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/packets"
)

// What one message costs the broker in the one-client ping-pong
// (docs/decisions/0039-one-client-cpu.md), counted rather than timed: heap
// allocations and socket system calls per round trip. The client is a raw
// socket writing pre-encoded bytes and reading into a fixed buffer, so that
// it allocates nothing itself.

// pingPong is a connected v5 client subscribed at QoS 0 to the topic it
// publishes to.
type pingPong struct {
	conn    net.Conn
	publish []byte // one QoS 0 PUBLISH, as sent and as delivered
	got     []byte
}

func startPingPong(t *testing.T) *pingPong {
	t.Helper()
	_, addr := serveInternal(t, Options{})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	connect := packets.Connect{ProtocolName: "MQTT", ProtocolVersion: packets.V5, CleanStart: true, ClientID: "pingpong"}
	sub := packets.Subscribe{PacketID: 1, Subscriptions: []packets.Subscription{{Filter: "pp", QoS: 0}}}
	if _, err := conn.Write(sub.Append(connect.Append(nil, packets.V5), packets.V5)); err != nil {
		t.Fatal(err)
	}
	// CONNACK and SUBACK: their sizes depend on the properties the broker
	// announces, so read each by its remaining length.
	for range 2 {
		var b [1]byte
		if _, err := io.ReadFull(conn, b[:]); err != nil { // packet type
			t.Fatal(err)
		}
		size, shift := 0, 0
		for more := true; more; shift += 7 {
			if _, err := io.ReadFull(conn, b[:]); err != nil {
				t.Fatal(err)
			}
			size |= int(b[0]&0x7f) << shift
			more = b[0]&0x80 != 0
		}
		if _, err := io.ReadFull(conn, make([]byte, size)); err != nil {
			t.Fatal(err)
		}
	}
	pub := (&packets.Publish{Topic: "pp", Payload: []byte("x")}).Append(nil, packets.V5)
	return &pingPong{conn: conn, publish: pub, got: make([]byte, len(pub))}
}

// rounds makes n round trips: publish, and read the delivery back.
func (pp *pingPong) rounds(t *testing.T, n int) {
	t.Helper()
	for range n {
		if _, err := pp.conn.Write(pp.publish); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(pp.conn, pp.got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(pp.got, pp.publish) {
			t.Fatalf("delivered %x, want %x", pp.got, pp.publish)
		}
	}
}

// heapObjects counts heap allocations, tiny ones one by one.
func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}, {Name: "/gc/heap/tiny/allocs:objects"}}
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64()
}

// TestRoundTripAllocations: a QoS 0 round trip allocates the publish's body
// (its payload is kept), the routed message and its delivery, and nothing
// else. Before decision 0039 the decoded PUBLISH (~350 bytes) went to the
// heap as well, on every publish, because the message hooks take it by
// pointer through an interface: 4 objects per round trip.
func TestRoundTripAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's sync.Pool drops items at random: counts differ")
	}
	per := objectsPerRound(t, startPingPong(t).rounds)
	t.Logf("%.2f heap objects per round trip", per)
	// A quarter of an object per round trip of slack for the runtime's and
	// the test framework's own.
	if per > 3.25 {
		t.Errorf("%.2f heap objects per QoS 0 round trip, want at most 3", per)
	}
}

// TestRoundTripSyscalls: a QoS 0 round trip costs the broker's reader one
// read that takes the packet, at most one that finds the socket empty before
// it waits (decision 0036 says why that one stays), and one write; both
// through the raw system calls that do not wake sysmon (rawio_linux.go).
func TestRoundTripSyscalls(t *testing.T) {
	var reads, writes atomic.Int64
	socketRead = func(fd int, b []byte) (int, error) { reads.Add(1); return rawRead(fd, b) }
	socketWrite = func(fd int, b []byte) (int, error) { writes.Add(1); return rawWrite(fd, b) }
	// Restored after the broker's shutdown (cleanups run last first): its
	// reader calls them until then.
	t.Cleanup(func() { socketRead, socketWrite = rawRead, rawWrite })
	pp := startPingPong(t)
	pp.rounds(t, 50)
	const rounds = 500
	r0, w0 := reads.Load(), writes.Load()
	pp.rounds(t, rounds)
	r, w := float64(reads.Load()-r0)/rounds, float64(writes.Load()-w0)/rounds
	t.Logf("per round trip: %.2f reads, %.2f writes", r, w)
	if r < 1 || r > 2.1 {
		t.Errorf("%.2f raw reads per round trip, want 1 to 2", r)
	}
	if w < 0.9 || w > 1.1 {
		t.Errorf("%.2f raw writes per round trip, want 1", w)
	}
}

// serveInternal starts a broker with opts (silent, anonymous clients, no
// $SYS) on a loopback port and returns it with its address. It is shut
// down when the test ends, and waited for: not with t.Context(), which is
// cancelled before cleanups run, so that Shutdown returned at once and the
// next test's swap of socketRead/socketWrite raced with this broker's
// readers.
func serveInternal(t *testing.T, opts Options) (*Broker, string) {
	t.Helper()
	opts.Log, opts.AllowAnonymous, opts.SysInterval = zerolog.Nop(), true, -1
	b, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = b.Serve(l, "test") }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return b, l.Addr().String()
}

// objectsPerRound is the heap objects one round trip allocates, over 1,000
// after 50 that let pools, maps and buffers grow (not per message).
func objectsPerRound(t *testing.T, rounds func(*testing.T, int)) float64 {
	rounds(t, 50)
	const n = 1000
	before := heapObjects()
	rounds(t, n)
	return float64(heapObjects()-before) / n
}
