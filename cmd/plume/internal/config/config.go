// Package config reads plume.yaml: one typed struct, defaults in one place,
// and errors that name the key and the line.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/plugins/builtin"
	"github.com/plumemq/plume/transport"
)

// Config is the whole configuration file.
type Config struct {
	Listeners []Listener `yaml:"listeners"`
	Log       Log        `yaml:"log"`
	// AllowAnonymous admits clients that no plugin authenticated. Unset, it is
	// true only when every listener is on loopback.
	AllowAnonymous *bool `yaml:"allow_anonymous"`
	// SessionOwnerMismatch is what a client gets that connects with the client
	// id of a session another identity owns: refuse (the default) or fresh.
	SessionOwnerMismatch OwnerMismatch `yaml:"session_owner_mismatch"`
	SysInterval          Duration      `yaml:"sys_interval"`
	Limits               Limits        `yaml:"limits"`
	// Plugins is the Wasm plugin chain (see plugin-sdk/ABI.md).
	Plugins Plugins `yaml:"plugins"`
}

// Plugins configures the Wasm plugin host.
type Plugins struct {
	// Engine runs the plugins: wazero (the default, pure Go) or wasmtime, in a
	// binary built with -tags wasmtime. Changing it needs a restart.
	Engine Engine `yaml:"engine"`
	// CacheDir keeps compiled modules so that a restart does not recompile;
	// "" compiles in memory only.
	CacheDir string `yaml:"cache_dir"`
	// Chain lists the plugins in the order the broker calls them.
	Chain []Plugin `yaml:"chain"`
}

// Plugin is one plugin of the chain.
type Plugin struct {
	Name string `yaml:"name"`
	Path string `yaml:"path"` // the .wasm file, watched for changes; relative to the config file
	// Builtin names a plugin built into plume (plugins/builtin) instead of a
	// Path: one of the two, not both.
	Builtin string `yaml:"builtin"`
	// Config is handed to the plugin's init, which may refuse it: a string
	// verbatim, a mapping or list as JSON.
	Config      PluginConfig `yaml:"config"`
	MemoryPages uint32       `yaml:"memory_pages"` // 64 KiB pages per instance
	CallTimeout Duration     `yaml:"call_timeout"` // deadline of one call
	PoolSize    int          `yaml:"pool_size"`    // instances, i.e. calls at once
	// Fuel bounds the instructions one call may run (wasmtime engine only;
	// 0, the default, meters nothing): a deterministic limit beside the deadline.
	Fuel uint64 `yaml:"fuel"`
	// KVMaxBytes caps the plugin's key-value store, keys and values together
	// (0: the host's default, 16 MiB).
	KVMaxBytes ByteSize `yaml:"kv_max_bytes"`
	// OnError: what a failed call means. auth: fail-closed (deny, the default)
	// or fail-open (ask the next plugin); message: fail-open (deliver
	// unchanged, the default) or fail-closed (reject / drop).
	OnError OnError           `yaml:"on_error"`
	AllowFS []string          `yaml:"allow_fs"` // host directories mounted read-only; none by default
	Env     map[string]string `yaml:"env"`      // guest environment; none by default
}

// PluginConfig is the bytes a plugin's init receives.
type PluginConfig []byte

// UnmarshalYAML keeps a string as it is and turns a mapping or a list into
// JSON, so a plugin that reads JSON can be configured in the broker's YAML.
func (c *PluginConfig) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*c = PluginConfig(n.Value)
		return nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("line %d: plugin config cannot be written as JSON: %w", n.Line, err)
	}
	*c = b
	return nil
}

// QueueFull is broker.QueueFullPolicy as the file spells it.
type QueueFull broker.QueueFullPolicy

// UnmarshalYAML accepts what broker.ParseQueueFullPolicy does.
func (q *QueueFull) UnmarshalYAML(n *yaml.Node) error {
	v, err := broker.ParseQueueFullPolicy(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: limits.queue_full: %w", n.Line, err)
	}
	*q = QueueFull(v)
	return nil
}

// Engine is the name of a plugin engine.
type Engine string

// UnmarshalYAML accepts the engines the host knows. Whether this binary was
// built with the one named is the host's to say (host.ErrEngineNotBuilt).
func (e *Engine) UnmarshalYAML(n *yaml.Node) error {
	switch n.Value {
	case "wazero", "wasmtime":
		*e = Engine(n.Value)
		return nil
	}
	return fmt.Errorf("line %d: plugins.engine: %q is not wazero or wasmtime", n.Line, n.Value)
}

