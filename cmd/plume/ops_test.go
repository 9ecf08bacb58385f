package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// opsAddr waits for the log line of the operations endpoint and returns its address.
func opsAddr(t *testing.T, lines <-chan map[string]any) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-lines:
			if !ok {
				t.Fatal("plume exited before the operations endpoint listened")
			}
			if msg, _ := m["message"].(string); strings.HasPrefix(msg, "operations endpoint listening") {
				return m["address"].(string)
			}
		case <-deadline:
			t.Fatal("no operations endpoint within 10s")
		}
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestOpsEndpointServesHealthAndProfiles(t *testing.T) {
	bin := buildPlume(t)
	for _, flag := range []string{"--ops", "--pprof"} { // --pprof: the old name, still working
		t.Run(flag, func(t *testing.T) {
			_, lines, _ := startPlume(t, bin, "--listen", "127.0.0.1:0", flag, "127.0.0.1:0")
			addr := opsAddr(t, lines)
			if code, body := httpGet(t, "http://"+addr+"/healthz"); code != http.StatusOK || strings.TrimSpace(body) != "ok" {
				t.Errorf("/healthz: %d %q, want 200 ok", code, body)
			}
			if code, body := httpGet(t, "http://"+addr+"/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
				t.Errorf("/debug/pprof/: %d, want 200 listing profiles", code)
			}
		})
	}
}

func TestOpsAddressReconcilesTheDeprecatedPprofFlag(t *testing.T) {
	for _, tc := range []struct{ ops, pprof, want string }{
		{"", "", ""},
		{"127.0.0.1:1", "", "127.0.0.1:1"},
		{"", "127.0.0.1:2", "127.0.0.1:2"},
		{"127.0.0.1:3", "127.0.0.1:3", "127.0.0.1:3"},
	} {
		if got, err := opsAddress(tc.ops, tc.pprof); err != nil || got != tc.want {
			t.Errorf("opsAddress(%q, %q) = %q, %v; want %q", tc.ops, tc.pprof, got, err, tc.want)
		}
	}
	if _, err := opsAddress("127.0.0.1:1", "127.0.0.1:2"); err == nil {
		t.Error("two different addresses accepted")
	}
}
