package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// The dashboard's overview carries what the binary wires into it: the
// plugins' calls and latency from the host's counters, and the recent
// refusals, kept in memory even without an audit section.
func TestDashboardShowsPluginCallsAndRecentRefusals(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "plume.yaml")
	yaml := "listeners: [{name: a, address: '127.0.0.1:0'}]\nallow_anonymous: true\n" +
		"http: {address: '127.0.0.1:0'}\n" +
		"plugins:\n  chain:\n    - {name: closing-no, builtin: deny-all}\n"
	srv := startYAML(t, path, yaml)
	t.Cleanup(func() { stopServer(t, srv) })
	if got := connack311(t, srv.listeners[0].Address()); !bytes.Equal(got, []byte{0x20, 2, 0, 0x05}) {
		t.Fatalf("CONNACK % x, want refused (5)", got)
	}

	type overview struct {
		Plugins []struct {
			Name string `json:"name"`
		} `json:"plugins"`
		Refusals []struct {
			Class    string `json:"class"`
			ClientID string `json:"client_id"`
			Reason   string `json:"reason"`
		} `json:"refusals"`
	}
	// The sampler reads the sources once a second: wait for a sample taken
	// after the refusal.
	var ov overview
	for deadline := time.Now().Add(time.Minute); ; {
		resp, err := http.Get("http://" + srv.ops.Addr() + "/api/v1/overview?history=0")
		if err != nil {
			t.Fatal(err)
		}
		ov = overview{}
		err = json.NewDecoder(resp.Body).Decode(&ov)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(ov.Refusals) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(ov.Refusals) != 1 || ov.Refusals[0].Class != "auth_failure" || ov.Refusals[0].ClientID != "t" || ov.Refusals[0].Reason == "" {
		t.Fatalf("refusals %+v, want the one auth_failure of client t with its reason", ov.Refusals)
	}
	if len(ov.Plugins) != 1 || ov.Plugins[0].Name != "closing-no" {
		t.Fatalf("plugins %+v, want closing-no", ov.Plugins)
	}
	// The host's counters, as the sampler reads them.
	got := srv.pluginSamples()
	if len(got) != 1 || got[0].Calls != 1 || got[0].Mean <= 0 || got[0].P99 < got[0].Mean {
		t.Fatalf("plugin samples %+v, want one call with its latency", got)
	}
}
