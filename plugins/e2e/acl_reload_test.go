package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/host"
	"github.com/plumemq/plume/plugins/builtin"
)

// The ACL file changes while a client publishes without pause: the broker
// cached the allow (the plugin's answers are cacheable), and the new file
// must end it; once the publisher has seen the new answer it never sees the
// old one again; a bad file keeps the last good one serving, and the
// publisher's connection survives it all.
func TestACLFileReloadUnderLiveTraffic(t *testing.T) {
	dir := t.TempDir()
	aclPath := filepath.Join(dir, "acl")
	if err := os.WriteFile(aclPath, []byte("user alice\ntopic readwrite a/#\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, _ := builtin.Lookup("acl-file")
	pc := plugin("acl", "builtin:acl-file", fmt.Sprintf(`{"file": %q}`, aclPath))
	pc.Wasm, pc.BuiltinFiles = p.Wasm, p.FileKeys
	e := start(t, host.Config{Plugins: []host.PluginConfig{pc}}, broker.Options{AllowAnonymous: true})
	pub := mustConnectV5(t, e.addr, &paho.Connect{ClientID: "p1", Username: "alice", UsernameFlag: true})

	// The publisher's answers, in order, for a/x.
	var mu sync.Mutex
	var codes []byte
	stop, done := make(chan struct{}), make(chan struct{})
	var once sync.Once
	halt := func() { once.Do(func() { close(stop); <-done }) }
	defer halt()
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			pr, err := pub.Publish(ctx, &paho.Publish{Topic: "a/x", QoS: 1, Payload: []byte("m")})
			cancel()
			if err != nil && pr == nil {
				return // the connection ended; stillConnected reports it
			}
			mu.Lock()
			codes = append(codes, pr.ReasonCode)
			mu.Unlock()
		}
	}()
	awaitCode := func(want byte, after int) int {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			n := len(codes)
			for i := after; i < n; i++ {
				if codes[i] == want {
					mu.Unlock()
					return i
				}
			}
			mu.Unlock()
			if time.Now().After(deadline) {
				t.Fatalf("no PUBACK %#x within 30s of the file's change (%d publishes since)", want, n-after)
			}
			time.Sleep(5 * time.Millisecond) // polling the publisher's record; no verdict rests on the interval
		}
	}
	first := awaitCode(0x10, 0) // allowed (no subscribers)

	writeFileAtomic(t, aclPath, []byte("user alice\ntopic readwrite b/#\n"))
	denied := awaitCode(0x87, first)
	// A bad file: the plugin refuses it; the host keeps the last good one.
	writeFileAtomic(t, aclPath, []byte("user alice\ntopic sometimes a/#\n"))
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(e.logs.String(), aclPath+`:2: access \"sometimes\"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no log of the refused file naming its line:\n%s", e.logs)
		}
		time.Sleep(5 * time.Millisecond) // polling the log
	}
	mu.Lock()
	mark := len(codes)
	mu.Unlock()
	awaitCode(0x87, mark) // still the second file's answer
	if code, _ := pub.publish1(t, "b/y", []byte("m")); code >= 0x80 {
		t.Errorf("b/y refused (%#x) after a bad file: the last good file must keep serving", code)
	}

	halt()
	mu.Lock()
	defer mu.Unlock()
	for i := denied; i < len(codes); i++ {
		if codes[i] != 0x87 {
			t.Fatalf("publish %d answered %#x after the new file had denied (publish %d)", i, codes[i], denied)
		}
	}
	pub.stillConnected(t)
}
