package jwtauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"hash"
	"sync"
	"testing"
)

// signer signs test tokens with one algorithm and knows its public half.
type signer struct {
	alg    string
	secret []byte // HS*
	priv   crypto.Signer
	pemPub string
}

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

// newSigner makes a fresh key for alg (RSA is generated once per process:
// 2048-bit generation is slow).
func newSigner(t testing.TB, alg string) *signer {
	t.Helper()
	s := &signer{alg: alg}
	var err error
	switch alg {
	case HS256, HS384, HS512:
		s.secret = make([]byte, 64)
		rand.Read(s.secret)
		return s
	case RS256:
		rsaOnce.Do(func() { rsaKey, err = rsa.GenerateKey(rand.Reader, 2048) })
		s.priv = rsaKey
	case ES256:
		s.priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, s.priv, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(s.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	s.pemPub = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	return s
}

// keyConfig is the inline config entry that verifies s's tokens.
func (s *signer) keyConfig(kid string) KeyConfig {
	if s.secret != nil {
		return KeyConfig{Kid: kid, Alg: s.alg, SecretBase64: base64.StdEncoding.EncodeToString(s.secret)}
	}
	return KeyConfig{Kid: kid, Alg: s.alg, PublicKey: s.pemPub}
}

func enc(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// token signs claims with header {"alg": s.alg, "kid": kid}.
func (s *signer) token(t testing.TB, kid string, claims map[string]any) string {
	t.Helper()
	h := map[string]any{"alg": s.alg, "typ": "JWT"}
	if kid != "" {
		h["kid"] = kid
	}
	input := enc(h) + "." + enc(claims)
	return input + "." + base64.RawURLEncoding.EncodeToString(s.sign(t, []byte(input)))
}

func (s *signer) sign(t testing.TB, input []byte) []byte {
	t.Helper()
	if s.secret != nil {
		h, _ := hmacHash(s.alg)
		return hmacSum(h, s.secret, input)
	}
	sum := sha256.Sum256(input)
	switch k := s.priv.(type) {
	case *rsa.PrivateKey:
		sig, err := rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		return sig
	case *ecdsa.PrivateKey:
		r, ss, err := ecdsa.Sign(rand.Reader, k, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		ss.FillBytes(sig[32:])
		return sig
	case ed25519.PrivateKey:
		return ed25519.Sign(k, input)
	}
	t.Fatalf("no signer for %s", s.alg)
	return nil
}

func hmacSum(h func() hash.Hash, secret, input []byte) []byte {
	m := hmac.New(h, secret)
	m.Write(input)
	return m.Sum(nil)
}
