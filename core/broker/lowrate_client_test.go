package broker

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plumemq/plume/core/packets"
)

// lowRateEnv carries the benchmark's scenario to its client process.
const lowRateEnv = "PLUME_LOWRATE_CLIENTS"

// TestLowRateClients is the client process of the low-rate benchmarks
// (lowrate_bench_test.go); run without the variable it does nothing. It
// connects, prints "ready", waits for "go" on stdin, runs the scenario and
// prints "done P50 P99" in nanoseconds.
func TestLowRateClients(t *testing.T) {
	spec := os.Getenv(lowRateEnv)
	if spec == "" {
		t.Skip("the client process of BenchmarkPingPong and BenchmarkFanOutPaced")
	}
	var mode, addr string
	var qos, clients, subs, n, rate int
	for _, f := range strings.Fields(spec) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "pingpong", "fanout", "fanin", "pipelined":
			mode = k
		case "addr":
			addr = v
		default:
			var x int
			if _, err := fmt.Sscan(v, &x); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			switch k {
			case "qos":
				qos = x
			case "clients":
				clients = x
			case "n":
				n = x
			case "rate":
				rate = x
			case "subs":
				subs = x
			}
		}
	}
	var run func() []time.Duration
	switch mode {
	case "pingpong":
		run = pingPongClients(t, addr, byte(qos), clients, n)
	case "fanout":
		run = fanOutClients(t, addr, clients, n, rate)
	case "fanin":
		run = fanInClients(t, addr, byte(qos), clients, subs, n, rate)
	default:
		run = pipelinedClients(t, addr, n)
	}
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		t.Fatalf("waiting for go: %v", err)
	}
	lat := run()
	slices.Sort(lat)
	at := func(q float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(q*float64(len(lat))))]
	}
	fmt.Printf("done %d %d\n", at(0.50), at(0.99))
}

// lowConn is a raw MQTT 5 client: a socket and a read buffer.
type lowConn struct {
	net.Conn
	r   *bufio.Reader
	buf []byte
}

func lowDial(t *testing.T, addr, id string) *lowConn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	lc := &lowConn{Conn: c, r: bufio.NewReaderSize(c, 4096)}
	connect := packets.Connect{ProtocolName: "MQTT", ProtocolVersion: packets.V5, CleanStart: true, ClientID: id}
	lc.write(t, connect.Append(nil, packets.V5))
	if h, _ := lc.next(t); h.Type != packets.TypeConnack {
		t.Fatalf("%s: got %v, want CONNACK", id, h.Type)
	}
	return lc
}

func (lc *lowConn) subscribe(t *testing.T, filter string, qos byte) {
	sub := packets.Subscribe{PacketID: 1, Subscriptions: []packets.Subscription{{Filter: filter, QoS: qos}}}
	lc.write(t, sub.Append(nil, packets.V5))
	if h, _ := lc.next(t); h.Type != packets.TypeSuback {
		t.Fatalf("got %v, want SUBACK", h.Type)
	}
}

func (lc *lowConn) write(t *testing.T, b []byte) {
	if _, err := lc.Write(b); err != nil {
		t.Error(err)
	}
}

// next reads one packet's header and body (valid until the next call).
func (lc *lowConn) next(t *testing.T) (packets.FixedHeader, []byte) {
	first, err := lc.r.ReadByte()
	if err != nil {
		t.Error(err)
		return packets.FixedHeader{}, nil
	}
	size, mul := 0, 1
	for {
		c, err := lc.r.ReadByte()
		if err != nil {
			t.Error(err)
			return packets.FixedHeader{}, nil
		}
		size += int(c&0x7f) * mul
		if c&0x80 == 0 {
			break
		}
		mul *= 128
	}
	lc.buf = slices.Grow(lc.buf[:0], size)[:size]
	if _, err := io.ReadFull(lc.r, lc.buf); err != nil {
		t.Error(err)
	}
	return packets.FixedHeader{Type: packets.Type(first >> 4), Flags: first & 0x0f, Remaining: size}, lc.buf
}

