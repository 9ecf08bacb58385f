// Package plugintest runs a built plugin (.wasm) without a broker, for plugin
// authors' tests. It goes through the real host: the same ABI check, sandbox,
// limits and chain rules as in the broker. The runner itself is package
// plugincall (which `plume plugin call` uses, linking no test code); this
// package adds what needs package testing: Load, and building plugins.
//
//	func TestDeniesAdmin(t *testing.T) {
//		p := plugintest.Load(t, plugintest.BuildGo(t, ".", "."), plugintest.Options{})
//		res, err := p.Authorize(&hooks.AuthzRequest{Client: &hooks.Client{ID: "c"}, Topic: "admin/x"})
//		...
//	}
package plugintest

import (
	"context"
	"testing"

	"github.com/plumemq/plume/host/internal/wasmbuild"
	"github.com/plumemq/plume/host/plugincall"
)

// The runner's types, under the names plugin tests have always used.
type (
	// Options configure the plugin as the broker config's plugin section would.
	Options = plugincall.Options
	// Plugin is a loaded plugin.
	Plugin = plugincall.Plugin
	// LogBuffer collects log output for assertions.
	LogBuffer = plugincall.LogBuffer
	// Event is one call described as data (see plugincall.Event).
	Event = plugincall.Event
	// EventClient is the client of an Event.
	EventClient = plugincall.EventClient
	// TransformOutput is the message a transform produced.
	TransformOutput = plugincall.TransformOutput
)

// Open loads the plugin at path. Close it when done.
func Open(ctx context.Context, path string, o Options) (*Plugin, error) {
	return plugincall.Open(ctx, path, o)
}

// ParseEvent decodes an Event from JSON, refusing unknown keys.
func ParseEvent(b []byte) (Event, error) { return plugincall.ParseEvent(b) }

// Load is Open for tests: it fails tb on error and closes the plugin when the
// test ends.
func Load(tb testing.TB, path string, o Options) *Plugin {
	tb.Helper()
	p, err := Open(context.Background(), path, o)
	if err != nil {
		tb.Fatalf("load plugin %s: %v", path, err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

// BuildGo builds the Go plugin package pkg of the module in moduleDir with
// GOOS=wasip1 GOARCH=wasm -buildmode=c-shared and returns the .wasm path.
// Builds are shared within a test process.
func BuildGo(tb testing.TB, moduleDir, pkg string) string {
	tb.Helper()
	return wasmbuild.Go(tb, moduleDir, pkg)
}

// BuildRust builds the Rust plugin crate in crateDir with
// `cargo build --release --target T` and returns the .wasm path, T being
// wasm32-wasi with Debian's Rust 1.63 and wasm32-wasip1 with rustup's (1.78
// and later), whichever has its standard library installed. It skips tb
// when no such toolchain is installed.
func BuildRust(tb testing.TB, crateDir string) string {
	tb.Helper()
	return wasmbuild.Rust(tb, crateDir)
}

// Cleanup removes every .wasm that BuildGo and BuildRust built in this test
// process (they share a temporary directory); call it from TestMain after
// m.Run, or each test process leaves its builds behind.
func Cleanup() { wasmbuild.Cleanup() }
