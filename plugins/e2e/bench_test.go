package e2e

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/host"
	"github.com/plumemq/plume/host/plugintest"
)

// benchPlugins is the benchmark's own plugins module (bench/plugins): its
// allowappend plugin allows every publish and appends '!' to every payload.
const benchPlugins = repoRoot + "/bench/plugins"

// BenchmarkPublishThroughPlugins measures the broker's publish path over
// loopback TCP, one QoS 0 publisher to one subscriber with 64-byte payloads:
// with no plugins, and with a plugin called twice per message (authorize
// allows, transform appends a byte). ns/op is per message delivered; allocs
// are the broker's and the host's per message (the clients here allocate
// nothing per message).
func BenchmarkPublishThroughPlugins(b *testing.B) {
	goWasm := plugintest.BuildGo(b, benchPlugins, "./allowappend")
	rustWasm := plugintest.BuildRust(b, benchPlugins+"/allowappend-rust")
	for _, bc := range []struct {
		name    string
		plugins []host.PluginConfig
		suffix  string
	}{
		{"plugins=none", nil, ""},
		{"plugins=authorize+transform/go", []host.PluginConfig{{Name: "allowappend", Path: goWasm, PoolSize: 2}}, "!"},
		{"plugins=authorize+transform/rust", []host.PluginConfig{{Name: "allowappend", Path: rustWasm, PoolSize: 2}}, "!"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := start(b, host.Config{Plugins: bc.plugins}, broker.Options{AllowAnonymous: true})
			sub, subR := benchConn(b, e.addr, "sub")
			subscribe := packets.Subscribe{PacketID: 1, Subscriptions: []packets.Subscription{{Filter: "bench/t"}}}
			if _, err := sub.Write(subscribe.Append(nil, packets.V5)); err != nil {
				b.Fatal(err)
			}
			if p, err := packets.ReadPacket(subR, packets.V5, 0); err != nil || p.Type() != packets.TypeSuback {
				b.Fatalf("SUBACK: %v %v", p, err)
			}
			pub, _ := benchConn(b, e.addr, "pub")
			msg := (&packets.Publish{Topic: "bench/t", Payload: bytes.Repeat([]byte{'x'}, 64)}).Append(nil, packets.V5)

			// The subscriber counts deliveries and reports progress every
			// batch, so the publisher keeps at most window messages in flight
			// (QoS 0 is shed by a broker whose subscriber falls behind).
			const batch, window = 64, 1024
			progress := make(chan int, b.N/batch+2)
			done := make(chan error, 1)
			b.ReportAllocs()
			b.ResetTimer()
			go func() { done <- receive(subR, b.N, batch, bc.suffix, progress) }()
			burst := bytes.Repeat(msg, batch)
			received := 0
			for sent := 0; sent < b.N; {
				n := min(batch, b.N-sent)
				if _, err := pub.Write(burst[:n*len(msg)]); err != nil {
					b.Fatal(err)
				}
				sent += n
				for sent-received > window {
					select {
					case received = <-progress:
					case err := <-done:
						b.Fatalf("subscriber: %v", err)
					case <-time.After(wait):
						b.Fatalf("stalled: %d sent, %d received", sent, received)
					}
				}
			}
			select {
			case err := <-done:
				if err != nil {
					b.Fatal(err)
				}
			case <-time.After(wait):
				b.Fatal("the subscriber did not receive every message")
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			_ = pub.Close()
			_ = sub.Close()
		})
	}
}

// benchConn connects a raw 5.0 client.
func benchConn(b *testing.B, addr, id string) (net.Conn, *bufio.Reader) {
	b.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
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

// receive reads n PUBLISH packets without decoding them, checks that each
// payload ends with suffix, and sends the count so far on progress every
// batch.
func receive(r *bufio.Reader, n, batch int, suffix string, progress chan<- int) error {
	buf := make([]byte, 0, 256)
	for i := 1; i <= n; i++ {
		h, err := r.ReadByte()
		if err != nil {
			return err
		}
		var size, shift int
		for {
			c, err := r.ReadByte()
			if err != nil {
				return err
			}
			size |= int(c&0x7f) << shift
			shift += 7
			if c < 0x80 {
				break
			}
		}
		if h>>4 != byte(packets.TypePublish) {
			return io.ErrUnexpectedEOF
		}
		buf = buf[:size]
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		if !bytes.HasSuffix(buf, []byte("x"+suffix)) {
			return io.ErrUnexpectedEOF
		}
		if i%batch == 0 {
			progress <- i
		}
	}
	return nil
}
