package config

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/plumemq/plume/plugins/builtin"
)

// Every error reads in the file's terms: the line, the key path as the user
// wrote it, what was wrong. Each rule has one owner (the broker's limits,
// the host's chain entries), so a value is refused once, at load, with the
// key the user wrote; before, call_timeout: -1s passed here and the host
// refused it later as "plugins[0].call_timeout: negative".
func TestErrorsNameTheKeyPathAndLine(t *testing.T) {
	const chain = "plugins:\n  chain:\n    - name: a\n      path: a.wasm\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"negative call timeout (the drift)", chain + "      call_timeout: -1s\n",
			"line 5: plugins.chain[0].call_timeout: must not be negative (use 0 for the default)"},
		{"unknown key in a chain entry", chain + "      call_timout: 1s\n",
			`line 5: plugins.chain[0]: unknown key "call_timout"; did you mean call_timeout?`},
		{"unknown key at the top", "log: {level: info}\nlimts: {}\n", `line 2: unknown key "limts"; did you mean limits?`},
		{"negative duration in limits", "sys_interval: 5s\nlimits:\n  max_qos: 1\n  packet_read_timeout: -1s\n",
			"line 4: limits.packet_read_timeout: must not be negative (use 0 for the default)"},
		{"negative connect timeout", "limits:\n  connect_timeout: -10s\n",
			"line 2: limits.connect_timeout: must not be negative (use 0 for the default)"},
		{"bad size in limits", "limits:\n  max_queued: 10\n  max_queued_bytes: 64MB\n",
			`line 3: limits.max_queued_bytes: "64MB" is not a size like 1048576, 512KiB or 64MiB`},
		{"number out of range", "limits:\n  max_inflight: 70000\n",
			`line 2: limits.max_inflight: "70000" is not a whole number from 0 to 65535`},
		{"bad policy", chain + "      on_error:\n        auth: maybe\n",
			`line 6: plugins.chain[0].on_error.auth: "maybe" is not fail-open or fail-closed`},
		{"unknown policy key", chain + "      on_error: {auht: fail-open}\n",
			`line 5: plugins.chain[0].on_error: unknown key "auht"; did you mean auth?`},
		{"a rule about a key not written names its entry's line", "plugins:\n  chain:\n    - name: a\n",
			// Every built-in is listed; the list grows with the registry.
			"line 3: plugins.chain[0].path: required (or builtin: one of " + strings.Join(builtin.Names(), ", ") + ")"},
		{"list where a mapping goes", chain + "      env: [A=1]\n", "line 5: plugins.chain[0].env: expected a mapping of keys"},
		{"tls without a certificate", "listeners:\n  - name: s\n    type: tls\n    address: :8883\n    key_file: k.pem\n",
			"line 2: listeners[0].cert_file: required for type tls"},
		{"bad client_auth", "listeners:\n  - type: tls\n    address: :8883\n    cert_file: c.pem\n    key_file: k.pem\n    client_auth: optional\n",
			`line 6: listeners[0].client_auth: "optional" is not one of none, request, require`},
		{"bad min_version", "listeners:\n  - type: tls\n    address: :8883\n    cert_file: c.pem\n    key_file: k.pem\n    min_version: 1.1\n",
			`line 6: listeners[0].min_version: "1.1" is not one of 1.2, 1.3`},
		{"tls key on a tcp listener", "listeners:\n  - address: :1883\n    cert_file: c.pem\n",
			"line 3: listeners[0].cert_file: only for types tls and wss (this listener is tcp)"},
		{"path on a tcp listener", "listeners:\n  - address: :1883\n    path: /mqtt\n",
			"line 3: listeners[0].path: only for types ws and wss (this listener is tcp)"},
		{"wss without a certificate", "listeners:\n  - type: wss\n    address: :8884\n    key_file: k.pem\n",
			"line 2: listeners[0].cert_file: required for type wss"},
		{"gc percent below -1", "log: {level: info}\ngc:\n  percent: -5\n",
			"line 3: gc.percent: -5: want -1 (off) or a percentage >= 0"},
		{"gc min_heap in decimal units", "gc:\n  min_heap: 64MB\n",
			`line 2: gc.min_heap: "64MB" is not a size like 1048576, 512KiB or 64MiB`},
		{"unknown store mode", "store:\n  path: data\n  mode: fast\n",
			`line 3: store.mode: "fast" is not sync or async`},
		{"store without a path", "log: {level: info}\nstore:\n  mode: async\n",
			"line 2: store.path: required: the directory the store keeps its files in"},
		{"a files key the config lacks", chain + "      files: [file]\n      config: {fiel: passwd}\n",
			`line 5: plugins.chain[0].files: "file" is not a key of config`},
		{"a file key that is not a path", chain + "      files: [file]\n      config:\n        file: [passwd]\n",
			"line 7: plugins.chain[0].config.file: must be the path of a file, a string (it is in files: file)"},
		{"a nested file key that is not a path", "plugins:\n  chain:\n    - name: s\n      builtin: json-schema\n      config:\n        rules:\n" +
			"          - {filter: a, schema_file: a.json}\n          - {filter: b, schema: {}}\n          - filter: c\n            schema_file: 7\n",
			"line 10: plugins.chain[0].config.rules[2].schema_file: must be the path of a file, a string (it is in files: rules[].schema_file)"},
		{"files on a built-in", "plugins:\n  chain:\n    - name: a\n      builtin: deny-all\n      files: [file]\n      config: {file: p}\n",
			"line 5: plugins.chain[0].files: a built-in declares the config keys that name its files itself (deny-all: none)"},
		{"mapping where a value goes", "limits:\n  max_qos: {a: 1}\n",
			"line 2: limits.max_qos: expected a single value, not a mapping or a list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.yaml))
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error\n  %v\nwant\n  %s", err, tc.want)
			}
		})
	}
}

