package broker_test

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
)

// BenchmarkParkedWakeUp measures what waking a parked connection costs
// (docs/decisions/0041): per op, a QoS 0 message goes to a parked subscriber
// (deliver: the publisher wakes on its PUBLISH, the subscriber is written to
// while parked), then the publisher, parked again, sends PINGREQ (ping: the
// poller answers it without a wake-up since 0050; one wake-up before). Both connections are parked before
// each step; since 0041 the publisher parks without its net.Conn each time
// (the subscriber, once written to, keeps it until the poller's tick). Reported: each step's latency and the process's CPU for it
// (broker and the two in-process clients), in µs.
//
//	go test -run '^$' -bench ParkedWakeUp -benchtime 2000x ./core/broker/
func BenchmarkParkedWakeUp(b *testing.B) {
	tb := benchBroker(b, broker.Options{AllowAnonymous: true, ParkIdleAfter: time.Millisecond, SysInterval: -1})
	sub := benchDial(b, tb.addr, "wake-sub")
	sub.send(b, &packets.Subscribe{PacketID: 1, Subscriptions: []packets.Subscription{{Filter: "wake/t"}}})
	sub.expect(b, packets.TypeSuback)
	pub := benchDial(b, tb.addr, "wake-pub")
	msg := (&packets.Publish{Topic: "wake/t", Payload: []byte("wake")}).Append(nil, packets.V5)
	ping := (&packets.Pingreq{}).Append(nil, packets.V5)
	parked := func() {
		deadline := time.Now().Add(10 * time.Second)
		for tb.ParkedCount() != 2 {
			if time.Now().After(deadline) {
				b.Fatal("the connections did not park")
			}
			time.Sleep(200 * time.Microsecond)
		}
	}
	var deliver, pingLat, deliverCPU, pingCPU time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		parked()
		b.StartTimer()
		c0, t0 := cpuTime(), time.Now()
		pub.write(b, msg)
		sub.expect(b, packets.TypePublish)
		deliver += time.Since(t0)
		deliverCPU += cpuTime() - c0
		b.StopTimer()
		parked()
		b.StartTimer()
		c0, t0 = cpuTime(), time.Now()
		pub.write(b, ping)
		pub.expect(b, packets.TypePingresp)
		pingLat += time.Since(t0)
		pingCPU += cpuTime() - c0
	}
	us := func(d time.Duration) float64 { return float64(d) / float64(b.N) / 1e3 }
	b.ReportMetric(us(deliver), "deliver-µs")
	b.ReportMetric(us(deliverCPU), "deliver-cpu-µs")
	b.ReportMetric(us(pingLat), "ping-µs")
	b.ReportMetric(us(pingCPU), "ping-cpu-µs")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchConn is a 5.0 client for benchmarks: one net.Conn, packets read one
// at a time.
type benchConn struct {
	conn net.Conn
	buf  [256]byte
}

func benchDial(b *testing.B, addr, id string) *benchConn {
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(context.Background(), "tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	c := &benchConn{conn: conn}
	c.send(b, &packets.Connect{ProtocolName: "MQTT", ProtocolVersion: packets.V5, CleanStart: true, ClientID: id})
	c.expect(b, packets.TypeConnack)
	return c
}

func (c *benchConn) send(b *testing.B, p packets.Packet) { c.write(b, p.Append(nil, packets.V5)) }

func (c *benchConn) write(b *testing.B, p []byte) {
	if _, err := c.conn.Write(p); err != nil {
		b.Fatal(err)
	}
}

// expect reads one packet, small enough for one read, of type t.
func (c *benchConn) expect(b *testing.B, t packets.Type) {
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := c.conn.Read(c.buf[:2])
	for err == nil && n < 2 {
		var m int
		m, err = c.conn.Read(c.buf[n:2])
		n += m
	}
	if err != nil {
		b.Fatal(err)
	}
	if got := packets.Type(c.buf[0] >> 4); got != t {
		b.Fatalf("got packet type %v, want %v", got, t)
	}
	rest := int(c.buf[1]) // small packets: one length byte
	for rest > 0 {
		m, err := c.conn.Read(c.buf[:rest])
		if err != nil {
			b.Fatal(err)
		}
		rest -= m
	}
}
