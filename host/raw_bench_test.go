package host

import (
	"math"
	"testing"
)

// BenchmarkRawExport calls plume_abi_version, a Go //go:wasmexport function
// that returns a constant, on a wazero instance through the engine seam only
// (no pool, call state or deadline bookkeeping): the floor under every point's
// cost for a Go guest. BenchmarkEngine has the same per engine.
func BenchmarkRawExport(b *testing.B) {
	for _, name := range []string{"empty", "minimal"} {
		b.Run(name, func(b *testing.B) {
			path := "testdata/minimal.wasm"
			if name == "empty" {
				path = testPlugin(b, "empty")
			}
			runRaw(b, benchHostPath(b, name, path))
		})
	}
}

func runRaw(b *testing.B, p *Plugin) {
	inst := idleInstances(p.cur.Load())[0]
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := inst.g.call(fnABIVersion, inst.stack[:], math.MaxInt64); err != nil {
			b.Fatal(err)
		}
	}
}
