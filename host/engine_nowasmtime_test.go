//go:build !wasmtime

package host

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// Asking for wasmtime in a binary built without it says how to get it.
func TestWasmtimeWithoutTheTagIsAClearError(t *testing.T) {
	_, err := New(context.Background(), nopLog(), one(EngineWasmtime, "minimal", "testdata/minimal.wasm"))
	if !errors.Is(err, ErrEngineNotBuilt) || !strings.Contains(err.Error(), "build with -tags wasmtime") {
		t.Errorf("err = %v, want ErrEngineNotBuilt saying to build with -tags wasmtime", err)
	}
}
