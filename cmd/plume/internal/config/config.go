// Package config reads plume.yaml. The file's sections are the components'
// own config structs — broker.Options for the broker's settings and limits,
// host.Config for the plugins — decoded straight into them: each component
// owns its keys (the `yaml` tags), its defaults and its rules (Validate).
// This package owns what only the binary knows (listeners, logging,
// allow_anonymous) and the file itself: errors name the key and the line
// (docs/decisions/0017-config-ownership.md).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/plumemq/plume/cluster/node"
	"github.com/plumemq/plume/cmd/plume/internal/gcpace"
	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/setting"
	"github.com/plumemq/plume/host"
	"github.com/plumemq/plume/ops"
	"github.com/plumemq/plume/ops/audit"
	"github.com/plumemq/plume/plugins/builtin"
	"github.com/plumemq/plume/store/disk"
	"github.com/plumemq/plume/transport"
)

// Config is the whole configuration file.
type Config struct {
	Listeners []Listener `yaml:"listeners"`
	Log       Log        `yaml:"log"`
	// AllowAnonymous admits clients that no plugin authenticated. Unset, it is
	// true only when every listener is on loopback: a default that depends on
	// the listeners, so the binary owns it rather than the broker.
	AllowAnonymous *bool `yaml:"allow_anonymous"`
	// Broker holds session_owner_mismatch, sys_interval and limits, at the
	// top level of the file, as the broker reads them.
	Broker broker.Options `yaml:",inline"`
	// Plugins is the Wasm plugin host and its chain (see plugin-sdk/ABI.md).
	Plugins host.Config `yaml:"plugins"`
	// Store keeps sessions and retained messages on disk (store/disk); nil
	// keeps them in memory only. --data-dir sets its path.
	Store *disk.Config `yaml:"store"`
	// HTTP is the operations endpoint (ops.Config): health, metrics, the
	// admin API, profiles. Off without an address; --http sets one.
	HTTP ops.Config `yaml:"http"`
	// Audit is the audit log (ops/audit); nil: none.
	Audit *audit.Config `yaml:"audit"`
	// GC paces the Go garbage collector in the broker process (gcpace).
	GC gcpace.Config `yaml:"gc"`
	// Cluster makes this broker a node of a Plume cluster on NATS
	// (cluster/node, decision 0053); nil: a broker on its own.
	Cluster *node.Config `yaml:"cluster"`
}

// Listener is one address the broker serves. Its keys, defaults and rules
// are the transport's (transport.Config); the binary adds the name default,
// the uniqueness of names and the resolution of relative file paths.
type Listener = transport.Config

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // trace, debug, info, warn, error
	Format string `yaml:"format"` // auto (console on a terminal, JSON otherwise), console, json
}

// Default is the configuration used without a file: one loopback TCP listener
// on the standard port, anonymous clients allowed there, as Mosquitto 2 does.
func Default() Config {
	return Config{
		Listeners: []Listener{{Name: "default", Type: "tcp", Address: "127.0.0.1:1883"}},
		Log:       Log{Level: "info", Format: "auto"},
	}
}

// Load reads and validates the file at path. Its errors are *Errors naming
// the file, joined: every one found (Errors splits them).
func Load(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, err
	}
	defer f.Close()
	cfg, err := Parse(f)
	if err != nil {
		return Config{}, inFile(path, err)
	}
	dir := filepath.Dir(path)
	for i := range cfg.Plugins.Plugins {
		p := &cfg.Plugins.Plugins[i]
		for _, p := range []*host.PluginConfig{p, shadowOf(p)} {
			if p == nil {
				continue
			}
			if p.Wasm == nil && !filepath.IsAbs(p.Path) {
				p.Path = filepath.Join(dir, p.Path)
			}
			if err := p.ResolveFiles(dir); err != nil {
				return Config{}, fmt.Errorf("%s: plugins.chain[%d]: %w", path, i, err) // Validate has checked them
			}
		}
	}
	if c := &cfg.Plugins; c.CacheDir != "" && !filepath.IsAbs(c.CacheDir) {
		c.CacheDir = filepath.Join(dir, c.CacheDir)
	}
	for i := range cfg.Listeners {
		l := &cfg.Listeners[i]
		for _, f := range []*string{&l.CertFile, &l.KeyFile, &l.ClientCAFile} {
			if *f != "" && !filepath.IsAbs(*f) {
				*f = filepath.Join(dir, *f)
			}
		}
	}
	if s := cfg.Store; s != nil && !filepath.IsAbs(s.Path) {
		s.Path = filepath.Join(dir, s.Path)
	}
	h := &cfg.HTTP
	files := []*string{&h.Auth.BearerTokenFile, &h.Auth.BasicAuthFile}
	if h.TLS != nil {
		files = append(files, &h.TLS.CertFile, &h.TLS.KeyFile, &h.TLS.ClientCAFile)
	}
	for _, f := range files {
		if *f != "" && !filepath.IsAbs(*f) {
			*f = filepath.Join(dir, *f)
		}
	}
	if a := cfg.Audit; a != nil && a.File != "" && !filepath.IsAbs(a.File) {
		a.File = filepath.Join(dir, a.File)
	}
	resolveClusterFiles(cfg.Cluster, dir)
	return cfg, nil
}

// inFile names path in each of err's errors.
func inFile(path string, err error) error {
	var errs []error
	for _, e := range Errors(err) {
		var ce *Error
		if errors.As(e, &ce) {
			c := *ce
			c.File = path
			errs = append(errs, &c)
		} else {
			errs = append(errs, fmt.Errorf("%s: %w", path, e))
		}
	}
	return errors.Join(errs...)
}

