package e2e

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
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/plumemq/plume/host/plugintest"
)

// jwtDir is the jwt plugin's module.
const jwtDir = repoRoot + "/plugins/jwt"

// jwtPlugin builds the jwt plugin from its source.
func jwtPlugin(tb testing.TB) string { return plugintest.BuildGo(tb, jwtDir, ".") }

// jwtSigner issues test tokens with one algorithm (a test-side issuer: the
// plugin's own signing helpers live in its module, which this one cannot
// import).
type jwtSigner struct {
	alg    string
	kid    string
	secret []byte
	priv   crypto.Signer
}

var (
	e2eRSAOnce sync.Once
	e2eRSAKey  *rsa.PrivateKey
)

func newJWTSigner(tb testing.TB, alg, kid string) *jwtSigner {
	tb.Helper()
	s := &jwtSigner{alg: alg, kid: kid}
	var err error
	switch alg {
	case "HS256":
		s.secret = make([]byte, 32)
		rand.Read(s.secret)
	case "RS256":
		e2eRSAOnce.Do(func() { e2eRSAKey, err = rsa.GenerateKey(rand.Reader, 2048) })
		s.priv = e2eRSAKey
	case "ES256":
		s.priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, s.priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		tb.Fatalf("no test signer for %s", alg)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// keyConfig is the plugin's inline key entry for s.
func (s *jwtSigner) keyConfig(tb testing.TB) map[string]string {
	if s.secret != nil {
		return map[string]string{"alg": s.alg, "kid": s.kid, "secret_base64": base64.StdEncoding.EncodeToString(s.secret)}
	}
	der, err := x509.MarshalPKIXPublicKey(s.priv.Public())
	if err != nil {
		tb.Fatal(err)
	}
	return map[string]string{"alg": s.alg, "kid": s.kid, "public_key": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}
}

// jwk is s's public key as a JWK Set entry.
func (s *jwtSigner) jwk() map[string]string {
	b := base64.RawURLEncoding.EncodeToString
	m := map[string]string{"kid": s.kid, "alg": s.alg, "use": "sig"}
	switch k := s.priv.(type) {
	case *rsa.PrivateKey:
		m["kty"], m["n"], m["e"] = "RSA", b(k.N.Bytes()), b(big.NewInt(int64(k.E)).Bytes())
	case *ecdsa.PrivateKey:
		pub, _ := k.PublicKey.ECDH()
		raw := pub.Bytes()
		m["kty"], m["crv"], m["x"], m["y"] = "EC", "P-256", b(raw[1:33]), b(raw[33:])
	case ed25519.PrivateKey:
		m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", b(k.Public().(ed25519.PublicKey))
	default:
		m["kty"], m["k"] = "oct", b(s.secret)
	}
	return m
}

// token signs claims; a claim "exp" of type time.Duration is made relative
// to now.
func (s *jwtSigner) token(tb testing.TB, claims map[string]any) string {
	tb.Helper()
	c := map[string]any{}
	for k, v := range claims {
		if d, ok := v.(time.Duration); ok {
			v = time.Now().Add(d).Unix()
		}
		c[k] = v
	}
	h := map[string]any{"alg": s.alg, "typ": "JWT"}
	if s.kid != "" {
		h["kid"] = s.kid
	}
	input := jwtEnc(tb, h) + "." + jwtEnc(tb, c)
	var sig []byte
	sum := sha256.Sum256([]byte(input))
	var err error
	switch k := s.priv.(type) {
	case nil:
		m := hmac.New(sha256.New, s.secret)
		m.Write([]byte(input))
		sig = m.Sum(nil)
	case *rsa.PrivateKey:
		sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
	case *ecdsa.PrivateKey:
		var r, ss *big.Int
		r, ss, err = ecdsa.Sign(rand.Reader, k, sum[:])
		if err == nil {
			sig = make([]byte, 64)
			r.FillBytes(sig[:32])
			ss.FillBytes(sig[32:])
		}
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, []byte(input))
	}
	if err != nil {
		tb.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func jwtEnc(tb testing.TB, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func mustJSON(tb testing.TB, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}
