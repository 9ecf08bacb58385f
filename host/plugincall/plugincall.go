// Package plugincall loads a built plugin (.wasm) without a broker and calls
// its points: what `plume plugin call` runs, and what package plugintest
// builds its test helpers on. It goes through the real host: the same ABI
// check, sandbox, limits and chain rules as in the broker. It imports no test
// code, so the broker binary can link it.
package plugincall

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/host"
)

// Options configure the plugin as the broker config's plugin section would.
type Options struct {
	// Engine runs the plugin: host.EngineWazero (the default) or, in a
	// binary built with -tags wasmtime, host.EngineWasmtime.
	Engine      string
	Config      []byte
	MemoryPages uint32
	CallTimeout time.Duration
	PoolSize    int
	AllowFS     []string
	Env         map[string]string
	// Files lists the keys of Config that name data files, as a chain
	// entry's files (host.PluginConfig.Files): the plugin may read those
	// files and nothing beside them. Relative paths are relative to the
	// working folder.
	Files []string
	// BuiltinFiles is host.PluginConfig.BuiltinFiles: file keys that may be
	// absent, as a built-in declares them.
	BuiltinFiles []string
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
		Files: o.Files, BuiltinFiles: o.BuiltinFiles,
	}}})
	if err != nil {
		return nil, err
	}
	return &Plugin{host: h, p: h.Plugin("plugin"), logs: logs}, nil
}

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
