package builtin_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/host"
	"github.com/plumemq/plume/plugins/builtin"
)

// Every built-in loads in the real host, as the broker would load it: it
// compiles, speaks ABI v1 and runs its init. One that needs a config (a
// file to read) refuses the empty one, which is fine: it ran and said so.
func TestEveryBuiltinLoadsInTheHost(t *testing.T) {
	for _, name := range builtin.Names() {
		p, ok := builtin.Lookup(name)
		if !ok || p.Summary == "" || len(p.Wasm) == 0 {
			t.Fatalf("%s: Lookup %v, summary %q, %d bytes of Wasm (make builtins builds wasm/%s.wasm)", name, ok, p.Summary, len(p.Wasm), name)
		}
		h, err := host.New(context.Background(), zerolog.Nop(), host.Config{Plugins: []host.PluginConfig{
			{Name: name, Path: "builtin:" + name, Wasm: p.Wasm, Config: p.Example, BuiltinFiles: p.FileKeys, PoolSize: 1},
		}})
		if err != nil && strings.Contains(err.Error(), "plugin refused its config") {
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := h.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := builtin.Lookup("no-such-plugin"); ok {
		t.Fatal("Lookup found a plugin that is not registered")
	}
}

func TestDenyAllDeniesConnectPublishAndSubscribe(t *testing.T) {
	p, _ := builtin.Lookup("deny-all")
	h, err := host.New(context.Background(), zerolog.Nop(), host.Config{Plugins: []host.PluginConfig{
		{Name: "closing-no", Path: "builtin:deny-all", Wasm: p.Wasm, PoolSize: 1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	ctx := context.Background()
	c := &hooks.Client{ID: "c", Username: "u"}
	auth, err := h.Chain().Authenticate(ctx, &hooks.AuthRequest{Client: c})
	if err != nil || auth.Verdict != hooks.Deny {
		t.Fatalf("authenticate: %+v, %v; want deny", auth, err)
	}
	for _, action := range []hooks.Action{hooks.ActionPublish, hooks.ActionSubscribe} {
		res, err := h.Chain().Authorize(ctx, &hooks.AuthzRequest{Client: c, Action: action, Topic: "a/b"})
		if err != nil || res.Verdict != hooks.Deny || (res.Reason != 0 && res.Reason != packets.NotAuthorized) {
			t.Fatalf("authorize %v: %+v, %v; want deny", action, res, err)
		}
	}
}

// Every built-in has a README with the sections CoreDNS's plugins have.
func TestEveryBuiltinHasAReadme(t *testing.T) {
	for _, name := range builtin.Names() {
		r := filepath.Join("..", name, "README.md")
		b, err := os.ReadFile(r)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for _, section := range []string{"## Syntax", "## Examples", "## Metrics"} {
			if !bytes.Contains(b, []byte(section)) {
				t.Errorf("%s has no %q section", r, section)
			}
		}
	}
}
