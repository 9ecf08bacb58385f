package config

import (
	"bytes"
	"os"
	"testing"
)

// FuzzParse: any bytes give a config or an error, never a panic, and an
// accepted config always validates.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("../../../../examples/plume.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte("limits:\n  max_qos: 3\n"))
	f.Add([]byte("listeners: [{name: a, address: ':1'}, {name: a}]\n"))
	f.Add([]byte("log: {level: debug, format: json}\nsys_interval: 1m\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(bytes.NewReader(data))
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that does not validate: %v", err)
		}
	})
}
