package jwtauth

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// jwk is one JSON Web Key (RFC 7517 §4, RFC 7518 §6, RFC 8037 §2): the
// members this plugin reads.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
	K   string `json:"k"`
}

// errSkipKey marks a key this plugin does not use: an encryption key, or a
// type or algorithm it does not verify. Identity providers publish such keys
// beside the signing ones, so they are skipped, not refused.
var errSkipKey = errors.New("skipped")

func b64(field, s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("%s: not base64url without padding", field)
	}
	return b, nil
}

func (j *jwk) key() (*Key, error) {
	if j.Use != "" && j.Use != "sig" {
		return nil, errSkipKey
	}
	if j.Alg != "" && !isSupported(j.Alg) {
		return nil, errSkipKey
	}
	var k *Key
	switch j.Kty {
	case "oct":
		if j.Alg == "" {
			return nil, errors.New(`kty "oct" needs "alg" (HS256, HS384 or HS512)`)
		}
		secret, err := b64("k", j.K)
		if err != nil {
			return nil, err
		}
		if k, err = newHMACKey(j.Alg, secret); err != nil {
			return nil, err
		}
	case "RSA":
		n, err := b64("n", j.N)
		if err != nil {
			return nil, err
		}
		e, err := b64("e", j.E)
		if err != nil {
			return nil, err
		}
		if len(e) > 4 {
			return nil, errors.New("e: exponent too large")
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if k, err = newPublicKey(j.Alg, pub); err != nil {
			return nil, err
		}
	case "EC":
		if j.Crv != "P-256" {
			return nil, errSkipKey
		}
		x, err := b64("x", j.X)
		if err != nil {
			return nil, err
		}
		y, err := b64("y", j.Y)
		if err != nil {
			return nil, err
		}
		if len(x) != 32 || len(y) != 32 {
			return nil, errors.New("x, y: a P-256 coordinate has 32 bytes")
		}
		// crypto/ecdh checks that the point is on the curve; ecdsa.Verify
		// with an off-curve point is an invalid-curve attack surface.
		if _, err := ecdh.P256().NewPublicKey(append(append([]byte{4}, x...), y...)); err != nil {
			return nil, fmt.Errorf("x, y: %w", err)
		}
		pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
		if k, err = newPublicKey(j.Alg, pub); err != nil {
			return nil, err
		}
	case "OKP":
		if j.Crv != "Ed25519" {
			return nil, errSkipKey
		}
		x, err := b64("x", j.X)
		if err != nil {
			return nil, err
		}
		if len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("x: an Ed25519 key has %d bytes", ed25519.PublicKeySize)
		}
		if k, err = newPublicKey(j.Alg, ed25519.PublicKey(x)); err != nil {
			return nil, err
		}
	case "":
		return nil, errors.New(`no "kty"`)
	default:
		return nil, errSkipKey
	}
	k.ID = j.Kid
	return k, nil
}

func isSupported(alg string) bool {
	for _, a := range Algorithms {
		if a == alg {
			return true
		}
	}
	return false
}

// significant is the offset of the first byte at or after off that is not
// white space or a separator: where the value the decoder reads next starts.
func significant(b []byte, off int64) int64 {
	i := min(off, int64(len(b)))
	for i < int64(len(b)) && bytes.IndexByte([]byte(" \t\r\n,:"), b[i]) >= 0 {
		i++
	}
	return i
}

// lineAt is the 1-based line of the first significant byte at or after off.
func lineAt(b []byte, off int64) int {
	return 1 + bytes.Count(b[:significant(b, off)], []byte("\n"))
}

// ParseJWKS reads a JWK Set (RFC 7517 §5: {"keys": [...]}) from b, the
// contents of the file name. It returns the keys it verifies with and the
// number it skipped (encryption keys, other types and algorithms). Errors
// name the file and the line of the bad key.
func ParseJWKS(name string, b []byte) (keys []*Key, skipped int, err error) {
	fail := func(off int64, format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s", name, lineAt(b, off), fmt.Sprintf(format, args...))
	}
	syntax := func(err error) error {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return fail(se.Offset-1, "%v", se)
		case errors.As(err, &te):
			return fail(te.Offset-1, "%v", te)
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil {
		return nil, 0, syntax(err)
	} else if t != json.Delim('{') {
		return nil, 0, fail(0, `a JWK Set is an object {"keys": [...]}`)
	}
	found := false
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, 0, syntax(err)
		}
		if t != "keys" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, 0, syntax(err)
			}
			continue
		}
		found = true
		at := dec.InputOffset()
		if t, err := dec.Token(); err != nil {
			return nil, 0, syntax(err)
		} else if t != json.Delim('[') {
			return nil, 0, fail(at, `"keys" is not an array`)
		}
		for i := 0; dec.More(); i++ {
			at := dec.InputOffset()
			var j jwk
			if err := dec.Decode(&j); err != nil {
				// A type error's offset counts from the start of the value.
				var te *json.UnmarshalTypeError
				if errors.As(err, &te) {
					return nil, 0, fail(significant(b, at)+te.Offset-1, "keys[%d]: %v", i, te)
				}
				return nil, 0, syntax(err)
			}
			k, err := j.key()
			switch {
			case errors.Is(err, errSkipKey):
				skipped++
				continue
			case err != nil:
				return nil, 0, fail(at, "keys[%d] (kid %q): %v", i, j.Kid, err)
			}
			k.Source = fmt.Sprintf("%s:%d", name, lineAt(b, at))
			keys = append(keys, k)
		}
		if _, err := dec.Token(); err != nil {
			return nil, 0, syntax(err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, 0, syntax(err)
	}
	if !found {
		return nil, 0, fail(0, `no "keys" member: a JWK Set is {"keys": [...]}`)
	}
	return keys, skipped, nil
}
