package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plumemq/plume/cmd/plume/internal/config"
)

// The audit section wires the log through the binary: the plugin host's
// load and the broker's refusal each make one line in the file, which is
// relative to the config file and complete once the server has stopped.
func TestAuditSectionRecordsPluginLoadAndRefusal(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "plume.yaml")
	yaml := "listeners: [{name: a, address: '127.0.0.1:0'}]\nallow_anonymous: true\n" +
		"plugins:\n  chain:\n    - {name: closing-no, builtin: deny-all}\n" +
		"audit:\n  file: audit.log\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := start(cfg, path, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := connack311(t, srv.listeners[0].Address()); !bytes.Equal(got, []byte{0x20, 2, 0, 0x05}) {
		stopServer(t, srv)
		t.Fatalf("CONNACK % x, want refused (5)", got)
	}
	stopServer(t, srv)

	data, err := os.ReadFile(filepath.Join(dir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		count[m["event"].(string)]++
		if m["event"] == "plugin_load" && (m["plugin"] != "closing-no" || len(m["hash"].(string)) != 64) {
			t.Errorf("plugin_load line %v lacks the plugin and its hash", m)
		}
	}
	if count["plugin_load"] != 1 || count["auth_failure"] != 1 || len(count) != 2 {
		t.Errorf("events %v, want one plugin_load and one auth_failure", count)
	}
}