// goTypeName matches what yaml.v3 says in Go's terms: "type config.Plugin",
// "into time.Duration", "!!str".
var goTypeName = regexp.MustCompile(`\b(config|host|broker|setting|time)\.[A-Z]|!!|not found in type|cannot unmarshal`)

// quoted is the user's own text in a message, which may look like anything.
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// speaksGo reports whether msg, the user's quoted text aside, names Go types.
func speaksGo(msg string) bool { return goTypeName.MatchString(quoted.ReplaceAllString(msg, `""`)) }

// The key checker and the decoder accept the same files: whatever the
// decoder would refuse, the checker has refused first, in the file's terms.
func TestNoErrorSpeaksGo(t *testing.T) {
	for _, y := range []string{
		"limits:\n  connect_timeout: 10\n", "limits:\n  max_qos: two\n", "log: [a]\n", "plugins: {chain: {a: 1}}\n",
		"plugins:\n  chain:\n    - {name: a, path: x, pool_size: many}\n", "allow_anonymous: maybe\n",
		"plugins:\n  chain:\n    - {name: a, path: x, env: {A: [1]}}\n", "plugins:\n  chain:\n    - {name: a, path: x, allow_fs: /}\n",
		"limits:\n  <<: {max_qoss: 1}\n", "listeners: [{name: [a]}]\n",
	} {
		_, err := Parse(strings.NewReader(y))
		if err == nil || speaksGo(err.Error()) || !strings.HasPrefix(err.Error(), "line ") {
			t.Errorf("%q: %v", y, err)
		}
	}
}

// Anchors cannot make the check loop or explode: an anchor inside itself and
// a "billion laughs" of merges are refused, promptly.
func TestAliasesCannotHangTheCheck(t *testing.T) {
	bomb := "limits:\n  <<: [&a0 {max_qos: 1}"
	for i := 1; i < 40; i++ {
		bomb += fmt.Sprintf(", &a%d {<<: [*a%d, *a%d]}", i, i-1, i-1)
	}
	bomb += "]\n"
	for _, tc := range []struct{ yaml, want string }{
		{"limits: &a {<<: *a}\n", "refers to itself"},
		{bomb, "aliases"},
	} {
		done := make(chan error, 1)
		go func() { _, err := Parse(strings.NewReader(tc.yaml)); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%.40q: %v, want %q", tc.yaml, err, tc.want)
			}
		case <-time.After(time.Minute):
			t.Fatalf("%.40q: Parse still running after a minute", tc.yaml)
		}
	}
}
