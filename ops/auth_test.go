package ops_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plumemq/plume/core/setting"
	"github.com/plumemq/plume/internal/testcerts"
	"github.com/plumemq/plume/ops"
	"github.com/plumemq/plume/plugins/passwd"
)

const token = "0123456789abcdef0123456789abcdef"

// authFiles writes a token file and a password file (alice:secret) in a
// temporary folder.
func authFiles(t *testing.T) ops.Auth {
	t.Helper()
	dir := t.TempDir()
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := passwd.New(passwd.Argon2id, []byte("secret"), 0, passwd.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(dir, "passwd")
	if err := os.WriteFile(pw, []byte("# ops users\nalice:"+h.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return ops.Auth{BearerTokenFile: tok, BasicAuthFile: pw}
}

func do(t *testing.T, c *http.Client, url string, set func(*http.Request)) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if set != nil {
		set(req)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestAuthIsRequiredOnAllButTheProbes(t *testing.T) {
	s := start(t, ops.Config{Auth: authFiles(t)})
	base := "http://" + s.Addr()
	for _, tc := range []struct {
		name string
		set  func(*http.Request)
		want int
	}{
		{"none", nil, 401},
		{"wrong token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+strings.Repeat("x", len(token))) }, 401},
		{"token prefix", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token[:16]) }, 401},
		{"wrong password", func(r *http.Request) { r.SetBasicAuth("alice", "guess") }, 401},
		{"unknown user", func(r *http.Request) { r.SetBasicAuth("mallory", "secret") }, 401},
		{"token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }, 200},
		{"basic", func(r *http.Request) { r.SetBasicAuth("alice", "secret") }, 200},
		{"basic again (cached)", func(r *http.Request) { r.SetBasicAuth("alice", "secret") }, 200},
	} {
		resp := do(t, client, base+"/debug/pprof/", tc.set)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
		if tc.want == 401 {
			if got := strings.Join(resp.Header.Values("WWW-Authenticate"), "; "); !strings.Contains(got, "Bearer") || !strings.Contains(got, "Basic") {
				t.Errorf("%s: WWW-Authenticate %q, want Bearer and Basic challenges", tc.name, got)
			}
		}
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if resp := do(t, client, base+p, nil); resp.StatusCode != 200 {
			t.Errorf("%s without credentials: %d, want 200", p, resp.StatusCode)
		}
	}
	// A path that cleans to a guarded one is guarded: the mux redirects it
	// only after the credential check.
	if resp := do(t, noRedirect, base+"/healthz/../debug/pprof/", nil); resp.StatusCode != 401 {
		t.Errorf("/healthz/../debug/pprof/: %d, want 401", resp.StatusCode)
	}
}

var noRedirect = &http.Client{Timeout: 10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func TestOffLoopbackWithoutAuthIsRefused(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:8080"} {
		err := ops.New(ops.Config{Address: addr}).Listen()
		var se *setting.Error
		if !errors.As(err, &se) || se.Key != "auth" || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("Listen on %s without auth: %v, want an error naming auth", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0", "[::1]:0"} {
		if err := (&ops.Config{Address: addr}).Validate(); err != nil {
			t.Errorf("Validate on loopback %s: %v", addr, err)
		}
	}
	if err := (&ops.Config{Address: "0.0.0.0:0", Auth: ops.Auth{BearerTokenFile: "t"}}).Validate(); err != nil {
		t.Errorf("off loopback with auth: %v", err)
	}
}

func TestBadAuthFilesAreRefusedNamingTheKey(t *testing.T) {
	dir := t.TempDir()
	short := testcerts.Write(t, dir, "short", []byte("abc\n"))
	plain := testcerts.Write(t, dir, "plain", []byte("alice:secret\n"))
	for _, tc := range []struct {
		auth ops.Auth
		key  string
	}{
		{ops.Auth{BearerTokenFile: filepath.Join(dir, "missing")}, "auth.bearer_token_file"},
		{ops.Auth{BearerTokenFile: short}, "auth.bearer_token_file"},
		{ops.Auth{BasicAuthFile: plain}, "auth.basic_auth_file"}, // a password, not a hash
	} {
		err := ops.New(ops.Config{Address: "127.0.0.1:0", Auth: tc.auth}).Listen()
		var se *setting.Error
		if !errors.As(err, &se) || se.Key != tc.key {
			t.Errorf("%+v: %v, want an error naming %s", tc.auth, err, tc.key)
		}
	}
}

func TestTLSServesHTTPSAndMutualTLSAsksForACertificate(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "ops CA")
	srv := ca.Server(t, 1)
	cfg := ops.Config{TLS: &ops.TLS{
		CertFile: testcerts.Write(t, dir, "cert.pem", srv.CertPEM),
		KeyFile:  testcerts.Write(t, dir, "key.pem", srv.KeyPEM),
	}}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	httpsClient := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs}}}
	}
	s := start(t, cfg)
	if s.Scheme() != "https" {
		t.Fatalf("Scheme %q", s.Scheme())
	}
	if resp := do(t, httpsClient(), "https://"+s.Addr()+"/healthz", nil); resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("/healthz over TLS: %d", resp.StatusCode)
	}
	// Go's TLS server answers plain HTTP with a 400, not the page.
	if resp := do(t, client, "http://"+s.Addr()+"/healthz", nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("plain HTTP on a TLS endpoint: %d, want 400", resp.StatusCode)
	}

	cfg.TLS.ClientCAFile = testcerts.Write(t, dir, "ca.pem", ca.PEM)
	m := start(t, cfg)
	if _, err := httpsClient().Get("https://" + m.Addr() + "/healthz"); err == nil {
		t.Fatal("mutual TLS: a client without a certificate was served")
	}
	leaf := ca.Issue(t, testcerts.Leaf{CommonName: "ops", Client: true})
	cert, err := tls.X509KeyPair(leaf.CertPEM, leaf.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if resp := do(t, httpsClient(cert), "https://"+m.Addr()+"/healthz", nil); resp.StatusCode != 200 {
		t.Fatalf("mutual TLS with a certificate: %d", resp.StatusCode)
	}
}

