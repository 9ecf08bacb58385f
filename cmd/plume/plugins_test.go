package main

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/cmd/plume/internal/config"
	"github.com/plumemq/plume/host"
)

// plugins.engine reaches the host; wasmtime in a binary built without it is
// refused with how to build one that has it.
func TestPluginEngineReachesTheHost(t *testing.T) {
	cfg, err := config.Parse(strings.NewReader("plugins:\n  engine: wasmtime\n"))
	if err != nil {
		t.Fatal(err)
	}
	hc := cfg.Plugins
	if hc.Engine != host.EngineWasmtime {
		t.Fatalf("host engine = %q, want wasmtime", hc.Engine)
	}
	h, err := host.New(context.Background(), zerolog.Nop(), hc)
	if slices.Contains(host.Engines(), host.EngineWasmtime) {
		if err != nil {
			t.Fatalf("built with wasmtime, New: %v", err)
		}
		_ = h.Close(context.Background())
		return
	}
	if !errors.Is(err, host.ErrEngineNotBuilt) || !strings.Contains(err.Error(), "build with -tags wasmtime") {
		t.Errorf("New without the wasmtime engine: %v, want ErrEngineNotBuilt", err)
	}
}

// A plugin's fuel reaches the host; without the wasmtime engine it is a config
// error naming the key.
func TestPluginFuelIsForWasmtimeOnly(t *testing.T) {
	cfg, err := config.Parse(strings.NewReader("plugins:\n  engine: wasmtime\n  chain:\n    - {name: a, path: a.wasm, fuel: 5000}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if hc := cfg.Plugins; hc.Plugins[0].Fuel != 5000 {
		t.Fatalf("host fuel = %d, want 5000", hc.Plugins[0].Fuel)
	}
	_, err = config.Parse(strings.NewReader("plugins:\n  chain:\n    - {name: a, path: a.wasm, fuel: 5000}\n"))
	if err == nil || !strings.Contains(err.Error(), "plugins.chain[0].fuel: only the wasmtime engine") {
		t.Fatalf("fuel with wazero: %v; want a config error naming the key", err)
	}
}

// A plugin's kv_max_bytes reaches the host.
func TestPluginKVMaxBytesReachesTheHost(t *testing.T) {
	cfg, err := config.Parse(strings.NewReader("plugins:\n  chain:\n    - {name: a, path: a.wasm, kv_max_bytes: 4MiB}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if hc := cfg.Plugins; hc.Plugins[0].KVMaxBytes != 4<<20 {
		t.Fatalf("host kv_max_bytes = %d, want %d", hc.Plugins[0].KVMaxBytes, 4<<20)
	}
}