// OnError is a plugin's failure policy.
type OnError struct {
	Auth    Policy `yaml:"auth"`
	Message Policy `yaml:"message"`
}

// Policy is fail-open or fail-closed.
type Policy string

// UnmarshalYAML accepts fail-open and fail-closed.
func (p *Policy) UnmarshalYAML(n *yaml.Node) error {
	switch n.Value {
	case "fail-open", "fail-closed":
		*p = Policy(n.Value)
		return nil
	}
	return fmt.Errorf("line %d: %q is not fail-open or fail-closed", n.Line, n.Value)
}

// OwnerMismatch is broker.OwnerMismatch as the file spells it.
type OwnerMismatch broker.OwnerMismatch

// UnmarshalYAML accepts what broker.ParseOwnerMismatch does.
func (m *OwnerMismatch) UnmarshalYAML(n *yaml.Node) error {
	v, err := broker.ParseOwnerMismatch(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: session_owner_mismatch: %w", n.Line, err)
	}
	*m = OwnerMismatch(v)
	return nil
}

// Listener is one address the broker serves.
type Listener struct {
	Name    string `yaml:"name"`
	Type    string `yaml:"type"` // a transport type (transport.Types); "" is tcp
	Address string `yaml:"address"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // trace, debug, info, warn, error
	Format string `yaml:"format"` // auto (console on a terminal, JSON otherwise), console, json
}

// Limits mirrors broker.Limits; zero means the broker's default.
type Limits struct {
	MaxPacketSize        uint32   `yaml:"max_packet_size"`
	MaxTopicLength       int      `yaml:"max_topic_length"`
	MaxTopicLevels       int      `yaml:"max_topic_levels"`
	MaxSubscriptions     int      `yaml:"max_subscriptions"`
	MaxInflight          uint16   `yaml:"max_inflight"`
	MaxQueued            int      `yaml:"max_queued"`
	MaxWriteBuffer       int      `yaml:"max_write_buffer"`
	MaxKeepAlive         uint16   `yaml:"max_keep_alive"`
	MaxSessionExpiry     uint32   `yaml:"max_session_expiry"`
	TopicAliasMaximum    uint16   `yaml:"topic_alias_maximum"`
	OutboundTopicAliases bool     `yaml:"outbound_topic_aliases"`
	MaxClientIDLength    int      `yaml:"max_client_id_length"`
	ConnectTimeout       Duration `yaml:"connect_timeout"`
	WriteTimeout         Duration `yaml:"write_timeout"`
	// Read path (docs/decisions/0010-read-path.md).
	MaxConnectSize        uint32   `yaml:"max_connect_size"`
	PacketReadTimeout     Duration `yaml:"packet_read_timeout"`
	MaxPartialPacketBytes int64    `yaml:"max_partial_packet_bytes"`
	DrainAfterDisconnect  Duration `yaml:"drain_after_disconnect"`
	MaxQoS                *QoS     `yaml:"max_qos"`
	RetainAvailable       *bool    `yaml:"retain_available"`
	// Queue and memory bounds (docs/decisions/0013-queue-budgets.md).
	MaxQueuedBytes      ByteSize `yaml:"max_queued_bytes"`
	MaxQueuedBytesTotal ByteSize `yaml:"max_queued_bytes_total"`
	SlowConsumerTimeout Duration `yaml:"slow_consumer_timeout"`

	QueueFull QueueFull `yaml:"queue_full"` // drop (default) or backpressure (docs/decisions/0012)
}

// Default is the configuration used without a file: one loopback TCP listener
// on the standard port, anonymous clients allowed there, as Mosquitto 2 does.
func Default() Config {
	return Config{
		Listeners: []Listener{{Name: "default", Type: "tcp", Address: "127.0.0.1:1883"}},
		Log:       Log{Level: "info", Format: "auto"},
	}
}

// Load reads and validates the file at path.
func Load(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, err
	}
	defer f.Close()
	cfg, err := Parse(f)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	dir := filepath.Dir(path)
	for i := range cfg.Plugins.Chain {
		if p := &cfg.Plugins.Chain[i]; p.Path != "" && !filepath.IsAbs(p.Path) {
			p.Path = filepath.Join(dir, p.Path)
		}
	}
	if c := &cfg.Plugins; c.CacheDir != "" && !filepath.IsAbs(c.CacheDir) {
		c.CacheDir = filepath.Join(dir, c.CacheDir)
	}
	return cfg, nil
}

// Parse reads a configuration from r. Unknown keys and bad values are errors
// that name the key and its line.
func Parse(r io.Reader) (Config, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return Config{}, err
	}
	cfg := Config{Log: Log{Level: "info", Format: "auto"}}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, cleanYAMLError(err)
	}
	if len(cfg.Listeners) == 0 {
		cfg.Listeners = Default().Listeners
	}
	return cfg, cfg.Validate()
}

// Validate checks what the types alone cannot.
func (c *Config) Validate() error {
	names := map[string]bool{}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		if l.Name == "" {
			l.Name = fmt.Sprintf("listener-%d", i)
		}
		if names[l.Name] {
			return fmt.Errorf("listeners[%d].name: %q is used twice", i, l.Name)
		}
		names[l.Name] = true
		tc := transport.Config{Name: l.Name, Type: l.Type, Address: l.Address}
		if err := tc.Validate(); err != nil {
			return fmt.Errorf("listeners[%d].%w", i, err)
		}
		l.Type = tc.Type
	}
	switch c.Log.Level {
	case "trace", "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level: %q is not one of trace, debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "auto", "console", "json":
	default:
		return fmt.Errorf("log.format: %q is not one of auto, console, json", c.Log.Format)
	}
	names = map[string]bool{}
	for i, p := range c.Plugins.Chain {
		switch {
		case p.Name == "":
			return fmt.Errorf("plugins.chain[%d].name: required", i)
		case names[p.Name]:
			return fmt.Errorf("plugins.chain[%d].name: %q is used twice", i, p.Name)
		case p.Path == "" && p.Builtin == "":
			return fmt.Errorf("plugins.chain[%d].path: required (or builtin: one of %s)", i, strings.Join(builtin.Names(), ", "))
		case p.Path != "" && p.Builtin != "":
			return fmt.Errorf("plugins.chain[%d].builtin: give path or builtin, not both", i)
		case p.Builtin != "" && !isBuiltin(p.Builtin):
			return fmt.Errorf("plugins.chain[%d].builtin: %q is not a built-in plugin (%s)", i, p.Builtin, strings.Join(builtin.Names(), ", "))
		case p.PoolSize < 0:
			return fmt.Errorf("plugins.chain[%d].pool_size: must not be negative", i)
		case p.Fuel != 0 && c.Plugins.Engine != "wasmtime":
			return fmt.Errorf("plugins.chain[%d].fuel: only the wasmtime engine meters fuel (plugins.engine: wasmtime)", i)
		case p.KVMaxBytes < 0:
			return fmt.Errorf("plugins.chain[%d].kv_max_bytes: must not be negative", i)
		case p.MemoryPages > 65536:
			return fmt.Errorf("plugins.chain[%d].memory_pages: %d is over 65536 (4 GiB)", i, p.MemoryPages)
		}
		names[p.Name] = true
	}
	if c.Limits.PacketReadTimeout < 0 {
		return errors.New("limits.packet_read_timeout: must not be negative (use 0 for the default)")
	}
	if c.Limits.MaxPartialPacketBytes < 0 {
		return errors.New("limits.max_partial_packet_bytes: must not be negative (use 0 for the default)")
	}
	if c.SysInterval < 0 {
		return errors.New("sys_interval: must not be negative (use 0 for the default)")
	}
	if l := c.Limits; l.MaxQueuedBytes > 0 && l.MaxQueuedBytesTotal > 0 && l.MaxQueuedBytesTotal < l.MaxQueuedBytes {
		return fmt.Errorf("limits.max_queued_bytes_total: %d is below limits.max_queued_bytes (%d): one session could never fill its own queue",
			l.MaxQueuedBytesTotal, l.MaxQueuedBytes)
	}
	return nil
}

func isBuiltin(name string) bool {
	_, ok := builtin.Lookup(name)
	return ok
}

// cleanYAMLError drops the library's prefix so the message starts at the line.
func cleanYAMLError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	return errors.New(strings.ReplaceAll(msg, "\n  ", "; "))
}

// Duration is a time.Duration written as "10s", "1m30s".
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 10s or 1m", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// QoS is a quality-of-service level, 0 to 2.
type QoS byte

// UnmarshalYAML accepts 0, 1 or 2.
func (q *QoS) UnmarshalYAML(n *yaml.Node) error {
	switch n.Value {
	case "0", "1", "2":
		*q = QoS(n.Value[0] - '0')
		return nil
	}
	return fmt.Errorf("line %d: %q is not a QoS (0, 1 or 2)", n.Line, n.Value)
}