func TestTLSWithoutItsFilesIsRefused(t *testing.T) {
	for _, tc := range []struct {
		tls ops.TLS
		key string
	}{{ops.TLS{KeyFile: "k"}, "tls.cert_file"}, {ops.TLS{CertFile: "c"}, "tls.key_file"}, {ops.TLS{CertFile: "c", KeyFile: "k"}, "tls.cert_file"}} {
		err := ops.New(ops.Config{Address: "127.0.0.1:0", TLS: &tc.tls}).Listen()
		var se *setting.Error
		if !errors.As(err, &se) || se.Key != tc.key {
			t.Errorf("%+v: %v, want an error naming %s", tc.tls, err, tc.key)
		}
	}
}

func TestReadyzFollowsReadyAndHealth(t *testing.T) {
	var ready, healthy atomic.Value // of error wrapped in a func, so that nil can be stored
	set := func(v *atomic.Value, err error) { v.Store(func() error { return err }) }
	set(&ready, errors.New("store recovering"))
	set(&healthy, nil)
	s := start(t, ops.Config{
		Ready:  func() error { return ready.Load().(func() error)() },
		Health: func() error { return healthy.Load().(func() error)() },
	})
	if code, body := get(t, "http://"+s.Addr()+"/readyz"); code != 503 || !strings.Contains(body, "store recovering") {
		t.Fatalf("/readyz not ready: %d %q", code, body)
	}
	set(&ready, nil)
	if code, body := get(t, "http://"+s.Addr()+"/readyz"); code != 200 || strings.TrimSpace(body) != "ready" {
		t.Fatalf("/readyz ready: %d %q", code, body)
	}
	set(&healthy, errors.New("shutting down"))
	if code, _ := get(t, "http://"+s.Addr()+"/readyz"); code != 503 {
		t.Fatalf("/readyz while shutting down: %d, want 503", code)
	}
}
