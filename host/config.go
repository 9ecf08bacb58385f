package host

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/plumemq/plume/core/setting"
)

// PluginConfig is one plugin of the chain: an entry of plume.yaml's
// plugins.chain, whose keys are the `yaml` tags. Zero values are the
// defaults; Config.Validate states the rules (docs/decisions/0017).
type PluginConfig struct {
	// Name identifies the plugin in logs, metrics and the chain; unique.
	Name string `yaml:"name"`
	// Path is the .wasm file. The host watches it and reloads on change.
	// With Wasm set it is only a label for logs ("builtin:deny-all").
	Path string `yaml:"path"`
	// Builtin names a plugin shipped in the binary (plugins/builtin) instead
	// of a Path; the binary resolves it into Wasm before New.
	Builtin string `yaml:"builtin"`
	// Wasm, if set, is the module itself (a built-in): it is loaded instead
	// of reading Path, and nothing is watched.
	Wasm []byte `yaml:"-"`
	// Config is handed to the plugin's init (plume_init / config_get) as it
	// is written, except the values of its file keys (Files, BuiltinFiles),
	// which name the path where the plugin finds the file.
	Config ConfigBytes `yaml:"config"`
	// Files lists the keys of Config (a JSON object) whose values are paths
	// of data files the plugin reads at init: a password file, an ACL. The
	// host gives the plugin read access to those files alone (a snapshot
	// mounted read-only at the same path) and reloads the plugin when one
	// changes. A key may name values nested in lists and objects:
	// "rules[].schema_file" is the schema_file of each element of rules
	// (host/filekeys.go). Each key's first segment must be in Config, and
	// each value it names must be a path. A built-in declares its own
	// (BuiltinFiles) and takes no Files.
	Files []string `yaml:"files"`
	// BuiltinFiles lists the keys of Config that name files for a built-in
	// plugin, as its row in plugins/builtin declares them; the binary fills
	// it in, in the notation of Files. A key absent from Config is an
	// optional file not given.
	BuiltinFiles []string `yaml:"-"`
	// MemoryPages caps each instance's linear memory in 64 KiB pages
	// (default DefaultMemoryPages).
	MemoryPages uint32 `yaml:"memory_pages"`
	// CallTimeout is the deadline of one call (default DefaultCallTimeout); a
	// call still running then is cut off and its instance discarded.
	CallTimeout time.Duration `yaml:"call_timeout"`
	// PoolSize is the number of instances, hence of calls that run at once
	// (default GOMAXPROCS).
	PoolSize int `yaml:"pool_size"`
	// OnError is the chain's failure policy for this plugin.
	OnError OnError `yaml:"on_error"`
	// AllowFS lists host directories mounted read-only at the same path in the
	// guest. Empty (the default): no file system.
	AllowFS []string `yaml:"allow_fs"`
	// Env is the guest's environment. Empty (the default): none.
	Env map[string]string `yaml:"env"`
	// Fuel, with the wasmtime engine, is the fuel one call may burn (about
	// one unit per WebAssembly instruction executed); a call that runs out
	// fails with ErrFuel and its instance is discarded, as at a deadline.
	// 0 (the default) meters nothing. Init is not metered. The wazero engine
	// has no fuel: a non-zero Fuel there is a config error.
	Fuel uint64 `yaml:"fuel"`
	// KVMaxBytes caps the plugin's key-value store, shared by its instances:
	// the bytes of its keys and values together (default DefaultKVMaxBytes).
	// A kv_set or kv_add that would go over it is refused with TOO_LARGE.
	KVMaxBytes setting.ByteSize `yaml:"kv_max_bytes"`
	// Shadow, if set, is a candidate that receives the same events as this
	// plugin and whose answers are compared, counted and logged but never
	// applied (shadow.go, docs/decisions/0028-shadow-plugins.md).
	Shadow *ShadowConfig `yaml:"shadow"`
}

// Config is the plugin section of the broker config (plume.yaml's plugins).
type Config struct {
	// Engine runs the plugins: EngineWazero ("" means it too) or, in a binary
	// built with -tags wasmtime, EngineWasmtime. Reload cannot change it.
	Engine string `yaml:"engine"`
	// CacheDir holds compiled modules so that a restart does not recompile;
	// "" compiles in memory only.
	CacheDir string `yaml:"cache_dir"`
	// Plugins form the chain, in this order.
	Plugins []PluginConfig `yaml:"chain"`
	// ReloadDebounce is how long a plugin file must stay quiet after a change
	// before it is reloaded (default DefaultReloadDebounce).
	ReloadDebounce time.Duration `yaml:"-"`
	// OnReload, if set, is called after each attempt to reload a plugin from a
	// file change or Reload, with nil or the reason the old module stays.
	OnReload func(plugin string, err error) `yaml:"-"`
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

// Validate reports the settings that break a rule of the host, as
// *setting.Errors naming their keys as plume.yaml spells them under plugins
// ("chain[0].call_timeout"): the first of each chain entry, joined
// (errors.Join), so that `plume check` can list them all. New and Reload call it; the broker binary calls
// it when it reads its file, so that every rule is written here once. Whether
// this binary has the engine named is New's to say (ErrEngineNotBuilt): it is
// a fact about the binary, not about the config.
func (c *Config) Validate() error {
	switch c.engine() {
	case EngineWazero, EngineWasmtime:
	default:
		return setting.Errorf("engine", "%q is not %s or %s", c.Engine, EngineWazero, EngineWasmtime)
	}
	seen := map[string]bool{}
	var errs []error
	for i, p := range c.Plugins {
		if err := p.validate(c.engine(), seen); err != nil {
			errs = append(errs, setting.In(fmt.Sprintf("chain[%d]", i), err))
		}
		seen[p.Name] = true
		if p.Shadow != nil {
			seen[shadowName(p.Name)] = true
		}
	}
	return errors.Join(errs...)
}

// validate checks one chain entry; seen holds the names of those before it.
func (p *PluginConfig) validate(engine string, seen map[string]bool) error {
	const notNegative = "must not be negative (use 0 for the default)"
	switch {
	case p.Name == "":
		return setting.Errorf("name", "required")
	case seen[p.Name]:
		return setting.Errorf("name", "%q is used twice", p.Name)
	case p.Path != "" && p.Builtin != "" && p.Wasm == nil:
		return setting.Errorf("builtin", "give path or builtin, not both")
	case p.Path == "" && p.Builtin == "" && p.Wasm == nil:
		return setting.Errorf("path", "required (or builtin: NAME)")
	case p.Builtin != "" && p.Wasm == nil:
		return setting.Errorf("builtin", "%q is not resolved to a module (the binary resolves built-ins before the host loads them)", p.Builtin)
	case p.PoolSize < 0:
		return setting.Errorf("pool_size", notNegative)
	case p.CallTimeout < 0:
		return setting.Errorf("call_timeout", notNegative)
	case p.KVMaxBytes < 0:
		return setting.Errorf("kv_max_bytes", notNegative)
	case p.MemoryPages > 65536:
		return setting.Errorf("memory_pages", "%d is over 65536 (4 GiB)", p.MemoryPages)
	case p.Fuel != 0 && engine != EngineWasmtime:
		return setting.Errorf("fuel", "only the %s engine meters fuel (engine: %s)", EngineWasmtime, EngineWasmtime)
	}
	if err := p.validateFiles(); err != nil {
		return err
	}
	if err := setting.In("on_error", p.OnError.validate()); err != nil {
		return err
	}
	return setting.In("shadow", p.Shadow.validate(engine, p.Name, seen))
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
