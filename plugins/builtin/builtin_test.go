package builtin_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/host"
	"github.com/plumemq/plume/plugins/builtin"
)

// sampleConfigs are configs for the built-ins that refuse to start without one.
var sampleConfigs = map[string]string{
	"acl-file": `{"rules": [{"allow": {"publish": ["x"]}}]}`,
}

// Every built-in loads in the real host, as the broker would load it.
func TestEveryBuiltinLoadsInTheHost(t *testing.T) {
	for _, name := range builtin.Names() {
		p, ok := builtin.Lookup(name)
		if !ok || p.Summary == "" {
			t.Fatalf("%s: Lookup %v, summary %q", name, ok, p.Summary)
		}
		h, err := host.New(context.Background(), zerolog.Nop(), host.Config{Plugins: []host.PluginConfig{
			{Name: name, Path: "builtin:" + name, Wasm: p.Wasm, PoolSize: 1, Config: []byte(sampleConfigs[name])},
		}})
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

// Each embedded module is what its source builds to.
func TestEmbeddedModulesMatchTheirSource(t *testing.T) {
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		t.Skip("wat2wasm not installed (Debian package wabt)")
	}
	sources, err := filepath.Glob("*/*.wat")
	if err != nil || len(sources) == 0 {
		t.Fatalf("no .wat sources found (%v)", err)
	}
	for _, src := range sources {
		want, err := os.ReadFile(src[:len(src)-len(".wat")] + ".wasm")
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), "out.wasm")
		if b, err := exec.Command("wat2wasm", src, "-o", out).CombinedOutput(); err != nil {
			t.Fatalf("wat2wasm %s: %v\n%s", src, err, b)
		}
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s does not build to the committed .wasm: run wat2wasm %s -o %s", src, src, src[:len(src)-4]+".wasm")
		}
	}
}

// Every built-in has a README with the sections CoreDNS's plugins have: in
// its folder here (a .wat built-in) or in plugins/NAME (one built from Go).
func TestEveryBuiltinHasAReadme(t *testing.T) {
	for _, name := range builtin.Names() {
		var b []byte
		var r string
		for _, r = range []string{strings.ReplaceAll(name, "-", "") + "/README.md", "../" + name + "/README.md"} {
			var err error
			if b, err = os.ReadFile(r); err == nil {
				break
			}
		}
		if b == nil {
			t.Errorf("%s has no README", name)
			continue
		}
		for _, section := range []string{"## Syntax", "## Examples", "## Metrics"} {
			if !bytes.Contains(b, []byte(section)) {
				t.Errorf("%s has no %q section", r, section)
			}
		}
	}
}
