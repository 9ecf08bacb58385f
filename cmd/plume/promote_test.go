package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/plumemq/plume/host/plugintest"
	"github.com/plumemq/plume/ops"
)

// shadowYAML serves an ACL that denies secret/ and shadows it with a
// candidate that denies private/ too: one module, two configs.
const shadowYAML = `# Plume for the promote test
listeners: [{name: a, address: '127.0.0.1:0'}]
allow_anonymous: true
plugins:
  cache_dir: cache # the promoted module is the candidate's: compiled once
  chain:
    # the ACL that serves
    - name: acl
      path: rules.wasm
      config: {tag: v1, deny: [secret/]}
      pool_size: 2
      shadow:
        # the candidate: private/ too
        path: rules.wasm
        config: {tag: v2, deny: [secret/, private/]}
        queue: 64
`

// counting is a 5.0 client that counts the messages it receives per topic.
type counting struct {
	*paho.Client
	mu   sync.Mutex
	got  map[string]int
	lost chan error
}

func (c *counting) count(topic string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.got[topic]
}

func dialV5(t *testing.T, addr, id string) *counting {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := &counting{got: map[string]int{}, lost: make(chan error, 4)}
	c.Client = paho.NewClient(paho.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			c.mu.Lock()
			c.got[pr.Packet.Topic]++
			c.mu.Unlock()
			return true, nil
		}},
		OnServerDisconnect: func(d *paho.Disconnect) { c.lost <- nil },
		OnClientError:      func(err error) { c.lost <- err },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: id, KeepAlive: 60, CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c
}

// publish sends a QoS 1 message and returns the PUBACK's reason code.
func (c *counting) publish(t *testing.T, topic string) byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte("m")})
	if res == nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
	return res.ReasonCode
}

// A running broker with a shadowed ACL: its clients get the serving answers
// while the shadow counts and logs the disagreements (GET /plugins shows
// them); `plume plugin promote acl` edits the file, keeping its comments,
// the broker reloads it, and the same connected client's answer changes;
// a subscriber connected throughout loses nothing published meanwhile.
func TestPromoteMakesTheShadowServeInARunningBroker(t *testing.T) {
	dir := t.TempDir()
	wasm := plugintest.BuildGo(t, "../../host/testdata/plugins", "./rules")
	data, err := os.ReadFile(wasm)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.wasm"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	srv, logs := startFromYAML(t, dir, shadowYAML)
	path := filepath.Join(dir, "plume.yaml")
	addr := srv.listeners[0].Address()
	if err := srv.startOps(ops.Config{Address: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}

	sub := dialV5(t, addr, "sub")
	ctx := context.Background()
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "a/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	pub := dialV5(t, addr, "pub")
	if rc := pub.publish(t, "private/x"); rc >= 0x80 { // 0x10 No matching subscribers is a success
		t.Fatalf("private/x before promote: PUBACK %#x, want success (the serving ACL allows it)", rc)
	}
	if rc := pub.publish(t, "secret/x"); rc != 0x87 {
		t.Fatalf("secret/x: PUBACK %#x, want 0x87", rc)
	}
	eventually(t, "the shadow to count the disagreement", func() bool {
		st, ok := srv.plugins.Plugin("acl").Shadow()
		// Agreed: two connects, the subscription, secret/x, and private/x's
		// on-publish and transform (the module has both; neither changes it).
		return ok && st.ByKind["verdict"] == 1 && st.Disagreed == 1 && st.Agreed == 6
	})
	if lines := logged(logs, "shadow plugin disagrees"); len(lines) != 1 || lines[0]["client_id"] != "pub" || lines[0]["topic"] != "private/x" {
		t.Errorf("disagreement lines: %v; want one, for pub on private/x", lines)
	}
	if code, body := httpGet(t, "http://"+srv.ops.Addr()+"/plugins"); code != 200 || !strings.Contains(body, `"candidate": "acl/shadow"`) || !strings.Contains(body, `"disagreed": 1`) {
		t.Errorf("GET /plugins: %d %s", code, body)
	}

	// Publish to a/b all along, from before the promote until the new ACL serves.
	sent := 0
	for ; sent < 5; sent++ {
		if rc := pub.publish(t, "a/b"); rc != 0 {
			t.Fatalf("a/b: PUBACK %#x", rc)
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"plugin", "promote", "acl", "--config", path}, &out, &errb); code != 0 {
		t.Fatalf("promote: exit %d: %s", code, errb.String())
	}
	// A reload under the race detector on a busy machine takes a while: wait
	// generously (the verdict, not the time, is what is tested).
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if rc := pub.publish(t, "a/b"); rc != 0 {
			t.Fatalf("a/b during promote: PUBACK %#x", rc)
		}
		sent++
		if pub.publish(t, "private/x") == 0x87 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the promoted ACL did not deny private/x to the connected client within 2 minutes")
		}
		time.Sleep(20 * time.Millisecond) // polling the broker's answer: no event to await
	}
	edited, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"# Plume for the promote test", "# the ACL that serves", "# the candidate: private/ too", "tag: v2"} {
		if !strings.Contains(string(edited), s) {
			t.Errorf("the edited file lacks %q:\n%s", s, edited)
		}
	}
	if strings.Contains(string(edited), "v1") || strings.Contains(string(edited), "shadow") {
		t.Errorf("the old plugin or the shadow is still in the file:\n%s", edited)
	}
	if _, ok := srv.plugins.Plugin("acl").Shadow(); ok {
		t.Error("the plugin still has a shadow after promote")
	}
	eventually(t, "every a/b message to reach the subscriber", func() bool { return sub.count("a/b") >= sent })
	if n := sub.count("a/b"); n != sent {
		t.Errorf("subscriber got %d a/b messages, want %d", n, sent)
	}
	select {
	case err := <-pub.lost:
		t.Errorf("the publisher lost its connection: %v", err)
	case err := <-sub.lost:
		t.Errorf("the subscriber lost its connection: %v", err)
	default:
	}
}

