package jwtauth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// jwkOf is s's public key as a JWK (what an identity provider publishes).
func jwkOf(s *signer, kid string, withAlg bool) map[string]any {
	b := base64.RawURLEncoding.EncodeToString
	m := map[string]any{"kid": kid, "use": "sig"}
	if withAlg {
		m["alg"] = s.alg
	}
	switch k := s.priv.(type) {
	case *rsa.PrivateKey:
		m["kty"], m["n"], m["e"] = "RSA", b(k.N.Bytes()), b(big.NewInt(int64(k.E)).Bytes())
	case *ecdsa.PrivateKey:
		x, y := make([]byte, 32), make([]byte, 32)
		pub, _ := k.PublicKey.ECDH()
		raw := pub.Bytes() // 0x04 || X || Y
		copy(x, raw[1:33])
		copy(y, raw[33:])
		m["kty"], m["crv"], m["x"], m["y"] = "EC", "P-256", b(x), b(y)
	case ed25519.PrivateKey:
		m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", b(k.Public().(ed25519.PublicKey))
	default:
		m["kty"], m["k"], m["alg"] = "oct", b(s.secret), s.alg
	}
	return m
}

func writeJWKS(t *testing.T, keys ...any) string {
	t.Helper()
	b, err := json.MarshalIndent(map[string]any{"keys": keys}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Every algorithm from a JWK Set, with and without "alg" (then the key type
// decides), the kid selecting the key; keys the plugin does not use are
// skipped, not refused.
func TestJWKSKeysVerifyByKid(t *testing.T) {
	var keys []any
	var signers []*signer
	for i, alg := range Algorithms {
		s := newSigner(t, alg)
		signers = append(signers, s)
		keys = append(keys, jwkOf(s, alg, i%2 == 0 || s.secret != nil))
	}
	keys = append(keys,
		map[string]any{"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"},
		map[string]any{"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"},
		map[string]any{"kty": "RSA", "alg": "PS256", "n": "AQAB", "e": "AQAB"})
	p := writeJWKS(t, keys...)
	raw, _ := json.Marshal(Config{JWKSFile: p})
	a, err := New(raw, os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	if a.Keys() != len(Algorithms) || a.Skipped != 3 {
		t.Fatalf("%d keys, %d skipped; want %d, 3", a.Keys(), a.Skipped, len(Algorithms))
	}
	for _, s := range signers {
		if _, err := a.Authenticate(Request{Token: s.token(t, s.alg, claims(nil)), Now: now}); err != nil {
			t.Errorf("%s: %v", s.alg, err)
		}
		if _, err := a.Authenticate(Request{Token: s.token(t, "missing", claims(nil)), Now: now}); !errors.Is(err, ErrNoKey) {
			t.Errorf("%s, unknown kid: %v", s.alg, err)
		}
	}
}

// A bad JWK Set fails init with the file and the line of what is wrong.
func TestJWKSErrorsNameFileAndLine(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ text, want string }{
		{"{\"keys\": [\n  {\"kty\": \"EC\", \"crv\": \"P-256\", \"x\": \"AAAA\", \"y\": \"AAAA\"}\n]}", ":2: keys[0]"},
		{"{\"keys\": [\n  {\"kty\": \"OKP\", \"crv\": \"Ed25519\", \"x\": \"AA\"},\n  {\"kty\": \"oct\", \"k\": \"c2VjcmV0\"}\n]}", ":2: keys[0]"},
		{"{\"keys\": [\n  {\"kty\": \"oct\", \"alg\": \"HS256\", \"k\": \"c2hvcnQ\"}\n]}", "RFC 7518"},
		{"{\"keys\": [\n  {\"kty\": \"RSA\", \"n\": \"AQAB\", \"e\": \"AQAB\"}]}", "bits"},
		{"{\"keys\": [\n  {\"kty\": \"RSA\",\n   \"n\": 5}\n]}", ":3:"},
		{"{\"keys\": [\n\n  {\"kty\": }\n]}", ":3:"},
		{"{\"keys\": {}}", "not an array"},
		{"[]", "a JWK Set is an object"},
		{"{\"key\": []}", "no \"keys\""},
		{"{\"keys\": []}", "no keys"},
	} {
		p := filepath.Join(dir, "jwks.json")
		if err := os.WriteFile(p, []byte(c.text), 0o600); err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(Config{JWKSFile: p})
		_, err := New(raw, os.ReadFile)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "jwks_file") {
			t.Errorf("%q: err = %v, want one with %q", c.text, err, c.want)
		}
	}
	raw, _ := json.Marshal(Config{JWKSFile: filepath.Join(dir, "absent.json")})
	if _, err := New(raw, os.ReadFile); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	hs := newSigner(t, HS256)
	ed := newSigner(t, EdDSA)
	for _, c := range []struct{ config, want string }{
		{``, "empty"},
		{`{}`, "no keys"},
		{`{"keys": [{"alg": "HS256", "secret": "short"}]}`, "keys[0]: HS256 secret has 5 bytes"},
		{`{"keys": [{"secret": "` + strings.Repeat("s", 32) + `"}]}`, "keys[0]: alg: missing"},
		{`{"keys": [{"alg": "none", "secret": "` + strings.Repeat("s", 32) + `"}]}`, `keys[0]: alg: "none"`},
		{`{"keys": [{"alg": "RS256", "secret": "` + strings.Repeat("s", 32) + `"}]}`, "needs a public_key"},
		{`{"keys": [{"alg": "HS256", "public_key": ` + quote(ed.pemPub) + `}]}`, "needs a secret"},
		{`{"keys": [{"alg": "RS256", "public_key": ` + quote(ed.pemPub) + `}]}`, "an Ed25519 key verifies EdDSA"},
		{`{"keys": [{"alg": "EdDSA", "public_key": "junk"}]}`, "no PEM block"},
		{`{"keys": [{"alg": "HS256", "secret": "a", "secret_base64": "b"}]}`, "exactly one"},
		{`{"keys": [` + keyJSON(hs) + `], "algorithms": ["ES256"]}`, "algorithms[0]: no key verifies ES256"},
		{`{"keys": [` + keyJSON(hs) + `], "leeway": "soon"}`, "leeway"},
		{`{"keys": [` + keyJSON(hs) + `], "attributes": {"jwt_acl": "acl"}}`, "attributes.jwt_acl"},
		{`{"keys": [` + keyJSON(hs) + `], "max_acl_bytes": -1}`, "max_acl_bytes"},
		{`{"keys": [` + keyJSON(hs) + `], "isuser": "x"}`, `unknown field "isuser"`},
	} {
		_, err := New([]byte(c.config), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one with %q", c.config, err, c.want)
		}
	}
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

func keyJSON(s *signer) string { b, _ := json.Marshal(s.keyConfig("")); return string(b) }

// A PEM CERTIFICATE is accepted as a public_key: its key verifies (the
// certificate's own validity is not the token's).
func TestPublicKeyFromACertificate(t *testing.T) {
	s := newSigner(t, ES256)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, s.priv.Public(), s.priv)
	if err != nil {
		t.Fatal(err)
	}
	cert := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	a := mustNew(t, Config{Keys: []KeyConfig{{Alg: ES256, PublicKey: cert}}})
	if _, err := a.Authenticate(Request{Token: s.token(t, "", claims(nil)), Now: now}); err != nil {
		t.Fatal(err)
	}
}
