package main

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"

	"github.com/plumemq/plume/bench/internal/wire"
)

// startMochi runs mochi-mqtt in-process on a free loopback port, configured
// as bench/peers/mochi runs it, and returns the address and the server's pid
// (this process).
func startMochi(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	server := mqtt.New(&mqtt.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := server.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	if err := server.AddListener(listeners.NewTCP(listeners.Config{ID: "t", Address: addr})); err != nil {
		t.Fatal(err)
	}
	if err := server.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Close() })
	return addr
}

func TestQoS1RoundTripThroughMochi(t *testing.T) {
	addr := startMochi(t)
	sub, err := dial(addr, "sub", keepAlive, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.close()
	if err := sub.subscribe("t/+", 1); err != nil {
		t.Fatal(err)
	}
	pub, err := dial(addr, "pub", keepAlive, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.close()

	pub.buf = wire.AppendPublish(pub.buf[:0], "t/1", 1, false, 9, []byte("hello"))
	if _, err := pub.nc.Write(pub.buf); err != nil {
		t.Fatal(err)
	}
	_ = pub.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	h, _, err := wire.Read(pub.r, nil)
	if err != nil || h.Type != wire.PUBACK {
		t.Fatalf("publisher got type %d, err %v; want PUBACK", h.Type, err)
	}
	if id, _ := wire.ParsePubAck(h.Body); id != 9 {
		t.Fatalf("PUBACK for packet %d, want 9", id)
	}

	_ = sub.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	h, _, err = wire.Read(sub.r, nil)
	if err != nil || h.Type != wire.PUBLISH {
		t.Fatalf("subscriber got type %d, err %v; want PUBLISH", h.Type, err)
	}
	p, err := wire.ParsePublish(h.Flags, h.Body)
	if err != nil {
		t.Fatal(err)
	}
	if string(p.Topic) != "t/1" || string(p.Payload) != "hello" || p.QoS != 1 || p.PacketID == 0 {
		t.Fatalf("delivered %+v", p)
	}
}

func TestFlowScenariosLoseNothingAgainstMochi(t *testing.T) {
	addr := startMochi(t)
	for _, name := range []string{"pairs", "fanin", "fanout"} {
		t.Run(name, func(t *testing.T) {
			res, err := runFlow(scenarios[name], flowConfig{
				addr: addr, warmup: 50 * time.Millisecond, window: 300 * time.Millisecond, drain: 5 * time.Second,
				outstanding: 200, inflight: 16, payload: 64, bufSize: 16 << 10,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.delivered == 0 || res.hist.n == 0 {
				t.Fatalf("nothing delivered in the window: %+v", res)
			}
			if res.lost != 0 || res.stalls != 0 {
				t.Fatalf("lost %d, stalls %d (sent %d, acked %d, received %d)", res.lost, res.stalls, res.sent, res.acked, res.received)
			}
			wantReceived := res.sent * uint64(len(scenarios[name].receives(0)))
			if res.received != wantReceived {
				t.Fatalf("received %d deliveries, want %d", res.received, wantReceived)
			}
		})
	}
}

func TestIdleMeasuresThisProcessRSS(t *testing.T) {
	addr := startMochi(t)
	res, err := runIdle(idleConfig{addr: addr, pid: os.Getpid(), conns: 200, concurrency: 8, settle: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.conns != 200 || res.rssAfterKiB <= 0 || res.droppedByPeer != 0 {
		t.Fatalf("idle result %+v", res)
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, tt := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Microsecond}, {0.99, 990 * time.Microsecond}} {
		got := h.quantile(tt.q)
		if d := got - tt.want; d < -tt.want/50 || d > tt.want/50 {
			t.Errorf("quantile(%v) = %v, want %v within 2%%", tt.q, got, tt.want)
		}
	}
	if bucketValue(bucketOf(12345)) > 12345 || bucketValue(bucketOf(12345)+1) <= 12345 {
		t.Errorf("bucket of 12345 does not bracket it")
	}
}

// The trickle scenario announces a PUBLISH of exactly the length asked for:
// 1,000,000 is C0 84 3D in the variable-length encoding.
func TestAnnouncementAnnouncesTheLengthAskedFor(t *testing.T) {
	if got, want := announcement(1_000_000), []byte{0x30, 0xC0, 0x84, 0x3D, 0x00}; !bytes.Equal(got, want) {
		t.Fatalf("announcement = % x, want % x", got, want)
	}
}
