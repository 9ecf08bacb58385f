package e2e

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/hooks"
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

// BenchmarkPluginCalls measures, without a broker, the two calls that
// BenchmarkPublishThroughPlugins makes per message: the benchmark plugin's
// authorize (allow) and transform (append a byte to a 64-byte payload), each
// through the host as the broker makes them. It tells the plugin's share of a
// message's cost apart from the broker's.
func BenchmarkPluginCalls(b *testing.B) {
	for _, lang := range []string{"go", "rust"} {
		var wasm string
		if lang == "go" {
			wasm = plugintest.BuildGo(b, benchPlugins, "./allowappend")
		} else {
			wasm = plugintest.BuildRust(b, benchPlugins+"/allowappend-rust")
		}
		h, err := host.New(context.Background(), zerolog.Nop(), host.Config{Plugins: []host.PluginConfig{{Name: "allowappend", Path: wasm, PoolSize: 1}}})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = h.Close(context.Background()) })
		p := h.Plugin("allowappend")
		client := &hooks.Client{ID: "bench", RemoteAddr: "127.0.0.1:1", ProtocolVersion: packets.V5, Handle: 1}
		payload := bytes.Repeat([]byte{'x'}, 64)
		ctx := context.Background()
		b.Run(lang+"/authorize", func(b *testing.B) {
			req := &hooks.AuthzRequest{Client: client, Action: hooks.ActionPublish, Topic: "bench/t"}
			b.ReportAllocs()
			for b.Loop() {
				if res, err := p.Authorize(ctx, req); err != nil || res.Verdict != hooks.Allow {
					b.Fatal(res, err)
				}
			}
		})
		b.Run(lang+"/transform-64B", func(b *testing.B) {
			m := &packets.Publish{Topic: "bench/t"}
			b.ReportAllocs()
			for b.Loop() {
				m.Payload = payload
				if err := p.Transform(ctx, client, m); err != nil || len(m.Payload) != 65 {
					b.Fatal(len(m.Payload), err)
				}
			}
		})
	}
}
