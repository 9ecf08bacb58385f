package config

import (
	"bytes"
	"os"
	"testing"
)

// FuzzParse: any bytes give a config or an error, never a panic; an
// accepted config always validates, and a refusal never speaks Go (the key
// checker refused first whatever the decoder would have).
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("../../../../examples/plume.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte("limits:\n  max_qos: 3\n"))
	f.Add([]byte("listeners: [{name: a, address: ':1'}, {name: a}]\n"))
	f.Add([]byte("log: {level: debug, format: json}\nsys_interval: 1m\n"))
	f.Add([]byte("plugins:\n  chain:\n    - {name: a, path: x, call_timeout: -1s, on_error: {auth: fail-open}}\n"))
	f.Add([]byte("base: &b {max_qos: 1}\nlimits: {<<: *b, max_queued_bytes: 1MiB}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(bytes.NewReader(data))
		if err != nil {
			if speaksGo(err.Error()) {
				t.Fatalf("an error in Go's terms: %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that does not validate: %v", err)
		}
	})
}