// Parse reads a configuration from r. Unknown keys, bad values and broken
// rules are *Errors that name the key and its line; every one found is
// returned, joined (Errors splits them).
func Parse(r io.Reader) (Config, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return Config{}, err
	}
	cfg := Config{Log: Log{Level: "info", Format: "auto"}}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Config{}, syntaxError(err, data)
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		doc = doc.Content[0]
	}
	var errs []error
	decoded := true
	if doc.Kind != 0 {
		// check reports what the decoder would, in the file's terms; the
		// decoder's own strictness stays as a second guard. After errors,
		// the decoder reads what it can, so that the rules are checked too.
		errs = check(doc, reflect.TypeOf(cfg), "")
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(len(errs) == 0)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			var te *yaml.TypeError
			if len(errs) == 0 {
				return Config{}, cleanYAMLError(err)
			}
			// A value's own refusal aborts the decoder half way: the rules
			// would then speak of keys it never reached.
			decoded = errors.As(err, &te)
		}
	}
	if len(cfg.Listeners) == 0 {
		cfg.Listeners = Default().Listeners
	}
	if decoded {
		for _, e := range Errors(cfg.Validate()) {
			if e = atLine(doc, e); !reported(errs, e) {
				errs = append(errs, e)
			}
		}
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return cfg, nil
}

// reported reports whether a rule's error e is about a key that errs
// already refused (a value that did not decode breaks rules too).
func reported(errs []error, e error) bool {
	var re *Error
	if !errors.As(e, &re) {
		return false
	}
	for _, x := range errs {
		var xe *Error
		if errors.As(x, &xe) && xe.Key != "" && (re.Key == xe.Key || strings.HasPrefix(re.Key, xe.Key+".") || strings.HasPrefix(re.Key, xe.Key+"[")) {
			return true
		}
	}
	return false
}

// Validate checks the rules: the binary's own here, the broker's and the
// host's by their Validate. Errors are *setting.Error with the key path,
// joined: every listener's, every section's, every chain entry's.
func (c *Config) Validate() error {
	var errs []error
	names := map[string]bool{}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		key := fmt.Sprintf("listeners[%d]", i)
		if l.Name == "" {
			l.Name = fmt.Sprintf("listener-%d", i)
		}
		if names[l.Name] {
			errs = append(errs, setting.Errorf(key+".name", "%q is used twice", l.Name))
		}
		names[l.Name] = true
		if err := l.Validate(); err != nil {
			errs = append(errs, setting.In(key, err))
		}
	}
	switch c.Log.Level {
	case "trace", "debug", "info", "warn", "error":
	default:
		errs = append(errs, setting.Errorf("log.level", "%q is not one of trace, debug, info, warn, error", c.Log.Level))
	}
	switch c.Log.Format {
	case "auto", "console", "json":
	default:
		errs = append(errs, setting.Errorf("log.format", "%q is not one of auto, console, json", c.Log.Format))
	}
	if err := c.Broker.Validate(); err != nil {
		errs = append(errs, err) // its keys are top-level: the section is inline
	}
	if c.Store != nil {
		if err := c.Store.Validate(); err != nil {
			errs = append(errs, setting.In("store", err))
		}
	}
	if err := c.HTTP.Validate(); err != nil {
		return setting.In("http", err)
	}
	if c.Audit != nil {
		if err := c.Audit.Validate(); err != nil {
			return setting.In("audit", err)
		}
	}
	if err := c.GC.Validate(); err != nil {
		errs = append(errs, setting.In("gc", err))
	}
	if err := c.validateCluster(); err != nil {
		errs = append(errs, setting.In("cluster", err))
	}
	if err := c.resolveBuiltins(); err != nil {
		errs = append(errs, setting.In("plugins", err))
	} else if err := c.Plugins.Validate(); err != nil {
		errs = append(errs, setting.In("plugins", err))
	}
	return errors.Join(errs...)
}

// LookupBuiltin finds a built-in plugin by name (plugins/builtin.Lookup).
// The binary's tests replace it to stand a test plugin in for a built-in.
var LookupBuiltin = builtin.Lookup

// resolveBuiltins gives each chain entry that names a built-in plugin its
// module and a label for logs: the registry (plugins/builtin) is the binary's
// to know, not the host's.
func (c *Config) resolveBuiltins() error {
	var errs []error
	for i := range c.Plugins.Plugins {
		p := &c.Plugins.Plugins[i]
		key := fmt.Sprintf("chain[%d]", i)
		if err := resolveBuiltin(p, key); err != nil {
			errs = append(errs, err)
		}
		if s := shadowOf(p); s != nil {
			if err := resolveBuiltin(s, key+".shadow"); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// resolveBuiltin resolves one chain entry (or shadow) written at key.
func resolveBuiltin(p *host.PluginConfig, key string) error {
	names := strings.Join(builtin.Names(), ", ")
	switch {
	case p.Wasm != nil:
		return nil // resolved by an earlier Validate
	case p.Builtin == "" && p.Path == "":
		return setting.Errorf(key+".path", "required (or builtin: one of %s)", names)
	case p.Builtin == "":
		return nil
	case p.Path != "":
		return setting.Errorf(key+".builtin", "give path or builtin, not both")
	}
	b, ok := LookupBuiltin(p.Builtin)
	if !ok {
		return setting.Errorf(key+".builtin", "%q is not a built-in plugin (%s)", p.Builtin, names)
	}
	p.Path, p.Wasm, p.BuiltinFiles = "builtin:"+p.Builtin, b.Wasm, b.FileKeys
	return nil
}

// shadowOf is the plugin of p's shadow, or nil.
func shadowOf(p *host.PluginConfig) *host.PluginConfig {
	if p.Shadow == nil {
		return nil
	}
	return &p.Shadow.PluginConfig
}
