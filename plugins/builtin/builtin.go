// Package builtin is the registry of the plugins built into plume: Wasm
// modules embedded in the binary, which a chain entry names with
// `builtin: NAME` instead of a `path`. They run in the plugin host exactly as
// a plugin loaded from a file does (same ABI, limits, pool, failure policy);
// only where the bytes come from differs, and they are never watched for
// changes.
//
// Why embedded Wasm and not Go hooks (docs/decisions/0018-seams.md): a
// built-in is then an ordinary plugin, written with the SDKs our users have,
// tested through the same host, and one a user can copy, change and load
// from a file; the broker keeps one path for policy.
//
// Adding one (README.md here says more): its source in a folder
// plugins/NAME (a Go module whose main package is the plugin, or one .wat
// file), a README there (sections Syntax, Examples, Metrics, as CoreDNS's
// plugin READMEs), a row in registry below, then `make builtins`, which
// builds plugins/NAME into wasm/NAME.wasm, embedded here. A test checks that
// each embedded module is byte for byte what its source builds to.
package builtin

import (
	"embed"
	"slices"
)

// Plugin is a built-in plugin.
type Plugin struct {
	// Name is what a chain entry's builtin key names.
	Name string
	// Summary is one line for help and errors.
	Summary string
	// Wasm is the module, ABI v1 (plugin-sdk/ABI.md).
	Wasm []byte
	// Example is a config the plugin accepts (nil if it takes none): what
	// the registry's tests load it with, and a start for its README's.
	Example []byte
	// FileKeys are the keys of the plugin's config whose values name data
	// files it reads at init ("file", "jwks_file", or nested in lists and
	// objects: "rules[].schema_file"): the host gives the plugin those
	// files alone and reloads it when one changes
	// (host.PluginConfig.BuiltinFiles, docs/decisions/0023).
	FileKeys []string
}

// modules holds the built plugins, wasm/NAME.wasm for each row of registry
// (make builtins writes them).
//
//go:embed wasm/*.wasm
var modules embed.FS

// registry is every built-in, in one ordered place (CoreDNS's plugin.cfg is
// the model): what a binary ships can be read off this list. A row's Wasm is
// read from wasm/NAME.wasm when Lookup returns it.
var registry = []Plugin{
	{Name: "deny-all", Summary: "denies every connect, publish and subscribe that reaches it: put it last to close a chain"},
	{Name: "password-file", Summary: "authenticates CONNECT from a password file: Mosquitto's $7$ and $6$ (mosquitto_passwd), argon2id (plume passwd)", FileKeys: []string{"file"}},
	{Name: "rate-limit", Summary: "limits messages/s and bytes/s per client and per attribute, and connection attempts per client id and address (plugins/rate-limit)",
		Example: []byte(`{"per_client": {"messages_per_second": 10, "burst": 20, "bytes_per_second": 10000}, "connects_per_client_per_minute": 6}`)},
	{Name: "json-schema", Summary: "validates JSON payloads on topic filters against JSON Schema (2020-12 subset): refuses with 0x99 or moves to a dead-letter topic (plugins/json-schema)", FileKeys: []string{"rules[].schema_file"},
		Example: []byte(`{"rules": [{"filter": "sensors/#", "schema": {"type": "object"}}]}`)},
	{Name: "acl-file", Summary: "authorizes publish and subscribe from a Mosquitto acl_file and rules on client attributes (plugins/acl-file)", FileKeys: []string{"file"},
		Example: []byte(`{"rules": [{"allow": {"publish": ["x"]}}]}`)},
	{Name: "jwt", Summary: "authenticates with a JSON Web Token (password or enhanced auth JWT); claims become attributes, an acl claim answers publish and subscribe", FileKeys: []string{"jwks_file"}},
}

// Lookup returns the built-in called name, its module read on each call:
// embed.FS copies a file onto the heap, and reading every module at start-up
// kept ~21 MiB there in a broker that configured none of them. A row
// without its module is caught by the tests (every built-in loads in the
// host); the binary then refuses the name's config.
func Lookup(name string) (Plugin, bool) {
	i := slices.IndexFunc(registry, func(p Plugin) bool { return p.Name == name })
	if i < 0 {
		return Plugin{}, false
	}
	p := registry[i]
	p.Wasm, _ = modules.ReadFile("wasm/" + p.Name + ".wasm")
	return p, true
}

// Names lists the built-ins in registry order.
func Names() []string {
	names := make([]string, len(registry))
	for i, p := range registry {
		names[i] = p.Name
	}
	return names
}
