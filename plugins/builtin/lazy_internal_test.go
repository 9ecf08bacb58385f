package builtin

import "testing"

// The registry must not hold the modules: every byte of them read at
// start-up stays on the heap of a broker that may configure none (~21 MiB
// for the six built-ins), and the garbage collector paces itself on it.
func TestRegistryHoldsNoModuleUntilLookedUp(t *testing.T) {
	for _, p := range registry {
		if p.Wasm != nil {
			t.Errorf("registry row %s holds %d bytes of module before any lookup", p.Name, len(p.Wasm))
		}
		got, ok := Lookup(p.Name)
		if !ok || len(got.Wasm) == 0 {
			t.Errorf("Lookup(%s) = %d bytes, %v; want the embedded module", p.Name, len(got.Wasm), ok)
		}
	}
	for _, p := range registry {
		if p.Wasm != nil {
			t.Errorf("Lookup kept %s's module in the registry", p.Name)
		}
	}
}
