package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A shadow names a built-in or a path as a chain entry does: the built-in
// is resolved, the path taken relative to the config file, and its errors
// name its key and line.
func TestShadowResolvesLikeAChainEntry(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "plume.yaml")
	yaml := "plugins:\n  chain:\n    - name: acl\n      path: a.wasm\n      shadow:\n        builtin: deny-all\n    - name: b\n      builtin: deny-all\n      shadow: {path: cand.wasm, queue: 8}\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Plugins.Plugins[0].Shadow, cfg.Plugins.Plugins[1].Shadow
	if a.Wasm == nil || a.Path != "builtin:deny-all" {
		t.Errorf("built-in shadow not resolved: path %q, %d bytes", a.Path, len(a.Wasm))
	}
	if b.Path != filepath.Join(dir, "cand.wasm") || b.Queue != 8 {
		t.Errorf("shadow path %q queue %d, want %s and 8", b.Path, b.Queue, filepath.Join(dir, "cand.wasm"))
	}
	for _, tc := range []struct{ yaml, want string }{
		{"plugins:\n  chain:\n    - name: acl\n      path: a.wasm\n      shadow:\n        builtin: nope\n", "line 6: plugins.chain[0].shadow.builtin"},
		{"plugins:\n  chain:\n    - name: acl\n      path: a.wasm\n      shadow:\n        path: b.wasm\n        on_error: {auth: fail-open}\n", "line 7: plugins.chain[0].shadow.on_error"},
		{"plugins:\n  chain:\n    - name: acl\n      path: a.wasm\n      shadow:\n        path: b.wasm\n        queu: 3\n", `line 7: plugins.chain[0].shadow: unknown key "queu"; did you mean queue?`},
	} {
		if _, err := Parse(strings.NewReader(tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