// promote edits one chain entry: --keep-old swaps the two (so promote again
// rolls back), and a file it cannot edit safely is left as it was.
func TestPromoteEditsTheFileOrLeavesIt(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.wasm", "b.wasm"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "plume.yaml")
	const orig = "plugins:\n  chain:\n    - name: acl # keep me\n      path: a.wasm\n      on_error: {auth: fail-open}\n      shadow: {path: b.wasm, queue: 9, pool_size: 1}\n"
	if err := os.WriteFile(path, []byte(orig), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := promote(path, "acl", true); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want := "plugins:\n  chain:\n    - name: acl # keep me\n      on_error: {auth: fail-open}\n      path: b.wasm\n      pool_size: 1\n      shadow: {path: a.wasm, queue: 9}\n"
	if string(got) != want {
		t.Errorf("after promote --keep-old:\n%s\nwant:\n%s", got, want)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640 kept", st.Mode().Perm())
	}
	if err := promote(path, "acl", false); err != nil {
		t.Fatal(err)
	}
	got, _ = os.ReadFile(path)
	if want := "plugins:\n  chain:\n    - name: acl # keep me\n      on_error: {auth: fail-open}\n      path: a.wasm\n"; string(got) != want {
		t.Errorf("after promote back:\n%s\nwant:\n%s", got, want)
	}

	for _, tc := range []struct{ name, yaml, want string }{
		{"no such plugin", orig, "no plugin called"},
		{"acl", "plugins:\n  chain:\n    - {name: acl, path: a.wasm}\n", "has no shadow"},
		{"acl", "plugins:\n  chain:\n    - {name: acl, path: a.wasm, shadow: &s {path: b.wasm}}\n    - {name: b, path: a.wasm, shadow: *s}\n", "cannot edit"},
		{"acl", "plugins:\n  chain:\n    - {name: acl, path: a.wasm, shadow: {path: b.wasm, name: x}}\n", "does not load"},
	} {
		if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		err := promote(path, tc.name, false)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
		if got, _ := os.ReadFile(path); string(got) != tc.yaml {
			t.Errorf("%q: the file changed to %q", tc.yaml, got)
		}
	}
}
