package main

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hs256Token signs a token for sub with secret under kid (HS256).
func hs256Token(secret []byte, kid, sub string) string {
	b64 := base64.RawURLEncoding.EncodeToString
	input := b64([]byte(`{"alg":"HS256","kid":"`+kid+`"}`)) + "." +
		b64([]byte(fmt.Sprintf(`{"sub":%q,"exp":%d}`, sub, time.Now().Add(time.Hour).Unix())))
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(input))
	return input + "." + b64(m.Sum(nil))
}

// The jwt built-in from a plume config: its jwks_file is found relative to
// the config file's folder, a token signed with a key of the set admits
// mosquitto_pub, and after the file changes the new key admits and the old
// one is refused.
func TestBuiltinJWTWithARelativeJWKSFile(t *testing.T) {
	dir := t.TempDir()
	jwks := func(kid string, secret []byte) {
		set := fmt.Sprintf(`{"keys": [{"kty": "oct", "alg": "HS256", "kid": %q, "k": %q}]}`, kid, base64.RawURLEncoding.EncodeToString(secret))
		tmp := filepath.Join(dir, ".jwks.tmp")
		if err := os.WriteFile(tmp, []byte(set), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "jwks.json")); err != nil {
			t.Fatal(err)
		}
	}
	first, second := make([]byte, 32), make([]byte, 32)
	rand.Read(first)
	rand.Read(second)
	jwks("2024", first)
	srv, _ := startFromYAML(t, dir, "log: {level: info, format: json}\nlisteners:\n"+
		"  - {name: l, address: '127.0.0.1:0', allow_anonymous: false}\n"+
		"plugins:\n  cache_dir: cache   # the reload then reuses the compiled module\n  chain:\n    - {name: tokens, builtin: jwt, config: {jwks_file: jwks.json}}\n")
	_, port, _ := net.SplitHostPort(srv.listeners[0].Address())
	pub := func(token string) (string, error) {
		return runTool(t, "mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-u", "dev1", "-P", token, "-i", "dev1", "-t", "t", "-m", "x")
	}
	if out, err := pub(hs256Token(first, "2024", "dev1")); err != nil {
		t.Fatalf("token of the set's key: %v\n%s", err, out)
	}
	jwks("2025", second)
	// The reload compiles a 6 MB module: on shared cores under -race that
	// can take longer than the package's 15 s eventually.
	for deadline := time.Now().Add(90 * time.Second); ; {
		out, err := pub(hs256Token(second, "2025", "dev1"))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new key does not admit 90 s after the file changed: %v\n%s", err, out)
		}
	}
	if out, err := pub(hs256Token(first, "2024", "dev1")); err == nil || !strings.Contains(strings.ToLower(out), "bad user name or password") {
		t.Fatalf("the removed key's token: %v, %q; want refused", err, out)
	}
}
