//go:build wasmtime

package host

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/plumemq/plume/core/hooks"
)

// With fuel, an endless loop stops when its budget is spent, long before a
// generous deadline; the instance is replaced and the next call is served.
func TestFuelCutsOffALoopBeforeTheDeadline(t *testing.T) {
	cfg := one(EngineWasmtime, "hostile", testPlugin(t, "hostile"))
	cfg.Plugins[0].CallTimeout = 30 * time.Second
	cfg.Plugins[0].Fuel = 50_000_000
	h, logs := startHost(t, cfg)
	start := time.Now()
	_, err := authorizeDirect(h, "hostile", "loop")
	if !errors.Is(err, ErrFuel) {
		t.Fatalf("loop: err = %v, want ErrFuel\n%s", err, logs)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("fuel ran out after %s; want well before the 30s deadline", took)
	}
	if res, err := authorizeDirect(h, "hostile", "fine"); err != nil || res.Verdict != hooks.Allow {
		t.Errorf("after the loop: %v, %v; want allow (a fine call fits the budget)", res.Verdict, err)
	}
	if n := h.Plugin("hostile").Traps(); n != 1 {
		t.Errorf("traps = %d, want 1", n)
	}
}

// The engine is chosen at start: a Reload asking for another reports that it
// needs a restart, and the plugins keep serving on the engine they have.
func TestReloadKeepsTheEngine(t *testing.T) {
	h, _ := startHost(t, one(EngineWasmtime, "minimal", "testdata/minimal.wasm"))
	cfg := h.cfg
	cfg.Engine = EngineWazero
	err := h.Reload(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "changing wasmtime to wazero needs a restart") {
		t.Errorf("Reload to wazero: %v, want an error saying it needs a restart", err)
	}
	if _, ok := h.Plugin("minimal").cur.Load().code.(*wasmtimeModule); !ok {
		t.Errorf("the plugin left the wasmtime engine")
	}
	if res, err := authorizeDirect(h, "minimal", "x"); err != nil || res.Verdict != hooks.Allow {
		t.Errorf("after Reload: %v, %v; want allow", res.Verdict, err)
	}
}
