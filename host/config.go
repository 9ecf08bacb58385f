package host

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/plumemq/plume/core/hooks"
)

// PluginConfig is one plugin of the broker config's plugin list.
type PluginConfig struct {
	// Name identifies the plugin in logs, metrics and the chain; unique.
	Name string
	// Path is the .wasm file. The host watches it and reloads on change.
	// With Wasm set it is only a label for logs ("builtin:deny-all").
	Path string
	// Wasm, if set, is the module itself (a built-in, plugins/builtin):
	// it is loaded instead of reading Path, and nothing is watched.
	Wasm []byte
	// Config is handed verbatim to the plugin's init (plume_init / config_get).
	Config []byte
	// MemoryPages caps each instance's linear memory in 64 KiB pages
	// (default DefaultMemoryPages).
	MemoryPages uint32
	// CallTimeout is the deadline of one call (default DefaultCallTimeout); a
	// call still running then is cut off and its instance discarded.
	CallTimeout time.Duration
	// PoolSize is the number of instances, hence of calls that run at once
	// (default GOMAXPROCS).
	PoolSize int
	// OnError is the chain's failure policy for this plugin.
	OnError hooks.Failure
	// AllowFS lists host directories mounted read-only at the same path in the
	// guest. Empty (the default): no file system.
	AllowFS []string
	// Env is the guest's environment. Empty (the default): none.
	Env map[string]string
	// Fuel, with the wasmtime engine, is the fuel one call may burn (about
	// one unit per WebAssembly instruction executed); a call that runs out
	// fails with ErrFuel and its instance is discarded, as at a deadline.
	// 0 (the default) meters nothing. Init is not metered. The wazero engine
	// has no fuel: a non-zero Fuel there is a config error.
	Fuel uint64
	// KVMaxBytes caps the plugin's key-value store, shared by its instances:
	// the bytes of its keys and values together (default DefaultKVMaxBytes).
	// A kv_set or kv_add that would go over it is refused with TOO_LARGE.
	KVMaxBytes int64
}

// Config is the plugin section of the broker config.
type Config struct {
	// Engine runs the plugins: EngineWazero ("" means it too) or, in a binary
	// built with -tags wasmtime, EngineWasmtime. Reload cannot change it.
	Engine string
	// CacheDir holds compiled modules so that a restart does not recompile;
	// "" compiles in memory only.
	CacheDir string
	// Plugins form the chain, in this order.
	Plugins []PluginConfig
	// ReloadDebounce is how long a plugin file must stay quiet after a change
	// before it is reloaded (default DefaultReloadDebounce).
	ReloadDebounce time.Duration
	// OnReload, if set, is called after each attempt to reload a plugin from a
	// file change or Reload, with nil or the reason the old module stays.
	OnReload func(plugin string, err error)
}

// Defaults of PluginConfig and Config.
const (
	DefaultMemoryPages    = 1024 // 64 MiB
	DefaultCallTimeout    = 100 * time.Millisecond
	DefaultReloadDebounce = 50 * time.Millisecond
	DefaultKVMaxBytes     = 16 << 20 // 16 MiB
)

func (c *PluginConfig) withDefaults() PluginConfig {
	d := *c
	if d.MemoryPages == 0 {
		d.MemoryPages = DefaultMemoryPages
	}
	if d.CallTimeout == 0 {
		d.CallTimeout = DefaultCallTimeout
	}
	if d.PoolSize == 0 {
		d.PoolSize = runtime.GOMAXPROCS(0)
	}
	if d.KVMaxBytes == 0 {
		d.KVMaxBytes = DefaultKVMaxBytes
	}
	return d
}

// engine is c.Engine with the default filled in.
func (c *Config) engine() string {
	if c.Engine == "" {
		return EngineWazero
	}
	return c.Engine
}

func (c *Config) validate() error {
	switch c.engine() {
	case EngineWazero:
	case EngineWasmtime:
		if !wasmtimeBuilt {
			return fmt.Errorf("engine: %w", ErrEngineNotBuilt)
		}
	default:
		return fmt.Errorf("engine: %q is not %s or %s", c.Engine, EngineWazero, EngineWasmtime)
	}
	seen := map[string]bool{}
	for i, p := range c.Plugins {
		switch {
		case p.Name == "":
			return fmt.Errorf("plugins[%d].name: empty", i)
		case seen[p.Name]:
			return fmt.Errorf("plugins[%d].name: %q used twice", i, p.Name)
		case p.Path == "" && p.Wasm == nil:
			return fmt.Errorf("plugins[%d].path: empty", i)
		case p.PoolSize < 0:
			return fmt.Errorf("plugins[%d].pool_size: negative", i)
		case p.CallTimeout < 0:
			return fmt.Errorf("plugins[%d].call_timeout: negative", i)
		case p.KVMaxBytes < 0:
			return fmt.Errorf("plugins[%d].kv_max_bytes: negative", i)
		case p.MemoryPages > 65536:
			return fmt.Errorf("plugins[%d].memory_pages: %d exceeds 65536 (4 GiB)", i, p.MemoryPages)
		case p.Fuel != 0 && c.engine() != EngineWasmtime:
			return fmt.Errorf("plugins[%d].fuel: only the %s engine meters fuel", i, EngineWasmtime)
		}
		seen[p.Name] = true
	}
	return nil
}

// Errors callers may branch on.
var (
	// ErrABI reports a module that does not speak this host's ABI.
	ErrABI = errors.New("plugin ABI mismatch")
	// ErrDeadline reports a call cut off at its deadline.
	ErrDeadline = errors.New("plugin call exceeded its deadline")
	// ErrBusy reports a call that found every instance of the plugin busy
	// for the whole of its deadline (CallTimeout), and so never ran.
	ErrBusy = errors.New("every plugin instance stayed busy for the call deadline")
	// ErrTrap reports a call that trapped (panic, unreachable, out of memory).
	ErrTrap = errors.New("plugin trapped")
	// ErrFuel reports a call that ran out of PluginConfig.Fuel.
	ErrFuel = errors.New("plugin call ran out of fuel")
	// ErrPluginFailed reports a call the plugin itself answered with an error.
	ErrPluginFailed = errors.New("plugin returned an error")
)
