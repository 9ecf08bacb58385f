package broker

import (
	"bufio"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/plumemq/plume/core/packets"
)

// The poller's PINGRESP meets a socket that takes only part of it, or none:
// deterministic, the write is replaced by one that does so once.
//   - short: the rest is queued and a flusher writes it; the client reads
//     one whole PINGRESP, and the connection was never woken;
//   - would block: the PINGREQ goes to a woken reader, which answers it.
func TestPollerPingrespShortOrBlockedWrite(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(fd int, b []byte) (int, error)
		wakes int32
	}{
		{"short", func(fd int, b []byte) (int, error) { return rawWrite(fd, b[:1]) }, 0},
		{"would-block", func(int, []byte) (int, error) { return -1, syscall.EAGAIN }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var once atomic.Bool
			socketWrite = func(fd int, b []byte) (int, error) {
				if len(b) == 2 && b[0] == pingrespByte && once.CompareAndSwap(false, true) {
					return tc.write(fd, b)
				}
				return rawWrite(fd, b)
			}
			var wakes atomic.Int32
			seen := func(string) { wakes.Add(1) }
			resumeSeam.Store(&seen)
			// Restored after the broker's shutdown (cleanups run last first).
			t.Cleanup(func() { socketWrite = rawWrite; resumeSeam.Store(nil) })
			b, addr := serveInternal(t, Options{ParkIdleAfter: time.Hour})

			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			r := bufio.NewReader(conn)
			next := func(what string) packets.Packet {
				t.Helper()
				_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				p, err := packets.ReadPacket(r, packets.V311, 0)
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				return p
			}
			write := func(p packets.Packet) {
				t.Helper()
				if _, err := conn.Write(p.Append(nil, packets.V311)); err != nil {
					t.Fatal(err)
				}
			}
			write(&packets.Connect{ProtocolName: "MQTT", ProtocolVersion: packets.V311, CleanStart: true, ClientID: "short", KeepAlive: 60})
			if p := next("CONNACK"); p.Type() != packets.TypeConnack {
				t.Fatalf("got %T, want CONNACK", p)
			}
			awaitDetached := func(what string) {
				t.Helper()
				for deadline := time.Now().Add(10 * time.Second); !b.IsDetached("short"); time.Sleep(5 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatalf("timed out waiting for %s", what)
					}
				}
			}
			awaitDetached("parked after CONNACK")
			for round := 1; round <= 2; round++ { // the write misbehaves in round 1
				write(&packets.Pingreq{})
				if p := next(fmt.Sprintf("round %d: PINGRESP", round)); p.Type() != packets.TypePingresp {
					t.Fatalf("round %d: got %T, want PINGRESP", round, p)
				}
				if tc.wakes == 0 {
					awaitDetached("parked again")
				}
			}
			_ = conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if p, err := packets.ReadPacket(r, packets.V311, 0); err == nil {
				t.Fatalf("unexpected %T", p)
			}
			if !once.Load() {
				t.Fatal("the poller never wrote a PINGRESP")
			}
			if n := wakes.Load(); n != tc.wakes {
				t.Fatalf("%d wake-ups, want %d", n, tc.wakes)
			}
		})
	}
}
