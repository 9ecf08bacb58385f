package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plumemq/plume/cmd/plume/internal/config"
)

// A chain entry that names a built-in runs it in a real broker: deny-all
// refuses the CONNECT that allow_anonymous alone would admit.
func TestABuiltinPluginNamedByTheConfigRunsInTheBroker(t *testing.T) {
	for _, tc := range []struct {
		name, chain string
		want        byte // 3.1.1 CONNACK return code
	}{
		{"without it anonymous clients get in", "", 0x00},
		{"deny-all refuses them", "plugins:\n  chain:\n    - {name: closing-no, builtin: deny-all}\n", 0x05},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "plume.yaml")
			yaml := "listeners: [{name: a, address: '127.0.0.1:0'}]\nallow_anonymous: true\n" + tc.chain
			srv := startYAML(t, path, yaml)
			t.Cleanup(func() { stopServer(t, srv) })
			if got := connack311(t, srv.listeners[0].Address()); !bytes.Equal(got, []byte{0x20, 2, 0, tc.want}) {
				t.Fatalf("CONNACK % x, want return code %#x", got, tc.want)
			}
		})
	}
}

func TestBuiltinConfigErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"plugins:\n  chain:\n    - {name: a, builtin: allow-everyone}\n", `plugins.chain[0].builtin: "allow-everyone" is not a built-in plugin (deny-all`},
		{"plugins:\n  chain:\n    - {name: a, builtin: deny-all, path: a.wasm}\n", "plugins.chain[0].builtin: give path or builtin, not both"},
		{"plugins:\n  chain:\n    - {name: a}\n", "plugins.chain[0].path: required (or builtin: one of deny-all"},
	} {
		_, err := config.Parse(strings.NewReader(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

// A built-in has no file: Load must not join its label to the config file's
// folder, and the host gets the module's bytes.
func TestBuiltinReachesTheHostAsBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plume.yaml")
	if err := os.WriteFile(path, []byte("plugins:\n  chain:\n    - {name: a, builtin: deny-all}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	hp := cfg.Plugins.Plugins[0]
	if hp.Path != "builtin:deny-all" || len(hp.Wasm) == 0 || !bytes.HasPrefix(hp.Wasm, []byte("\x00asm")) {
		t.Fatalf("host plugin path %q with %d bytes, want builtin:deny-all and a Wasm module", hp.Path, len(hp.Wasm))
	}
}
