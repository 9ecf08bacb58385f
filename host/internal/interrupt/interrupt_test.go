package interrupt

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// wat reads a module compiled from testdata/*.wat by wat2wasm.
func wat(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestInstrumentedLoopIsCutOff(t *testing.T) {
	for _, name := range []string{"spin.wasm", "spin_globals.wasm"} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			bin, err := Instrument(wat(t, name))
			if err != nil {
				t.Fatal(err)
			}
			rt := wazero.NewRuntime(ctx)
			defer rt.Close(ctx)
			mod, err := rt.Instantiate(ctx, bin)
			if err != nil {
				t.Fatal(err)
			}
			g, ok := mod.ExportedGlobal(Export).(api.MutableGlobal)
			if !ok {
				t.Fatalf("no mutable global %s exported", Export)
			}
			// An uninterrupted call returns normally (spin(0) does not loop).
			if res, err := mod.ExportedFunction("spin").Call(ctx, 0); err != nil || res[0] != 0 {
				t.Fatalf("spin(0) = %v, %v", res, err)
			}
			done := make(chan error)
			go func() {
				_, err := mod.ExportedFunction("spin").Call(ctx, 1)
				done <- err
			}()
			select {
			case err := <-done:
				t.Fatalf("spin(1) returned early: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
			// The looping guest must not stall a stop-the-world.
			gc := make(chan struct{})
			go func() { runtime.GC(); close(gc) }()
			select {
			case <-gc:
			case <-time.After(5 * time.Second):
				t.Fatal("runtime.GC stalled by a looping guest")
			}
			g.Set(1)
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), "unreachable") {
					t.Fatalf("spin(1) after interrupt: %v, want an unreachable trap", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("interrupt did not stop the loop")
			}
		})
	}
}

func TestInstrumentRefusesWhatItCannotRead(t *testing.T) {
	for _, tc := range []struct {
		name string
		bin  []byte
	}{
		{"not wasm", []byte("hello world")},
		{"truncated", wat(t, "spin.wasm")[:19]},
		{"simd", wat(t, "simd.wasm")},
	} {
		if _, err := Instrument(tc.bin); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: err = %v, want ErrUnsupported", tc.name, err)
		}
	}
}
