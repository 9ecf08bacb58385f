package host

import (
	"context"
	"testing"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
)

// BenchmarkShadowServingPath measures what a shadow adds to the serving
// plugin's authorize and transform calls, on the broker's goroutine: the
// event's copy and the queue send (the candidate runs on its own workers;
// with a 1 KiB payload the transform copies it twice, in and out). Compare
// the "none" rows with the "shadow" rows.
func BenchmarkShadowServingPath(b *testing.B) {
	rules := testPlugin(b, "rules")
	for _, withShadow := range []bool{false, true} {
		cfg := one(EngineWazero, "acl", rules)
		cfg.Plugins[0].PoolSize = 1
		cfg.Plugins[0].Config = ConfigBytes(`{"suffix": "|v1"}`)
		name := "none"
		if withShadow {
			name = "shadow"
			cfg = shadowed(EngineWazero, rules, `{"suffix": "|v1"}`, rules, `{"suffix": "|v1"}`)
			cfg.Plugins[0].PoolSize = 1
			cfg.Plugins[0].Shadow.Queue = 1 << 16
		}
		h, err := New(context.Background(), zerolog.Nop(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		p := h.Plugin("acl")
		for _, point := range []string{"authorize", "transform"} {
			call := pointCall(p, point, 1024)
			b.Run(point+"/"+name, func(b *testing.B) {
				b.ReportAllocs()
				ctx := context.Background()
				for b.Loop() {
					if err := call(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		if st, ok := p.Shadow(); ok {
			b.Logf("shadow: agreed %d, disagreed %d, errors %d, dropped %d", st.Agreed, st.Disagreed, st.Errors, st.Dropped)
		}
		if err := h.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkShadowOffer measures the shadow's part of the serving path
// alone: copying the event and offering it to a queue that is full (its
// worker stopped), so no candidate competes for the CPU.
func BenchmarkShadowOffer(b *testing.B) {
	rules := testPlugin(b, "rules")
	h, err := New(context.Background(), zerolog.Nop(), shadowed(EngineWazero, rules, "", rules, ""))
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close(context.Background())
	s := h.Plugin("acl").shadow.Load()
	s.close() // nothing drains the queue now
	h.Plugin("acl").shadow.Store(nil)
	client := &hooks.Client{ID: "bench-client", Username: "u", RemoteAddr: "127.0.0.1:1", Handle: 1, Attributes: map[string]string{"role": "r"}}
	b.Run("authorize", func(b *testing.B) {
		req := &hooks.AuthzRequest{Client: client, Topic: "fleet/meter-7/telemetry", QoS: 1}
		b.ReportAllocs()
		for b.Loop() {
			s.authorized(req, hooks.AuthzResult{Verdict: hooks.Allow})
		}
	})
	b.Run("transform-1KiB", func(b *testing.B) {
		m := &packets.Publish{Topic: "fleet/meter-7/telemetry", Payload: make([]byte, 1024)}
		b.ReportAllocs()
		for b.Loop() {
			s.transformed(client, clonePublish(m), m)
		}
	})
}