// pingPongClients connects clients, each subscribed to its own topic; the
// returned run makes n round trips in all and returns their latencies.
func pingPongClients(t *testing.T, addr string, qos byte, clients, n int) func() []time.Duration {
	conns := make([]*lowConn, clients)
	for i := range conns {
		conns[i] = lowDial(t, addr, fmt.Sprintf("pp-%d", i))
		conns[i].subscribe(t, fmt.Sprintf("pp/%d", i), qos)
	}
	return func() []time.Duration {
		lat := make([][]time.Duration, clients)
		var wg sync.WaitGroup
		for i, lc := range conns {
			share := n / clients
			if i < n%clients {
				share++
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer lc.Close()
				lat[i] = lc.pingPong(t, fmt.Sprintf("pp/%d", i), qos, share)
			}()
		}
		wg.Wait()
		return slices.Concat(lat...)
	}
}

func (lc *lowConn) pingPong(t *testing.T, topic string, qos byte, rounds int) []time.Duration {
	lat := make([]time.Duration, 0, rounds)
	payload := make([]byte, 64)
	var msg, answers []byte
	for k := range rounds {
		id := uint16(k%65535 + 1)
		msg = (&packets.Publish{Topic: topic, Payload: payload, QoS: qos, PacketID: id}).Append(msg[:0], packets.V5)
		start := time.Now()
		lc.write(t, msg)
		// The round trip ends when the message came back and every
		// acknowledgement the broker owes (PUBACK; PUBREC, PUBCOMP) and
		// the PUBREL of its QoS 2 delivery to us have arrived, as in
		// bench/loadgen's ping-pong.
		got, acked, released := false, qos == 0, qos < 2
		for !got || !acked || !released {
			h, body := lc.next(t)
			switch h.Type {
			case packets.TypePublish:
				got = true
				if q := h.Flags >> 1 & 3; q > 0 {
					tl := int(binary.BigEndian.Uint16(body))
					kind := byte(0x40) // PUBACK
					if q == 2 {
						kind = 0x50 // PUBREC
					}
					answers = append(answers, kind, 2, body[2+tl], body[3+tl])
				}
			case packets.TypePuback, packets.TypePubcomp:
				acked = true
			case packets.TypePubrec:
				answers = append(answers, 0x62, 2, body[0], body[1]) // PUBREL
			case packets.TypePubrel:
				answers = append(answers, 0x70, 2, body[0], body[1]) // PUBCOMP
				released = true
			default:
				t.Errorf("got %v", h.Type)
				return lat
			}
			if len(answers) > 0 {
				// Each packet is answered in a write of its own, as
				// bench/loadgen (and most client libraries) do.
				lc.write(t, answers)
				answers = answers[:0]
			}
			if t.Failed() {
				return lat
			}
		}
		lat = append(lat, time.Since(start))
	}
	return lat
}

// fanOutClients connects subs subscribers to one topic and a publisher; the
// returned run publishes n messages at rate per second, each carrying its
// send time, and returns every delivery's latency.
func fanOutClients(t *testing.T, addr string, subs, n, rate int) func() []time.Duration {
	conns := make([]*lowConn, subs)
	for i := range conns {
		conns[i] = lowDial(t, addr, fmt.Sprintf("fo-%d", i))
		conns[i].subscribe(t, "fo/t", 0)
	}
	pub := lowDial(t, addr, "fo-pub")
	return func() []time.Duration {
		epoch := time.Now()
		lat := make([][]time.Duration, subs)
		var wg sync.WaitGroup
		for i, lc := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer lc.Close()
				lat[i] = make([]time.Duration, 0, n)
				for range n {
					h, body := lc.next(t)
					if h.Type != packets.TypePublish || t.Failed() {
						t.Errorf("got %v", h.Type)
						return
					}
					sent := int64(binary.BigEndian.Uint64(body[len(body)-8:]))
					lat[i] = append(lat[i], time.Since(epoch)-time.Duration(sent))
				}
			}()
		}
		payload := make([]byte, 64)
		var msg []byte
		interval := time.Second / time.Duration(rate)
		for k := range n {
			// Paced against the schedule, not the last send: a late message
			// does not push every later one back.
			if d := time.Until(epoch.Add(time.Duration(k) * interval)); d > 0 {
				time.Sleep(d)
			}
			binary.BigEndian.PutUint64(payload[56:], uint64(time.Since(epoch)))
			msg = (&packets.Publish{Topic: "fo/t", Payload: payload}).Append(msg[:0], packets.V5)
			pub.write(t, msg)
		}
		wg.Wait()
		pub.Close()
		return slices.Concat(lat...)
	}
}

