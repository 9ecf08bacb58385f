package broker

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/plumemq/plume/core/packets"
)

// BenchmarkQueueFullPolicy is issue 16's comparison of the two queue-full
// policies: a publisher at full speed (QoS 1, pipelined) and a QoS 1
// subscriber that reads at a throttled rate, with max_queued 100 and a
// Receive Maximum of 16. Each op publishes 20,000 messages of 64 bytes to a
// fresh broker. Metrics: pub-msgs/s, the publisher's rate from its first
// publish to its last PUBACK; lost-ratio, the messages acknowledged to the
// publisher that the subscriber never got (all counted as queue-full drops);
// sub-msgs/s, what the subscriber read.
func BenchmarkQueueFullPolicy(b *testing.B) {
	const n = 20_000
	for _, rate := range []int{2_000, 10_000} {
		for _, policy := range []QueueFullPolicy{QueueFullDrop, QueueFullBackpressure} {
			b.Run(fmt.Sprintf("sub=%d/s/%v", rate, policy), func(b *testing.B) {
				for range b.N {
					pub, lost, sub := queueFullRun(b, policy, n, rate)
					b.ReportMetric(pub, "pub-msgs/s")
					b.ReportMetric(lost, "lost-ratio")
					b.ReportMetric(sub, "sub-msgs/s")
				}
			})
		}
	}
}

func queueFullRun(b *testing.B, policy QueueFullPolicy, n, rate int) (pubRate, lost, subRate float64) {
	b.Helper()
	br, addr, shutdown := benchServeWith(b, Limits{MaxQueued: 100, QueueFull: policy})
	defer shutdown()

	sc, sr := benchConnWindow(b, addr, "throttled", 16)
	defer sc.Close()
	subscribe := packets.Subscribe{PacketID: 1, Subscriptions: []packets.Subscription{{Filter: "rate", QoS: 1}}}
	if _, err := sc.Write(subscribe.Append(nil, packets.V5)); err != nil {
		b.Fatal(err)
	}
	if p, err := packets.ReadPacket(sr, packets.V5, 0); err != nil || p.Type() != packets.TypeSuback {
		b.Fatalf("SUBACK: %v %v", p, err)
	}
	// The subscriber reads at rate messages a second and acknowledges each.
	received := make(chan int, 1)
	stop := make(chan struct{})
	go func() {
		got, start := 0, time.Now()
		defer func() { received <- got }()
		for {
			_ = sc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			p, err := packets.ReadPacket(sr, packets.V5, 0)
			if err != nil {
				select {
				case <-stop:
					return
				default:
					continue // a quiet spell: the publisher may still be held
				}
			}
			m, ok := p.(*packets.Publish)
			if !ok {
				continue
			}
			got++
			a := packets.Ack{Kind: packets.TypePuback, PacketID: m.PacketID}
			if _, err := sc.Write(a.Append(nil, packets.V5)); err != nil {
				return
			}
			if due := start.Add(time.Duration(got) * time.Second / time.Duration(rate)); time.Until(due) > 0 {
				time.Sleep(time.Until(due))
			}
		}
	}()

	pc, pr := benchConn(b, addr, "full-speed")
	defer pc.Close()
	acked := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			if _, err := packets.ReadPacket(pr, packets.V5, 0); err != nil {
				acked <- err
				return
			}
		}
		acked <- nil
	}()
	start := time.Now()
	w := bufio.NewWriterSize(pc, 64<<10)
	payload := make([]byte, 64)
	for i := range n {
		binary.BigEndian.PutUint32(payload, uint32(i))
		p := packets.Publish{Topic: "rate", QoS: 1, PacketID: uint16(i%65535 + 1), Payload: payload}
		if _, err := w.Write(p.Append(nil, packets.V5)); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := <-acked; err != nil {
		b.Fatal(err)
	}
	pubTime := time.Since(start)
	// Everything acknowledged was routed: the subscriber is owed what its
	// session did not drop.
	e, _ := br.sessions.load("throttled")
	dropped := e.Stats().Dropped
	owed := n - int(dropped)
	deadline := time.Now().Add(time.Minute)
	for br.Stats().MessagesOut < uint64(owed) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for (e.Stats().Inflight > 0 || e.Stats().Queued > 0) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	got := <-received
	if got != owed {
		b.Fatalf("%v: the subscriber got %d, owed %d (%d dropped)", policy, got, owed, dropped)
	}
	return float64(n) / pubTime.Seconds(), float64(dropped) / float64(n), float64(got) / time.Since(start).Seconds()
}

// benchConnWindow is benchConn with a Receive Maximum.
func benchConnWindow(b *testing.B, addr, id string, window uint16) (net.Conn, *bufio.Reader) {
	b.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	connect := packets.Connect{ProtocolName: "MQTT", ProtocolVersion: packets.V5, CleanStart: true, ClientID: id}
	connect.Properties.ReceiveMaximum = window
	connect.Properties.Set(packets.PropReceiveMaximum)
	if _, err := c.Write(connect.Append(nil, packets.V5)); err != nil {
		b.Fatal(err)
	}
	r := bufio.NewReaderSize(c, 64<<10)
	if p, err := packets.ReadPacket(r, packets.V5, 0); err != nil || p.Type() != packets.TypeConnack {
		b.Fatalf("CONNACK: %v %v", p, err)
	}
	return c, r
}
