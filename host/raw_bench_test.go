package host

import (
	"testing"
)

// BenchmarkRawExport calls plume_abi_version, a Go //go:wasmexport function
// that returns a constant, on an instance without any host machinery: the
// floor under every point's cost for a Go guest.
func BenchmarkRawExport(b *testing.B) {
	for _, name := range []string{"empty", "minimal"} {
		b.Run(name, func(b *testing.B) {
			path := "testdata/minimal.wasm"
			if name == "empty" {
				path = testPlugin(b, "empty")
			}
			p := benchHostPath(b, name, path)
			m := p.cur.Load()
			inst := idleInstances(m)[0]
			f := inst.mod.ExportedFunction(exportABIVersion)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := f.CallWithStack(inst.ctx, inst.stack[:]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
