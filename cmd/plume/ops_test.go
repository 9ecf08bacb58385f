package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/plumemq/plume/cmd/plume/internal/config"
	"github.com/plumemq/plume/internal/testcerts"
	"github.com/plumemq/plume/ops"
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
	for _, flag := range []string{"--http", "--ops", "--pprof"} { // --ops, --pprof: older names, still working
		t.Run(flag, func(t *testing.T) {
			_, lines, _ := startPlume(t, bin, "--listen", "127.0.0.1:0", flag, "127.0.0.1:0")
			addr := opsAddr(t, lines)
			if code, body := httpGet(t, "http://"+addr+"/healthz"); code != http.StatusOK || strings.TrimSpace(body) != "ok" {
				t.Errorf("/healthz: %d %q, want 200 ok", code, body)
			}
			if code, body := httpGet(t, "http://"+addr+"/readyz"); code != http.StatusOK || strings.TrimSpace(body) != "ready" {
				t.Errorf("/readyz: %d %q, want 200 ready", code, body)
			}
			if code, body := httpGet(t, "http://"+addr+"/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
				t.Errorf("/debug/pprof/: %d, want 200 listing profiles", code)
			}
			if code, body := httpGet(t, "http://"+addr+"/api/v1/clients"); code != http.StatusOK || !strings.Contains(body, `"clients": []`) {
				t.Errorf("/api/v1/clients: %d %s", code, body)
			}
		})
	}
}

func TestHTTPFlagAndItsOlderNames(t *testing.T) {
	for _, tc := range []struct{ http, ops, pprof, want, older string }{
		{"", "", "", "", ""},
		{"127.0.0.1:1", "", "", "127.0.0.1:1", ""},
		{"", "127.0.0.1:2", "", "127.0.0.1:2", "--ops"},
		{"", "", "127.0.0.1:3", "127.0.0.1:3", "--pprof"},
		{"127.0.0.1:4", "127.0.0.1:4", "127.0.0.1:4", "127.0.0.1:4", ""},
	} {
		c := ops.Config{Address: "127.0.0.1:9"}
		older, err := httpFlag(&c, tc.http, tc.ops, tc.pprof)
		want := tc.want
		if want == "" {
			want = "127.0.0.1:9" // no flag: http.address stays
		}
		if err != nil || c.Address != want || older != tc.older {
			t.Errorf("httpFlag(%q, %q, %q) = %q, %q, %v; want %q, %q", tc.http, tc.ops, tc.pprof, c.Address, older, err, want, tc.older)
		}
	}
	if _, err := httpFlag(&ops.Config{}, "127.0.0.1:1", "", "127.0.0.1:2"); err == nil {
		t.Error("two different addresses accepted")
	}
}

// Off loopback without http.auth the binary does not start, and says which
// key to set; from a file, with its line.
func TestOffLoopbackWithoutAuthRefusesToStart(t *testing.T) {
	bin := buildPlume(t)
	out, err := exec.Command(bin, "--listen", "127.0.0.1:0", "--http", "0.0.0.0:0").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "http.auth") {
		t.Fatalf("--http 0.0.0.0:0 without auth: %v\n%s\nwant exit 2 naming http.auth", err, out)
	}
	dir := t.TempDir()
	path := testcerts.Write(t, dir, "plume.yaml", []byte("listeners: [{address: '127.0.0.1:0'}]\nhttp:\n  address: ':0'\n"))
	if _, err := config.Load(path); err == nil || !strings.Contains(err.Error(), "http.auth") || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("config off loopback without auth: %v, want http.auth at line 2, the section", err)
	}
}

// The http section of a file: a token file relative to it, HTTPS with a
// test certificate, 401 without the token and 200 with it; the probes open.
func TestHTTPSectionServesTLSWithAuth(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "ops")
	leaf := ca.Server(t, 1)
	testcerts.Write(t, dir, "ops.crt", leaf.CertPEM)
	testcerts.Write(t, dir, "ops.key", leaf.KeyPEM)
	testcerts.Write(t, dir, "token", []byte("a-token-of-24-characters\n"))
	srv, _ := startFromYAML(t, dir, `listeners: [{address: '127.0.0.1:0'}]
http:
  address: 127.0.0.1:0
  tls: {cert_file: ops.crt, key_file: ops.key}
  auth: {bearer_token_file: token}
`)
	if srv.ops == nil {
		t.Fatal("no operations endpoint from the http section")
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(path, tok string) *http.Response {
		req, _ := http.NewRequest("GET", "https://"+srv.ops.Addr()+path, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := get("/api/v1/clients", ""); r.StatusCode != 401 || r.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("no token: %d %q, want 401 with WWW-Authenticate", r.StatusCode, r.Header.Get("WWW-Authenticate"))
	}
	if r := get("/api/v1/clients", "a-token-of-24-characterz"); r.StatusCode != 401 {
		t.Errorf("wrong token: %d, want 401", r.StatusCode)
	}
	if r := get("/api/v1/clients", "a-token-of-24-characters"); r.StatusCode != 200 {
		t.Errorf("token: %d, want 200", r.StatusCode)
	}
	if r := get("/readyz", ""); r.StatusCode != 200 {
		t.Errorf("/readyz without a token: %d, want 200", r.StatusCode)
	}
}
