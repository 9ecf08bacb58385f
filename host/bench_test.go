package host

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
)

func benchHost(b *testing.B, plugin string, mode deadlineMode) *Plugin {
	b.Helper()
	return benchHostMode(b, plugin, testPlugin(b, plugin), mode)
}

func benchHostPath(b *testing.B, plugin, path string) *Plugin {
	return benchHostMode(b, plugin, path, deadlineInterrupt)
}

func benchHostMode(b *testing.B, plugin, path string, mode deadlineMode) *Plugin {
	b.Helper()
	return benchHostEngine(b, EngineWazero, plugin, path, mode)
}

func benchHostEngine(b *testing.B, engine, plugin, path string, mode deadlineMode) *Plugin {
	b.Helper()
	cfg := one(engine, plugin, path)
	cfg.Plugins[0].PoolSize = 1
	h, err := newHost(context.Background(), zerolog.Nop(), cfg, mode)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = h.Close(context.Background()) })
	return h.Plugin(plugin)
}

// pointCall returns one call of point with a payload (topic for authorize,
// password for authenticate) of size n.
func pointCall(p *Plugin, point string, n int) func(ctx context.Context) error {
	client := &hooks.Client{ID: "bench", Username: "u", RemoteAddr: "127.0.0.1:1", ProtocolVersion: 5, Creds: &hooks.Credentials{Password: make([]byte, n)}}
	payload := make([]byte, n)
	switch point {
	case "authenticate":
		req := &hooks.AuthRequest{Client: client}
		return func(ctx context.Context) error { _, err := p.Authenticate(ctx, req); return err }
	case "authorize":
		req := &hooks.AuthzRequest{Client: client, Topic: strings.Repeat("t", n)}
		return func(ctx context.Context) error { _, err := p.Authorize(ctx, req); return err }
	case "on-publish":
		m := &packets.Publish{Topic: "bench/topic", Payload: payload}
		return func(ctx context.Context) error { _, err := p.OnPublish(ctx, client, m); return err }
	default:
		m := &packets.Publish{Topic: "bench/topic", Payload: payload}
		return func(ctx context.Context) error {
			m.Topic, m.Payload = "bench/topic", payload
			return p.Transform(ctx, client, m)
		}
	}
}

// runTimed runs call b.N times and reports the median latency besides ns/op.
func runTimed(b *testing.B, call func(context.Context) error) {
	ctx := context.Background()
	samples := make([]time.Duration, 0, min(b.N, 1<<16))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := call(ctx); err != nil {
			b.Fatal(err)
		}
		if len(samples) < cap(samples) {
			samples = append(samples, time.Since(t0))
		}
	}
	b.StopTimer()
	slices.Sort(samples)
	if len(samples) > 0 {
		b.ReportMetric(float64(samples[len(samples)/2].Nanoseconds()), "p50-ns")
	}
}

// BenchmarkPoint measures one call of each point through a Plugin, with an
// empty Go handler ("empty"), an empty Rust handler ("rust-empty"), and a Go
// handler that reads the event's data and, in transform, writes the payload
// back ("copy").
func BenchmarkPoint(b *testing.B) {
	for _, plugin := range []string{"empty", "copy", "rust-empty"} {
		var p *Plugin
		if plugin == "rust-empty" {
			p = benchHostMode(b, plugin, rustPlugin(b, "empty"), deadlineInterrupt)
		} else {
			p = benchHost(b, plugin, deadlineInterrupt)
		}
		for _, point := range []string{"authenticate", "authorize", "on-publish", "transform"} {
			for _, n := range []int{64, 4096} {
				b.Run(fmt.Sprintf("%s/%s/%dB", plugin, point, n), func(b *testing.B) {
					runTimed(b, pointCall(p, point, n))
				})
			}
		}
	}
}

// BenchmarkDeadline compares the ways of enforcing call deadlines
// (docs/decisions/0006-plugin-deadlines.md): none at all, the interrupt
// global, wazero's termination checks with the watchdog, and with a
// context.WithTimeout per call, on an empty call and a 256 B transform that
// does work in the guest.
func BenchmarkDeadline(b *testing.B) {
	for _, mode := range []struct {
		name string
		mode deadlineMode
	}{{"none", deadlineNone}, {"interrupt", deadlineInterrupt}, {"watchdog", deadlineWatchdog}, {"per-call", deadlinePerCall}} {
		empty := benchHost(b, "empty", mode.mode)
		probe := benchHost(b, "probe", mode.mode)
		b.Run(mode.name+"/empty-authorize", func(b *testing.B) {
			runTimed(b, pointCall(empty, "authorize", 16))
		})
		b.Run(mode.name+"/transform-256B", func(b *testing.B) {
			runProbeTransform(b, probe)
		})
	}
}

// BenchmarkEngine compares the engines on the same calls, in one run so that
// their ratio means something on a shared machine: the raw export (the engine's
// own call cost), empty Go and Rust authorize handlers (a call through the
// host, one host call for the header), a Go handler that pulls a 4 KiB
// payload and writes it back (host calls and copies), and a 256 B transform
// that does work in the guest. "wasmtime+fuel" is wasmtime metering fuel
// with a budget that is never reached. docs/decisions/0008 records the ratios.
func BenchmarkEngine(b *testing.B) {
	type variant struct {
		name, engine string
		fuel         uint64
	}
	variants := []variant{{EngineWazero, EngineWazero, 0}}
	if wasmtimeBuilt {
		variants = append(variants, variant{EngineWasmtime, EngineWasmtime, 0}, variant{"wasmtime+fuel", EngineWasmtime, 1 << 40})
	}
	for _, v := range variants {
		load := func(b *testing.B, plugin, path string) *Plugin {
			cfg := one(v.engine, plugin, path)
			cfg.Plugins[0].PoolSize = 1
			cfg.Plugins[0].Fuel = v.fuel
			h, err := New(context.Background(), zerolog.Nop(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = h.Close(context.Background()) })
			return h.Plugin(plugin)
		}
		empty := load(b, "empty", testPlugin(b, "empty"))
		copyPlugin := load(b, "copy", testPlugin(b, "copy"))
		probe := load(b, "probe", testPlugin(b, "probe"))
		b.Run(v.name+"/raw-export", func(b *testing.B) { runRaw(b, empty) })
		b.Run(v.name+"/empty-authorize", func(b *testing.B) {
			runTimed(b, pointCall(empty, "authorize", 64))
		})
		b.Run(v.name+"/rust-empty-authorize", func(b *testing.B) {
			runTimed(b, pointCall(load(b, "rust-empty", rustPlugin(b, "empty")), "authorize", 64))
		})
		b.Run(v.name+"/copy-transform-4096B", func(b *testing.B) {
			runTimed(b, pointCall(copyPlugin, "transform", 4096))
		})
		b.Run(v.name+"/transform-256B", func(b *testing.B) {
			runProbeTransform(b, probe)
		})
	}
}

// runProbeTransform times the probe plugin's transform of a 256-byte payload,
// which does work in the guest (it upper-cases the payload).
func runProbeTransform(b *testing.B, probe *Plugin) {
	client := &hooks.Client{ID: "bench"}
	payload := []byte(strings.Repeat("abcdefgh", 32))
	m := &packets.Publish{}
	runTimed(b, func(ctx context.Context) error {
		*m = packets.Publish{Topic: "msg/x", Payload: payload}
		return probe.Transform(ctx, client, m)
	})
}
