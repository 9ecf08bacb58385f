package jwtauth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
)

// Why a token is refused. Each one's text is the reason string the client
// sees: it says what failed and never repeats any part of the token.
var (
	// ErrNotJWS: the credential is not shaped like a JWS compact token
	// (three base64url segments, a JSON header with "alg"). From the
	// password field the plugin then passes, so that a password plugin
	// later in the chain can decide.
	ErrNotJWS      = errors.New("not a JWT")
	ErrMalformed   = errors.New("malformed token")
	ErrAlgNone     = errors.New(`token algorithm "none" refused`)
	ErrAlgRefused  = errors.New("token algorithm not accepted")
	ErrNoKey       = errors.New("no key for the token's kid and algorithm")
	ErrSignature   = errors.New("bad token signature")
	ErrExpired     = errors.New("token expired")
	ErrNotYetValid = errors.New("token not yet valid (nbf)")
	ErrNoExp       = errors.New("token has no exp claim")
	ErrIssuer      = errors.New("token issuer not accepted")
	ErrAudience    = errors.New("token audience not accepted")
	ErrPrincipal   = errors.New("token has no principal claim")
	ErrUsername    = errors.New("username does not match the token")
	ErrACLClaim    = errors.New("token acl claim refused")
)

var b64url = base64.RawURLEncoding.Strict()

// header is the JOSE header members this plugin reads (RFC 7515 §4.1).
type header struct {
	Alg  *string  `json:"alg"`
	Kid  string   `json:"kid"`
	Crit []string `json:"crit"`
}

// Claims is the payload of a verified token, numbers kept as json.Number.
type Claims map[string]any

// verify checks token's signature with a key of s and returns its claims.
// accepted, when not empty, limits the algorithms further.
func (s *Keyset) verify(token string, accepted []string) (Claims, error) {
	h, p, ok := strings.Cut(token, ".")
	if !ok {
		return nil, ErrNotJWS
	}
	p, sig, ok := strings.Cut(p, ".")
	if !ok || strings.Contains(sig, ".") {
		return nil, ErrNotJWS
	}
	hb, err := b64url.DecodeString(h)
	if err != nil {
		return nil, ErrNotJWS
	}
	var hdr header
	if json.Unmarshal(hb, &hdr) != nil || hdr.Alg == nil {
		return nil, ErrNotJWS
	}
	// From here on it is a JWT: every failure is a refusal.
	alg := *hdr.Alg
	switch {
	case strings.EqualFold(alg, "none"):
		return nil, ErrAlgNone
	case !isSupported(alg) || len(accepted) > 0 && !slices.Contains(accepted, alg):
		return nil, ErrAlgRefused
	case hdr.Crit != nil:
		// RFC 7515 §4.1.11: extensions the recipient does not understand
		// make the token invalid; this plugin understands none.
		return nil, ErrMalformed
	}
	keys := s.candidates(alg, hdr.Kid)
	if len(keys) == 0 {
		return nil, ErrNoKey
	}
	sb, err := b64url.DecodeString(sig)
	if err != nil {
		return nil, ErrMalformed
	}
	input := []byte(token[:len(h)+1+len(p)])
	verified := false
	for _, k := range keys {
		if k.verify(input, sb) {
			verified = true
			break
		}
	}
	if !verified {
		return nil, ErrSignature
	}
	pb, err := b64url.DecodeString(p)
	if err != nil {
		return nil, ErrMalformed
	}
	d := json.NewDecoder(bytes.NewReader(pb))
	d.UseNumber()
	var c Claims
	if err := d.Decode(&c); err != nil || c == nil || d.More() {
		return nil, ErrMalformed
	}
	return c, nil
}

// numericDate reads a NumericDate claim (RFC 7519 §2: seconds since 1970,
// possibly fractional). ok is false when absent; err when not a number.
func (c Claims) numericDate(name string) (secs float64, ok bool, err error) {
	v, ok := c[name]
	if !ok {
		return 0, false, nil
	}
	n, isNum := v.(json.Number)
	if !isNum {
		return 0, true, ErrMalformed
	}
	f, err := n.Float64()
	if err != nil {
		return 0, true, ErrMalformed
	}
	return f, true, nil
}

// String returns a string claim.
func (c Claims) String(name string) (string, bool) {
	s, ok := c[name].(string)
	return s, ok
}

// hasAudience reports whether the aud claim (a string or an array of
// strings, RFC 7519 §4.1.3) contains want.
func (c Claims) hasAudience(want string) bool {
	switch aud := c["aud"].(type) {
	case string:
		return aud == want
	case []any:
		for _, a := range aud {
			if a == want {
				return true
			}
		}
	}
	return false
}

// attributeValue renders a claim as an attribute value: strings as they
// are, numbers and booleans as JSON writes them, arrays and objects as
// compact JSON.
func attributeValue(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}