// pipelinedClients is the regime the low-rate path must not slow down: one
// publisher writing QoS 0 messages in bursts of 64, at most 1,000 ahead of
// its one subscriber. It reports no latencies.
func pipelinedClients(t *testing.T, addr string, n int) func() []time.Duration {
	sub := lowDial(t, addr, "pl-sub")
	sub.subscribe(t, "pl/t", 0)
	pub := lowDial(t, addr, "pl-pub")
	return func() []time.Duration {
		var got atomic.Int64
		go func() {
			defer sub.Close()
			for range n {
				if h, _ := sub.next(t); h.Type != packets.TypePublish || t.Failed() {
					t.Errorf("got %v", h.Type)
					return
				}
				got.Add(1)
			}
		}()
		msg := (&packets.Publish{Topic: "pl/t", Payload: make([]byte, 64)}).Append(nil, packets.V5)
		burst := make([]byte, 0, 64*len(msg))
		for sent := 0; sent < n; {
			burst = burst[:0]
			for k := 0; k < 64 && sent < n; k++ {
				burst = append(burst, msg...)
				sent++
			}
			pub.write(t, burst)
			for int64(sent)-got.Load() > 1000 && !t.Failed() {
				time.Sleep(50 * time.Microsecond)
			}
		}
		for got.Load() < int64(n) && !t.Failed() {
			time.Sleep(time.Millisecond)
		}
		pub.Close()
		return nil
	}
}

// fanInClients is a small fleet: pubs publishers, each sending at QoS qos
// to its own topic at rate per second (staggered), and subs subscribers to
// all of them through a wildcard at the same QoS; n messages are published
// in all. At QoS 1 the publishers do not wait for their PUBACKs (a reader
// per publisher discards them: open loop, as bench/loadgen's fleet) and the
// subscribers acknowledge every delivery. It returns every delivery's
// latency.
func fanInClients(t *testing.T, addr string, qos byte, pubs, subs, n, rate int) func() []time.Duration {
	subConns := make([]*lowConn, subs)
	for i := range subConns {
		subConns[i] = lowDial(t, addr, fmt.Sprintf("fi-sub-%d", i))
		subConns[i].subscribe(t, "fi/+", qos)
	}
	pubConns := make([]*lowConn, pubs)
	var acks sync.WaitGroup
	for i := range pubConns {
		pubConns[i] = lowDial(t, addr, fmt.Sprintf("fi-pub-%d", i))
		if qos > 0 {
			acks.Add(1)
			go func() {
				defer acks.Done()
				_, _ = io.Copy(io.Discard, pubConns[i].r) // until the publisher is closed
			}()
		}
	}
	return func() []time.Duration {
		epoch := time.Now()
		lat := make([][]time.Duration, subs)
		var wg sync.WaitGroup
		for i, lc := range subConns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer lc.Close()
				lat[i] = make([]time.Duration, 0, n)
				puback := make([]byte, 0, 4)
				for range n {
					h, body := lc.next(t)
					if h.Type != packets.TypePublish || t.Failed() {
						t.Errorf("got %v", h.Type)
						return
					}
					sent := int64(binary.BigEndian.Uint64(body[len(body)-8:]))
					lat[i] = append(lat[i], time.Since(epoch)-time.Duration(sent))
					if h.Flags&0x06 != 0 {
						tl := int(binary.BigEndian.Uint16(body))
						puback = append(puback[:0], 0x40, 2, body[2+tl], body[3+tl])
						lc.write(t, puback)
					}
				}
			}()
		}
		interval := time.Second / time.Duration(rate)
		var pw sync.WaitGroup
		for i, pub := range pubConns {
			share := n / pubs
			if i < n%pubs {
				share++
			}
			pw.Add(1)
			go func() {
				defer pw.Done()
				payload := make([]byte, 64)
				var msg []byte
				topic := fmt.Sprintf("fi/%d", i)
				offset := interval * time.Duration(i) / time.Duration(pubs)
				for k := range share {
					if d := time.Until(epoch.Add(offset + time.Duration(k)*interval)); d > 0 {
						time.Sleep(d)
					}
					binary.BigEndian.PutUint64(payload[56:], uint64(time.Since(epoch)))
					p := packets.Publish{Topic: topic, Payload: payload, QoS: qos}
					if qos > 0 {
						p.PacketID = uint16(k%65535 + 1)
					}
					msg = p.Append(msg[:0], packets.V5)
					pub.write(t, msg)
				}
			}()
		}
		pw.Wait()
		wg.Wait()
		for _, pub := range pubConns {
			pub.Close()
		}
		acks.Wait()
		return slices.Concat(lat...)
	}
}
