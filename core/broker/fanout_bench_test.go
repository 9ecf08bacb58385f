package broker

import (
	"bufio"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/packets"
)

// benchServe starts a broker on a loopback port for a benchmark.
func benchServe(b *testing.B) (*Broker, string) {
	br, addr, stop := benchServeWith(b, Limits{})
	b.Cleanup(stop)
	return br, addr
}

// benchServeWith is benchServe with limits, for a benchmark that runs a
// broker per iteration: stop shuts it down, so that one iteration's memory
// is not counted in the next.
func benchServeWith(b *testing.B, limits Limits) (*Broker, string, func()) {
	b.Helper()
	br, err := New(Options{Log: zerolog.Nop(), AllowAnonymous: true, SysInterval: -1, Limits: limits})
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = br.Serve(l, "bench") }()
	return br, l.Addr().String(), func() { _ = br.Shutdown(b.Context()) }
}

// benchConn connects a raw v5 client and returns it with a buffered reader.
func benchConn(b *testing.B, addr, id string) (net.Conn, *bufio.Reader) {
	b.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	connect := packets.Connect{ProtocolName: "MQTT", ProtocolVersion: packets.V5, CleanStart: true, ClientID: id}
	if _, err := c.Write(connect.Append(nil, packets.V5)); err != nil {
		b.Fatal(err)
	}
	r := bufio.NewReaderSize(c, 64<<10)
	if p, err := packets.ReadPacket(r, packets.V5, 0); err != nil || p.Type() != packets.TypeConnack {
		b.Fatalf("CONNACK: %v %v", p, err)
	}
	return c, r
}

// BenchmarkFanOut measures one QoS 0 publisher to N subscribers over real
// TCP: ns/op is the time for one message to reach every subscriber.
func BenchmarkFanOut(b *testing.B) {
	for _, n := range []int{1, 32} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			_, addr := benchServe(b)
			var wg sync.WaitGroup
			received := make([]atomic.Int64, n)
			for i := 0; i < n; i++ {
				c, r := benchConn(b, addr, fmt.Sprintf("sub-%d", i))
				sub := packets.Subscribe{PacketID: 1, Subscriptions: []packets.Subscription{{Filter: "bench/fanout"}}}
				if _, err := c.Write(sub.Append(nil, packets.V5)); err != nil {
					b.Fatal(err)
				}
				if p, err := packets.ReadPacket(r, packets.V5, 0); err != nil || p.Type() != packets.TypeSuback {
					b.Fatalf("SUBACK: %v %v", p, err)
				}
				wg.Add(1)
				go func(count *atomic.Int64) {
					defer wg.Done()
					defer c.Close()
					for count.Load() < int64(b.N) {
						if err := skipPacket(r); err != nil {
							b.Errorf("subscriber read: %v", err)
							return
						}
						count.Add(1)
					}
				}(&received[i])
			}
			pub, _ := benchConn(b, addr, "pub")
			defer pub.Close()
			msg := (&packets.Publish{Topic: "bench/fanout", Payload: make([]byte, 64)}).Append(nil, packets.V5)
			batch := make([]byte, 0, 64*len(msg))
			b.SetBytes(int64(len(msg) * n))
			b.ReportAllocs()
			b.ResetTimer()
			// Publish in batches, staying at most 1,000 messages ahead of the slowest
			// subscriber so the
			// figure is delivery rate, not queue growth or shedding.
			for sent := 0; sent < b.N; {
				batch = batch[:0]
				for k := 0; k < 64 && sent < b.N; k++ {
					batch = append(batch, msg...)
					sent++
				}
				if _, err := pub.Write(batch); err != nil {
					b.Fatal(err)
				}
				for slowest(received) < int64(sent-1000) {
					runtime.Gosched()
				}
			}
			wg.Wait()
		})
	}
}

// skipPacket reads past one packet without decoding it.
func skipPacket(r *bufio.Reader) error {
	if _, err := r.ReadByte(); err != nil {
		return err
	}
	n, mul := 0, 1
	for {
		c, err := r.ReadByte()
		if err != nil {
			return err
		}
		n += int(c&0x7f) * mul
		if c&0x80 == 0 {
			break
		}
		mul *= 128
	}
	_, err := r.Discard(n)
	return err
}

func slowest(counts []atomic.Int64) int64 {
	m := counts[0].Load()
	for i := range counts[1:] {
		m = min(m, counts[i+1].Load())
	}
	return m
}
