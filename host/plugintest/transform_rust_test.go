package plugintest_test

import (
	"regexp"
	"testing"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/host/plugintest"
)

// The Rust transform example, built from its source with cargo, through the
// real host.
func TestTransformRustExample(t *testing.T) {
	wasm := plugintest.BuildRust(t, "../../examples/plugins/transform-rust")
	p := plugintest.Load(t, wasm, plugintest.Options{Config: []byte("sensors/#\n")})
	if !p.Provides(hooks.PointTransform) || p.Provides(hooks.PointAuthorize) {
		t.Error("transform-rust should provide transform only")
	}
	c := &hooks.Client{ID: "dev-7"}
	out, err := p.Transform(c, &packets.Publish{Topic: "sensors/t", Payload: []byte(`{"t": 21.5}`)})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\{"client_id":"dev-7","received_at":\d{13},"t": 21.5\}$`).Match(out.Payload) {
		t.Errorf("payload = %s", out.Payload)
	}
	if out.Properties.ContentType != "application/json" || !out.Properties.Has(packets.PropContentType) {
		t.Errorf("content type = %q", out.Properties.ContentType)
	}
	for _, m := range []*packets.Publish{
		{Topic: "other/t", Payload: []byte(`{"t": 1}`)},   // outside the filter
		{Topic: "sensors/t", Payload: []byte("not json")}, // not an object
	} {
		out, err := p.Transform(c, m)
		if err != nil || string(out.Payload) != string(m.Payload) {
			t.Errorf("%s %q: %q, %v; want unchanged", m.Topic, m.Payload, out.Payload, err)
		}
	}
}
