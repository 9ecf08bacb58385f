//go:build !wasmtime

package host

// This binary has no wasmtime engine: build with -tags wasmtime (and cgo) for
// one. Config.validate refuses EngineWasmtime before newWasmtimeEngine could
// be reached.

const wasmtimeBuilt = false

func newWasmtimeEngine(string) (engine, error) { return nil, ErrEngineNotBuilt }
