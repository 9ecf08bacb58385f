package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/setting"
)

func TestAnnotatedExampleLoads(t *testing.T) {
	cfg, err := Load("../../../../examples/plume.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Listeners) != 1 || cfg.Listeners[0].Address != "127.0.0.1:1883" {
		t.Errorf("listeners = %+v", cfg.Listeners)
	}
	if time.Duration(cfg.Broker.Limits.ConnectTimeout) != 10*time.Second {
		t.Errorf("connect_timeout = %v", time.Duration(cfg.Broker.Limits.ConnectTimeout))
	}
	if cfg.Broker.Limits.MaxQoS == nil || *cfg.Broker.Limits.MaxQoS != 2 {
		t.Errorf("max_qos = %v", cfg.Broker.Limits.MaxQoS)
	}
	if broker.OwnerMismatch(cfg.Broker.SessionOwnerMismatch) != broker.OwnerMismatchRefuse {
		t.Errorf("session_owner_mismatch = %v", broker.OwnerMismatch(cfg.Broker.SessionOwnerMismatch))
	}
	if cfg.Plugins.Engine != "wazero" {
		t.Errorf("plugins.engine = %q", cfg.Plugins.Engine)
	}
	if l := cfg.Broker.Limits; l.MaxQueuedBytes != 64<<20 || l.MaxQueuedBytesTotal != 1<<30 || time.Duration(l.SlowConsumerTimeout) != 30*time.Second {
		t.Errorf("max_queued_bytes %d, max_queued_bytes_total %d, slow_consumer_timeout %v",
			l.MaxQueuedBytes, l.MaxQueuedBytesTotal, time.Duration(l.SlowConsumerTimeout))
	}
}

