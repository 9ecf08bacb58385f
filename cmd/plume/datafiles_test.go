package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/plumemq/plume/cmd/plume/internal/config"
	"github.com/plumemq/plume/host/plugintest"
	"github.com/plumemq/plume/plugins/builtin"
)

// standInBuiltin makes `builtin: file-reader` name the host's filereader
// test plugin, declaring its config key "file" as a data file, as a row of
// plugins/builtin would, until the test ends.
func standInBuiltin(t *testing.T) {
	t.Helper()
	wasm, err := os.ReadFile(plugintest.BuildGo(t, "../../host/testdata/plugins", "./filereader"))
	if err != nil {
		t.Fatal(err)
	}
	prev := config.LookupBuiltin
	config.LookupBuiltin = func(name string) (builtin.Plugin, bool) {
		if name == "file-reader" {
			return builtin.Plugin{Name: name, Summary: "test", Wasm: wasm, FileKeys: []string{"file"}}, true
		}
		return prev(name)
	}
	t.Cleanup(func() { config.LookupBuiltin = prev })
}

// A built-in whose config names a file by a path relative to the config
// file's folder reads that file in a real broker, and only it: the TLS key
// beside it stays out of reach. A change to the file reaches the clients
// without a restart.
func TestBuiltinReadsItsDataFileRelativeToTheConfig(t *testing.T) {
	standInBuiltin(t)
	dir := t.TempDir()
	for name, content := range map[string]string{"passwd": "alice\n", "server.key": "the TLS key\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "plume.yaml")
	yaml := `listeners: [{name: a, address: '127.0.0.1:0'}]
allow_anonymous: true
plugins:
  cache_dir: cache  # a reload of the same module then compiles nothing
  chain:
    - name: reader
      builtin: file-reader
      call_timeout: 10s
      config: {file: passwd}
`
	srv := startYAML(t, path, yaml)
	t.Cleanup(func() { stopServer(t, srv) })
	c := connectV5(t, srv.listeners[0].Address())

	// The plugin denies with the first line of its file as reason string.
	if code, why := publishQoS1(t, c, "x"); code != 0x87 || why != "alice" {
		t.Fatalf("PUBACK %#x %q, want 0x87 with the file's alice", code, why)
	}
	// "open:PATH" is allowed when the plugin can read PATH.
	if code, why := publishQoS1(t, c, "open:"+filepath.Join(dir, "passwd")); code == 0x87 {
		t.Errorf("the plugin cannot read its own file: %q", why)
	}
	if code, _ := publishQoS1(t, c, "open:"+filepath.Join(dir, "server.key")); code != 0x87 {
		t.Errorf("PUBACK %#x: the plugin read the TLS key beside its file", code)
	}

	tmp := filepath.Join(dir, "passwd.new")
	if err := os.WriteFile(tmp, []byte("bob\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "passwd")); err != nil {
		t.Fatal(err)
	}
	// Generous: under the race detector on two loaded cores a reload (new
	// instances, the plugin's init) has taken tens of seconds.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, why := publishQoS1(t, c, "x")
		if why == "bob" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reason string still %q 2 min after the file changed, want bob", why)
		}
		time.Sleep(20 * time.Millisecond) // polling for the reload's effect, no verdict rests on the interval
	}
}

func connectV5(t *testing.T, addr string) *paho.Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(paho.ClientConfig{Conn: conn})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: "files", CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c
}

// publishQoS1 publishes at QoS 1 and returns the PUBACK's reason code and
// reason string.
func publishQoS1(t *testing.T, c *paho.Client, topic string) (byte, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte("m")})
	if res == nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
	why := ""
	if res.Properties != nil {
		why = res.Properties.ReasonString
	}
	return res.ReasonCode, strings.TrimSpace(why)
}
