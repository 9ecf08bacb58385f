// Package plugintest runs a built plugin (.wasm) without a broker, for plugin
// authors' tests and for `plume plugin call`. It goes through the real host:
// the same ABI check, sandbox, limits and chain rules as in the broker.
//
//	func TestDeniesAdmin(t *testing.T) {
//		p := plugintest.Load(t, plugintest.BuildGo(t, ".", "."), plugintest.Options{})
//		res, err := p.Authorize(&hooks.AuthzRequest{Client: &hooks.Client{ID: "c"}, Topic: "admin/x"})
//		...
//	}
package plugintest

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/host"
	"github.com/plumemq/plume/host/internal/wasmbuild"
)

// Options configure the plugin as the broker config's plugin section would.
type Options struct {
	// Engine runs the plugin: host.EngineWazero (the default) or, in a test
	// binary built with -tags wasmtime, host.EngineWasmtime.
	Engine      string
	Config      []byte
	MemoryPages uint32
	CallTimeout time.Duration
	PoolSize    int
	AllowFS     []string
	Env         map[string]string
}

// Plugin is a loaded plugin. Its methods call the plugin's points with
// context.Background and the plugin's own deadline.
type Plugin struct {
	host *host.Host
	p    *host.Plugin
	logs *LogBuffer
}

// Open loads the plugin at path. Close it when done.
func Open(ctx context.Context, path string, o Options) (*Plugin, error) {
	logs := &LogBuffer{}
	h, err := host.New(ctx, zerolog.New(logs).Level(zerolog.DebugLevel), host.Config{Engine: o.Engine, Plugins: []host.PluginConfig{{
		Name: "plugin", Path: path, Config: o.Config, MemoryPages: o.MemoryPages,
		CallTimeout: o.CallTimeout, PoolSize: max(o.PoolSize, 1), AllowFS: o.AllowFS, Env: o.Env,
	}}})
	if err != nil {
		return nil, err
	}
	return &Plugin{host: h, p: h.Plugin("plugin"), logs: logs}, nil
}

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
// `cargo build --release --target wasm32-wasi` and returns the .wasm path. It
// skips tb when no Rust toolchain with the wasm32-wasi target is installed.
func BuildRust(tb testing.TB, crateDir string) string {
	tb.Helper()
	return wasmbuild.Rust(tb, crateDir)
}

// Cleanup removes every .wasm that BuildGo and BuildRust built in this test
// process (they share a temporary directory); call it from TestMain after
// m.Run, or each test process leaves its builds behind.
func Cleanup() { wasmbuild.Cleanup() }

// Close releases the plugin's instances.
func (p *Plugin) Close() error { return p.host.Close(context.Background()) }

// Provides reports whether the plugin implements point.
func (p *Plugin) Provides(point hooks.Point) bool { return p.p.Provides(point) }

// Logs is everything the plugin logged (and wrote to stdout/stderr), one JSON
// object per line.
func (p *Plugin) Logs() string { return p.logs.String() }

// Traps counts the calls that trapped or overran their deadline.
func (p *Plugin) Traps() uint64 { return p.p.Traps() }

// Authenticate calls the plugin's authenticate point.
func (p *Plugin) Authenticate(req *hooks.AuthRequest) (hooks.AuthResult, error) {
	return p.p.Authenticate(context.Background(), req)
}

// Authorize calls the plugin's authorize point.
func (p *Plugin) Authorize(req *hooks.AuthzRequest) (hooks.AuthzResult, error) {
	return p.p.Authorize(context.Background(), req)
}

// OnPublish calls the plugin's on-publish point (if the topic matches its
// filters).
func (p *Plugin) OnPublish(c *hooks.Client, m *packets.Publish) (hooks.PublishResult, error) {
	return p.p.OnPublish(context.Background(), c, m)
}

// Transform calls the plugin's transform point on a copy of m and returns
// the result; m itself is left as it was.
func (p *Plugin) Transform(c *hooks.Client, m *packets.Publish) (*packets.Publish, error) {
	out := *m
	err := p.p.Transform(context.Background(), c, &out)
	return &out, err
}

// Connect and Disconnect send the lifecycle notifications.
func (p *Plugin) Connect(c *hooks.Client) { p.p.OnConnect(context.Background(), c) }

// Disconnect tells the plugin c has gone, with reason.
func (p *Plugin) Disconnect(c *hooks.Client, reason packets.ReasonCode) {
	p.p.OnDisconnect(context.Background(), c, reason)
}

// LogBuffer collects log output (a zerolog.Logger's writer) for assertions;
// safe for concurrent writes.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