func TestSizesTakeBinaryUnitsAndNegativeMeansUnbounded(t *testing.T) {
	cfg, err := Parse(strings.NewReader("limits:\n  max_queued_bytes: 512KiB\n  max_queued_bytes_total: -1\n  slow_consumer_timeout: -1s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if l := cfg.Broker.Limits; l.MaxQueuedBytes != 512<<10 || l.MaxQueuedBytesTotal != -1 || l.SlowConsumerTimeout >= 0 {
		t.Fatalf("limits %+v", l)
	}
}

func TestParseErrorsNameTheKeyAndLine(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", "log:\n  level: info\n  colour: red\n", []string{"line 3", "colour"}},
		{"unknown top-level key", "listners: []\n", []string{"line 1", "listners"}},
		{"bad number", "limits:\n  max_inflight: lots\n", []string{"line 2", "lots"}},
		{"number too large", "limits:\n  max_inflight: 70000\n", []string{"line 2", "70000"}},
		{"bad duration", "limits:\n  connect_timeout: soon\n", []string{"line 2", "soon", "duration"}},
		{"bad qos", "limits:\n  max_qos: 3\n", []string{"line 2", "QoS"}},
		{"negative packet read timeout", "limits:\n  packet_read_timeout: -1s\n", []string{"limits.packet_read_timeout", "negative"}},
		{"negative partial budget", "limits:\n  max_partial_packet_bytes: -5\n", []string{"limits.max_partial_packet_bytes", "negative"}},
		{"bad owner mismatch", "log:\n  level: info\nsession_owner_mismatch: steal\n", []string{"line 3", "session_owner_mismatch", "steal", "refuse or fresh"}},
		{"bad queue_full", "limits:\n  max_queued: 5\n  queue_full: block\n", []string{"line 3", "limits.queue_full", "block", "drop or backpressure"}},
		{"bad level", "log:\n  level: loud\n", []string{"log.level", "loud"}},
		{"bad listener type", "listeners:\n  - address: 127.0.0.1:1\n    type: quic\n", []string{"listeners[0].type", "quic"}},
		{"missing address", "listeners:\n  - name: a\n", []string{"listeners[0].address"}},
		{"duplicate listener", "listeners:\n  - {name: a, address: ':1'}\n  - {name: a, address: ':2'}\n", []string{"listeners[1].name", "twice"}},
		{"bad size", "limits:\n  max_queued_bytes: lots\n", []string{"line 2", "lots", "size"}},
		{"bad size unit", "limits:\n  max_queued_bytes: 64MB\n", []string{"line 2", "64MB"}},
		{"size overflows", "limits:\n  max_queued_bytes_total: 9000000000TiB\n", []string{"line 2", "9000000000TiB"}},
		{"budget below one session", "limits:\n  max_queued_bytes: 64MiB\n  max_queued_bytes_total: 1MiB\n",
			[]string{"limits.max_queued_bytes_total", "limits.max_queued_bytes"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.yaml))
			if err == nil {
				t.Fatal("accepted a bad config")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestEmptyFileMeansDefaults(t *testing.T) {
	cfg, err := Parse(strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listeners[0].Address != Default().Listeners[0].Address || cfg.Log.Level != "info" {
		t.Errorf("got %+v", cfg)
	}
}

func TestPluginChainParsesAndPathsAreRelativeToTheFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plume.yaml")
	if err := os.WriteFile(file, []byte(`
plugins:
  cache_dir: cache
  chain:
    - name: auth
      path: auth.wasm
      config: "alice:secret"
      call_timeout: 50ms
      on_error: {auth: fail-open, message: fail-closed}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Plugins.Plugins[0]
	if p.Path != filepath.Join(dir, "auth.wasm") || cfg.Plugins.CacheDir != filepath.Join(dir, "cache") {
		t.Errorf("paths not resolved against the file's folder: %q, %q", p.Path, cfg.Plugins.CacheDir)
	}
	if p.Name != "auth" || string(p.Config) != "alice:secret" || time.Duration(p.CallTimeout) != 50*time.Millisecond ||
		p.OnError.Auth != "fail-open" || p.OnError.Message != "fail-closed" {
		t.Errorf("plugin = %+v", p)
	}
	for _, bad := range []struct{ yaml, want string }{
		{"plugins:\n  chain:\n    - {name: a}\n", "plugins.chain[0].path"},
		{"plugins:\n  chain:\n    - {name: a, path: x, on_error: {auth: maybe}}\n", "line 3"},
		{"plugins:\n  chain:\n    - {name: a, path: x}\n    - {name: a, path: y}\n", "used twice"},
		{"plugins:\n  chian: []\n", "line 2"},
		{"plugins:\n  cache_dir: c\n  engine: v8\n", `line 3: plugins.engine: "v8" is not wazero or wasmtime`},
		{"plugins:\n  chain:\n    - name: a\n      path: x\n      kv_max_bytes: lots\n", `line 5: plugins.chain[0].kv_max_bytes: "lots" is not a size`},
		{"plugins:\n  chain:\n    - name: a\n      path: x\n      kv_max_bytes: -1MiB\n", `plugins.chain[0].kv_max_bytes: must not be negative`},
	} {
		if _, err := Parse(strings.NewReader(bad.yaml)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: err %v, want mention of %q", bad.yaml, err, bad.want)
		}
	}
}

func TestPluginKVMaxBytesIsRead(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want setting.ByteSize
	}{
		{"", 0},
		{"kv_max_bytes: 1048576", 1 << 20},
		{"kv_max_bytes: 512KiB", 512 << 10},
		{"kv_max_bytes: 16MiB", 16 << 20},
		{"kv_max_bytes: 2 GiB", 2 << 30},
		{"kv_max_bytes: 100B", 100},
	} {
		cfg, err := Parse(strings.NewReader("plugins:\n  chain:\n    - name: a\n      path: x\n      " + tc.yaml + "\n"))
		if err != nil || cfg.Plugins.Plugins[0].KVMaxBytes != tc.want {
			t.Errorf("%q: %d, %v; want %d", tc.yaml, cfg.Plugins.Plugins[0].KVMaxBytes, err, tc.want)
		}
	}
}

func TestPluginEngineIsRead(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"plugins:\n  chain: []\n", ""},
		{"plugins:\n  engine: wazero\n", "wazero"},
		{"plugins:\n  engine: wasmtime\n", "wasmtime"},
	} {
		cfg, err := Parse(strings.NewReader(tc.yaml))
		if err != nil || string(cfg.Plugins.Engine) != tc.want {
			t.Errorf("%q: engine %q, %v; want %q", tc.yaml, cfg.Plugins.Engine, err, tc.want)
		}
	}
}

func TestPluginConfigMappingBecomesJSON(t *testing.T) {
	cfg, err := Parse(strings.NewReader(`
plugins:
  chain:
    - name: auth
      path: auth.wasm
      config:
        users:
          alice: {password: s3cret, attributes: {role: admin}}
        deny_anonymous: true
`))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"deny_anonymous":true,"users":{"alice":{"attributes":{"role":"admin"},"password":"s3cret"}}}`
	if got := string(cfg.Plugins.Plugins[0].Config); got != want {
		t.Errorf("config = %s, want %s", got, want)
	}
}

func TestPluginWalkThroughConfigLoads(t *testing.T) {
	cfg, err := Load("../../../../examples/with-plugins/plume.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(cfg.Plugins.Plugins); n != 2 {
		t.Fatalf("%d plugins, want 2", n)
	}
	if !strings.Contains(string(cfg.Plugins.Plugins[0].Config), `"deny_anonymous":true`) {
		t.Errorf("auth config = %s", cfg.Plugins.Plugins[0].Config)
	}
}

func TestSessionOwnerMismatchParses(t *testing.T) {
	for text, want := range map[string]broker.OwnerMismatch{
		"":                                 broker.OwnerMismatchRefuse,
		"session_owner_mismatch: refuse\n": broker.OwnerMismatchRefuse,
		"session_owner_mismatch: fresh\n":  broker.OwnerMismatchFresh,
	} {
		cfg, err := Parse(strings.NewReader(text))
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if got := broker.OwnerMismatch(cfg.Broker.SessionOwnerMismatch); got != want {
			t.Errorf("%q: %v, want %v", text, got, want)
		}
	}
}

func TestTLSListenerFilesAreRelativeToTheFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plume.yaml")
	yaml := "listeners:\n  - name: secure\n    type: tls\n    address: 127.0.0.1:8883\n" +
		"    cert_file: certs/server.pem\n    key_file: /etc/plume/server.key\n    client_ca_file: ca.pem\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.Listeners[0]
	if l.CertFile != filepath.Join(dir, "certs/server.pem") || l.KeyFile != "/etc/plume/server.key" || l.ClientCAFile != filepath.Join(dir, "ca.pem") {
		t.Fatalf("files %q %q %q, want the relative ones under %s", l.CertFile, l.KeyFile, l.ClientCAFile, dir)
	}
	if l.ClientAuth != "require" || l.MinVersion != "1.2" {
		t.Fatalf("client_auth %q, min_version %q; want the defaults require and 1.2", l.ClientAuth, l.MinVersion)
	}
}
