package host

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/setting"
)

// A file key nested in a list (rules[].file) names a file in each element
// that has the key: an element without it is skipped, two elements may
// name the same file, each file is readable by the path its element gives
// and nothing beside it is. A change to one of them reloads the plugin.
func TestNestedDataFileKeys(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		dir := t.TempDir()
		a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "sub", "b.json")
		if err := os.Mkdir(filepath.Dir(b), 0o700); err != nil {
			t.Fatal(err)
		}
		writeFile(t, a, "A\n")
		writeFile(t, b, "B\n")
		key := filepath.Join(dir, "server.key")
		writeFile(t, key, "the TLS key\n")
		events := make(chan reloadEvent, 64)
		cfg := one(engine, "reader", testPlugin(t, "filereader"))
		cfg.ReloadDebounce = 20 * time.Millisecond
		cfg.OnReload = func(name string, err error) { events <- reloadEvent{name, err} }
		pc := &cfg.Plugins[0]
		pc.Files = []string{"rules[].file"}
		pc.Config = ConfigBytes(fmt.Sprintf(`{"rules": [{"file": %q}, {"name": "inline", "n": 12345678901234567890}, {"file": %q}, {"file": %q}]}`, a, b, a))
		pc.CallTimeout = 10 * time.Second // not about deadlines: a loaded machine must not fail it
		h, _ := startHost(t, cfg)

		if got := answerOf(t, h); got != "A,B,A" {
			t.Fatalf("answer = %q, want A,B,A (rules 0, 2, 3)", got)
		}
		for path, want := range map[string]hooks.Verdict{a: hooks.Allow, b: hooks.Allow, key: hooks.Deny, dir: hooks.Deny} {
			if res, err := authorizeDirect(h, "reader", "open:"+path); err != nil || res.Verdict != want {
				t.Errorf("open %s: %v %q, %v; want %v", path, res.Verdict, res.ReasonString, err, want)
			}
		}
		if m := h.Plugin("reader").cur.Load(); len(m.files.files) != 2 {
			t.Errorf("%d files read, want 2: a file named twice is read once", len(m.files.files))
		}

		writeFile(t, a, "A2\n")
		if err := awaitAnswer(t, h, events, "A2,B,A2"); err != nil {
			t.Fatal(err)
		}
	})
}

// The notation: dots between object keys, [] for each element of a list.
func TestParseFileKey(t *testing.T) {
	for k, want := range map[string]string{
		"file":                "[{file 0}]",
		"tls.ca_file":         "[{tls 0} {ca_file 0}]",
		"rules[].schema_file": "[{rules 1} {schema_file 0}]",
		"m[][].f":             "[{m 2} {f 0}]",
	} {
		steps, err := parseFileKey(k)
		if err != nil || fmt.Sprint(steps) != want {
			t.Errorf("%q: %v, %v; want %s", k, steps, err, want)
		}
	}
	for _, bad := range []string{"", ".file", "file.", "a..b", "rules[0].f", "rules[.f", "[]", "a[]b"} {
		if steps, err := parseFileKey(bad); err == nil {
			t.Errorf("%q accepted as %v", bad, steps)
		}
	}
}

// Errors about nested file keys name the exact place in the config.
func TestNestedDataFileKeyErrors(t *testing.T) {
	three := `{"rules": [{"file": "a"}, {"file": "b"}, {"file": 7}]}`
	for _, tc := range []struct {
		name   string
		files  []string
		config string
		key    string
		says   string
	}{
		{"not a string in the third element", []string{"rules[].file"}, three, "chain[0].config.rules[2].file", "must be the path of a file"},
		{"empty in an element", []string{"rules[].file"}, `{"rules": [{"file": ""}]}`, "chain[0].config.rules[0].file", "must be the path of a file"},
		{"null in an element", []string{"rules[].file"}, `{"rules": [{"file": null}]}`, "chain[0].config.rules[0].file", "must be the path of a file"},
		{"not a list", []string{"rules[].file"}, `{"rules": {"file": "a"}}`, "chain[0].config.rules", "must be a list"},
		{"an element not an object", []string{"rules[].file"}, `{"rules": [{"file": "a"}, "b"]}`, "chain[0].config.rules[1]", "must be a mapping"},
		{"an object on the way not an object", []string{"tls.ca_file"}, `{"tls": "x"}`, "chain[0].config.tls", "must be a mapping"},
		{"first segment absent", []string{"rules[].file"}, `{"rule": []}`, "chain[0].files", `"rules" is not a key of config`},
		{"bad notation", []string{"rules[0].file"}, `{"rules": []}`, "chain[0].files", "is not a key path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Plugins: []PluginConfig{{Name: "p", Path: "p.wasm", Files: tc.files, Config: ConfigBytes(tc.config)}}}
			err := cfg.Validate()
			var se *setting.Error
			if !errors.As(err, &se) || se.Key != tc.key || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("Validate = %v; want an error about %s saying %q", err, tc.key, tc.says)
			}
		})
	}
	// A built-in's nested key is optional all the way down: no list, an
	// empty list, elements without the key.
	for _, config := range []string{`{}`, `{"rules": []}`, `{"rules": [{"schema": {}}, {"x": 1}]}`, `{"other": {"a": 1}}`} {
		cfg := Config{Plugins: []PluginConfig{{Name: "p", Wasm: []byte{0}, BuiltinFiles: []string{"rules[].schema_file", "tls.ca_file"}, Config: ConfigBytes(config)}}}
		if err := cfg.Validate(); err != nil {
			t.Errorf("built-in with %s: %v", config, err)
		}
	}
}

// ResolveFiles makes nested relative paths relative to the folder, leaves
// absolute ones, other values (numbers as written) and elements without
// the key alone.
func TestResolveNestedFiles(t *testing.T) {
	pc := PluginConfig{BuiltinFiles: []string{"rules[].schema_file"}, Wasm: []byte{0},
		Config: ConfigBytes(`{"rules": [{"schema_file": "s/a.json", "max": 12345678901234567890}, {"schema": {"type": "object"}}, {"schema_file": "/abs/b.json"}], "x": 1.50}`)}
	if err := pc.ResolveFiles("/etc/plume"); err != nil {
		t.Fatal(err)
	}
	refs, err := pc.fileRefs()
	if err != nil || len(refs) != 2 || refs[0].path != "/etc/plume/s/a.json" || refs[0].key != "rules[0].schema_file" ||
		refs[1].path != "/abs/b.json" || refs[1].key != "rules[2].schema_file" {
		t.Fatalf("refs = %+v, %v; want /etc/plume/s/a.json at rules[0], /abs/b.json at rules[2]", refs, err)
	}
	for _, kept := range []string{`"max":12345678901234567890`, `{"schema":{"type":"object"}}`, `"x":1.50`} {
		if !strings.Contains(string(pc.Config), kept) {
			t.Errorf("config = %s; want %s kept as written", pc.Config, kept)
		}
	}
}
