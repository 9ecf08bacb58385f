package host

import (
	"context"
	"strings"
	"testing"
)

// Config errors about engines name the key and what was asked for.
func TestEngineConfigErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Engine: "v8"}, `engine: "v8" is not wazero or wasmtime`},
		{Config{Plugins: []PluginConfig{{Name: "a", Path: "testdata/minimal.wasm", Fuel: 1000}}},
			"chain[0].fuel: only the wasmtime engine meters fuel"},
	} {
		_, err := New(context.Background(), nopLog(), tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want it to contain %q", tc.cfg, err, tc.want)
		}
	}
}

// Engines lists wazero first: it is the default.
func TestWazeroIsTheDefaultEngine(t *testing.T) {
	if e := Engines(); len(e) == 0 || e[0] != EngineWazero {
		t.Errorf("Engines() = %v, want wazero first", e)
	}
	if (&Config{}).engine() != EngineWazero {
		t.Errorf("an empty Config.Engine is not wazero")
	}
}
