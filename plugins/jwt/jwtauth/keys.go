package jwtauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"slices"
)

// The algorithms this plugin verifies (RFC 7518 names). Anything else,
// "none" first of all, is refused.
const (
	HS256 = "HS256"
	HS384 = "HS384"
	HS512 = "HS512"
	RS256 = "RS256"
	ES256 = "ES256"
	EdDSA = "EdDSA"
)

// Algorithms lists the supported algorithms.
var Algorithms = []string{HS256, HS384, HS512, RS256, ES256, EdDSA}

// minRSABits refuses keys that RFC 7518 §3.3 forbids (below 2048 bits).
const minRSABits = 2048

// Key is one verification key, bound to exactly one algorithm: a token is
// checked only against keys of the algorithm its header names, so an RSA
// public key can never serve as an HMAC secret (the "alg confusion" attack).
type Key struct {
	ID     string // kid; "" matches tokens without a kid only by algorithm
	Alg    string
	Source string // where it was configured, for errors and logs

	secret []byte // HS*
	rsa    *rsa.PublicKey
	ec     *ecdsa.PublicKey
	ed     ed25519.PublicKey
}

func hmacHash(alg string) (func() hash.Hash, int) {
	switch alg {
	case HS256:
		return sha256.New, sha256.Size
	case HS384:
		return sha512.New384, sha512.Size384
	case HS512:
		return sha512.New, sha512.Size
	}
	return nil, 0
}

func isHMAC(alg string) bool { h, _ := hmacHash(alg); return h != nil }

// newHMACKey binds secret to alg. RFC 7518 §3.2: the key must be at least as
// long as the hash output; shorter secrets are guessable offline from any
// one token, so they are refused rather than accepted with a warning.
func newHMACKey(alg string, secret []byte) (*Key, error) {
	_, size := hmacHash(alg)
	if size == 0 {
		return nil, fmt.Errorf("alg %q is not an HMAC algorithm (want one of HS256, HS384, HS512 with a secret)", alg)
	}
	if len(secret) < size {
		return nil, fmt.Errorf("%s secret has %d bytes; RFC 7518 requires at least %d", alg, len(secret), size)
	}
	return &Key{Alg: alg, secret: secret}, nil
}

// newPublicKey binds a parsed public key to alg, which may be "" to take the
// key type's one algorithm.
func newPublicKey(alg string, pub crypto.PublicKey) (*Key, error) {
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		if alg != "" && alg != RS256 {
			return nil, fmt.Errorf("an RSA key verifies RS256, not %q", alg)
		}
		if pub.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key has %d bits; at least %d required", pub.N.BitLen(), minRSABits)
		}
		return &Key{Alg: RS256, rsa: pub}, nil
	case *ecdsa.PublicKey:
		if alg != "" && alg != ES256 {
			return nil, fmt.Errorf("an EC key verifies ES256, not %q", alg)
		}
		if pub.Curve != elliptic.P256() {
			return nil, fmt.Errorf("EC key on curve %s; ES256 needs P-256", pub.Curve.Params().Name)
		}
		return &Key{Alg: ES256, ec: pub}, nil
	case ed25519.PublicKey:
		if alg != "" && alg != EdDSA {
			return nil, fmt.Errorf("an Ed25519 key verifies EdDSA, not %q", alg)
		}
		return &Key{Alg: EdDSA, ed: pub}, nil
	}
	return nil, fmt.Errorf("unsupported public key type %T (want RSA, EC P-256 or Ed25519)", pub)
}

// parsePEM reads one PEM block: a PUBLIC KEY (PKIX) or a CERTIFICATE, whose
// public key is taken (its validity is not checked: the token's claims are).
func parsePEM(alg, text string) (*Key, error) {
	block, rest := pem.Decode([]byte(text))
	if block == nil {
		return nil, errors.New("no PEM block found (want -----BEGIN PUBLIC KEY-----)")
	}
	if p, _ := pem.Decode(rest); p != nil {
		return nil, errors.New("more than one PEM block: give one key per entry")
	}
	var pub crypto.PublicKey
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PUBLIC KEY: %w", err)
		}
		pub = k
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("RSA PUBLIC KEY: %w", err)
		}
		pub = k
	case "CERTIFICATE":
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("CERTIFICATE: %w", err)
		}
		pub = c.PublicKey
	default:
		return nil, fmt.Errorf("PEM block %q: want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE (never a private key)", block.Type)
	}
	return newPublicKey(alg, pub)
}

// verify reports whether sig is k's signature of input.
func (k *Key) verify(input, sig []byte) bool {
	switch k.Alg {
	case HS256, HS384, HS512:
		h, _ := hmacHash(k.Alg)
		m := hmac.New(h, k.secret)
		m.Write(input)
		return hmac.Equal(m.Sum(nil), sig)
	case RS256:
		sum := sha256.Sum256(input)
		return rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, sum[:], sig) == nil
	case ES256:
		// RFC 7518 §3.4: R and S as two 32-byte big-endian integers, not DER.
		if len(sig) != 64 {
			return false
		}
		sum := sha256.Sum256(input)
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(k.ec, sum[:], r, s)
	case EdDSA:
		return len(sig) == ed25519.SignatureSize && ed25519.Verify(k.ed, input, sig)
	}
	return false
}

// Keyset is the keys a token may be verified with.
type Keyset struct{ keys []*Key }

// Len is the number of keys.
func (s *Keyset) Len() int { return len(s.keys) }

// candidates are the keys that may have signed a token of alg and kid: bound
// to alg, and with the same kid when the token names one. A token without a
// kid is tried against every key of its algorithm.
func (s *Keyset) candidates(alg, kid string) []*Key {
	var out []*Key
	for _, k := range s.keys {
		if k.Alg == alg && (kid == "" || k.ID == kid) {
			out = append(out, k)
		}
	}
	return out
}

// algorithms is the set of algorithms some key verifies.
func (s *Keyset) algorithms() []string {
	var out []string
	for _, k := range s.keys {
		if !slices.Contains(out, k.Alg) {
			out = append(out, k.Alg)
		}
	}
	return out
}
