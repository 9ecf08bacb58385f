package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plumemq/plume/cmd/plume/internal/config"
)

// The start-up log says who gets in as the chain will decide it: with an
// authenticate plugin, the plugin first, and the listener's anonymous rule
// only for clients it passes on. Before, a config whose deny-all plugin
// refused every CONNECT logged "anonymous clients are allowed on ...".
func TestStartupLogStatesTheEffectiveAnonymousPolicy(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"no plugin, loopback", "listeners: [{name: local, address: '127.0.0.1:0'}]\n",
			"no plugin authenticates clients: every client is admitted on local (127.0.0.1:0)"},
		{"an authenticate plugin", "listeners: [{name: local, address: '127.0.0.1:0'}, {name: closed, address: '127.0.0.1:0', allow_anonymous: false}]\n" +
			"plugins:\n  chain:\n    - {name: gate, builtin: deny-all}\n",
			"the plugin chain decides each CONNECT first (authenticate: gate); a client no plugin allows or denies is admitted anonymously on local (127.0.0.1:0); refused on closed (127.0.0.1:0)"},
		{"an authenticate plugin, no anonymous listener", "allow_anonymous: false\nplugins:\n  chain:\n    - {name: gate, builtin: deny-all}\n",
			"the plugin chain decides each CONNECT first (authenticate: gate); a client no plugin allows is refused on every listener"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "plume.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml+"log: {format: json}\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Listeners) == 1 && cfg.Listeners[0].Address == "127.0.0.1:1883" {
				cfg.Listeners[0].Address = "127.0.0.1:0" // the default's port may be taken
			}
			var logs bytes.Buffer
			srv, err := start(cfg, path, &logs)
			if err != nil {
				t.Fatal(err)
			}
			stopServer(t, srv)
			var said []string
			for _, line := range strings.Split(logs.String(), "\n") {
				var m map[string]any
				if json.Unmarshal([]byte(line), &m) != nil {
					continue
				}
				if msg, _ := m["message"].(string); strings.Contains(msg, "anonymous") || strings.Contains(msg, "admitted") || strings.Contains(msg, "authenticat") {
					said = append(said, msg)
				}
			}
			if len(said) != 1 || said[0] != tc.want {
				t.Fatalf("admission lines %q, want\n%q", said, tc.want)
			}
		})
	}
}
