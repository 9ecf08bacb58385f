package plugincall

import (
	"strings"
	"testing"

	"github.com/plumemq/plume/core/hooks"
)

func TestParseEventRefusesUnknownKeys(t *testing.T) {
	if _, err := ParseEvent([]byte(`{"point": "authorize", "topik": "x"}`)); err == nil {
		t.Error("unknown key accepted")
	}
}

// A call described as data reaches the plugin through the real host, and
// what the plugin answers comes back; a point that does not exist is an
// error, not a call.
func TestCallRunsTheEventOnThePlugin(t *testing.T) {
	p, err := Open(t.Context(), "../testdata/minimal.wasm", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ev, err := ParseEvent([]byte(`{"point": "authorize", "client": {"id": "c"}, "topic": "a/b"}`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Call(t.Context(), ev)
	if r, ok := res.(hooks.AuthzResult); err != nil || !ok || r.Verdict != hooks.Allow {
		t.Fatalf("authorize: %#v, %v; want the plugin's allow", res, err)
	}
	if !p.Provides(hooks.PointAuthorize) || p.Provides(hooks.PointAuthenticate) {
		t.Error("the plugin's declared points are not what it declared (authorize only)")
	}
	ev.Point = "teleport"
	if _, err := p.Call(t.Context(), ev); err == nil || !strings.Contains(err.Error(), `point "teleport"`) {
		t.Fatalf("unknown point: %v", err)
	}
}
