package jwtauth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

var now = time.Unix(1_800_000_000, 0)

func mustNew(t *testing.T, c Config) *Authenticator {
	t.Helper()
	raw, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func claims(extra map[string]any) map[string]any {
	c := map[string]any{"sub": "dev1", "iss": "https://issuer.example", "aud": "plume", "exp": now.Unix() + 600}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// Every algorithm, the same table: a valid token and each way to be wrong.
func TestEachAlgorithmAcceptsValidAndRefusesTheRest(t *testing.T) {
	for _, alg := range Algorithms {
		t.Run(alg, func(t *testing.T) {
			s := newSigner(t, alg)
			other := newSigner(t, alg) // same algorithm, another key
			if alg == RS256 {
				other = newSigner(t, ES256) // RS256 keys are shared per process
			}
			a := mustNew(t, Config{Keys: []KeyConfig{s.keyConfig("")}, Issuer: "https://issuer.example", Audience: "plume", Leeway: "5s"})
			valid := s.token(t, "", claims(nil))
			tamper := flipSignatureBit(t, valid)
			for _, tc := range []struct {
				name  string
				token string
				want  error
			}{
				{"valid", valid, nil},
				{"aud array", s.token(t, "", claims(map[string]any{"aud": []string{"x", "plume"}})), nil},
				{"exp within leeway", s.token(t, "", claims(map[string]any{"exp": now.Unix() - 4})), nil},
				{"expired", s.token(t, "", claims(map[string]any{"exp": now.Unix() - 6})), ErrExpired},
				{"expired at exp", s.token(t, "", claims(map[string]any{"exp": now.Unix() - 5})), ErrExpired},
				{"not yet valid", s.token(t, "", claims(map[string]any{"nbf": now.Unix() + 6})), ErrNotYetValid},
				{"nbf within leeway", s.token(t, "", claims(map[string]any{"nbf": now.Unix() + 4})), nil},
				{"no exp", s.token(t, "", claims(map[string]any{"exp": nil})), ErrNoExp},
				{"exp not a number", s.token(t, "", claims(map[string]any{"exp": "tomorrow"})), ErrMalformed},
				{"wrong iss", s.token(t, "", claims(map[string]any{"iss": "https://evil.example"})), ErrIssuer},
				{"no iss", s.token(t, "", claims(map[string]any{"iss": nil})), ErrIssuer},
				{"wrong aud", s.token(t, "", claims(map[string]any{"aud": "other"})), ErrAudience},
				{"wrong aud array", s.token(t, "", claims(map[string]any{"aud": []string{"a", "b"}})), ErrAudience},
				{"no sub", s.token(t, "", claims(map[string]any{"sub": nil})), ErrPrincipal},
				{"bad signature", tamper, ErrSignature},
				{"another key", other.token(t, "", claims(nil)), errOneOf(ErrSignature, ErrNoKey)},
				{"alg none", unsigned("none", claims(nil)), ErrAlgNone},
				{"alg None", unsigned("None", claims(nil)), ErrAlgNone},
				{"alg unknown", unsigned("PS256", claims(nil)), ErrAlgRefused},
				{"not a jwt", "hunter2", ErrNotJWS},
				{"two segments", "a.b", ErrNotJWS},
			} {
				_, err := a.Authenticate(Request{Token: tc.token, Now: now})
				if !matches(err, tc.want) {
					t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
				}
				if err != nil && strings.Contains(err.Error(), tc.token) {
					t.Errorf("%s: the reason %q echoes the token", tc.name, err)
				}
			}
		})
	}
}

// flipSignatureBit returns tok with one bit of its signature changed, still
// well-formed base64url.
func flipSignatureBit(t *testing.T, tok string) string {
	i := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil {
		t.Fatal(err)
	}
	sig[len(sig)/2] ^= 1
	return tok[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}

type oneOf []error

func (o oneOf) Error() string { return "one of" }
func errOneOf(errs ...error) error {
	return oneOf(errs)
}

func matches(err, want error) bool {
	if o, ok := want.(oneOf); ok {
		for _, w := range o {
			if errors.Is(err, w) {
				return true
			}
		}
		return false
	}
	if want == nil {
		return err == nil
	}
	return errors.Is(err, want)
}

func unsigned(alg string, c map[string]any) string {
	return enc(map[string]any{"alg": alg}) + "." + enc(c) + "."
}

// The RS/HS confusion: an HS256 token whose HMAC secret is the RSA public
// key's PEM (which an attacker has) must not pass a config that holds that
// public key. Keys are bound to their algorithm, so no HMAC key exists.
func TestAlgorithmConfusionIsRefused(t *testing.T) {
	for _, alg := range []string{RS256, ES256, EdDSA} {
		pub := newSigner(t, alg)
		a := mustNew(t, Config{Keys: []KeyConfig{pub.keyConfig("k1")}})
		for _, hs := range []string{HS256, HS384, HS512} {
			forger := &signer{alg: hs, secret: []byte(pub.pemPub)}
			for _, kid := range []string{"", "k1"} {
				_, err := a.Authenticate(Request{Token: forger.token(t, kid, claims(nil)), Now: now})
				if !errors.Is(err, ErrNoKey) {
					t.Errorf("%s key, %s token (kid %q): err = %v, want %v", alg, hs, kid, err, ErrNoKey)
				}
			}
		}
		// And a token of the key's own algorithm naming another alg in
		// the header is refused by the header, before any key is tried.
		tok := pub.token(t, "k1", claims(nil))
		h, rest, _ := strings.Cut(tok, ".")
		_ = h
		forged := enc(map[string]any{"alg": HS256, "kid": "k1"}) + "." + rest
		if _, err := a.Authenticate(Request{Token: forged, Now: now}); !errors.Is(err, ErrNoKey) {
			t.Errorf("%s: header swapped to HS256: err = %v", alg, err)
		}
	}
}

func TestKidSelectsTheKeyAndAlgorithmsLimit(t *testing.T) {
	s1, s2 := newSigner(t, ES256), newSigner(t, EdDSA)
	a := mustNew(t, Config{Keys: []KeyConfig{s1.keyConfig("one"), s2.keyConfig("two")}, Algorithms: []string{ES256}})
	if _, err := a.Authenticate(Request{Token: s1.token(t, "one", claims(nil)), Now: now}); err != nil {
		t.Errorf("kid one: %v", err)
	}
	if _, err := a.Authenticate(Request{Token: s1.token(t, "two", claims(nil)), Now: now}); !errors.Is(err, ErrNoKey) {
		t.Errorf("ES256 token naming the EdDSA key's kid: %v, want %v", err, ErrNoKey)
	}
	if _, err := a.Authenticate(Request{Token: s2.token(t, "two", claims(nil)), Now: now}); !errors.Is(err, ErrAlgRefused) {
		t.Errorf("EdDSA outside algorithms: %v, want %v", err, ErrAlgRefused)
	}
}

func TestCritHeaderIsRefused(t *testing.T) {
	s := newSigner(t, HS256)
	a := mustNew(t, Config{Keys: []KeyConfig{s.keyConfig("")}})
	input := enc(map[string]any{"alg": HS256, "crit": []string{"exp"}}) + "." + enc(claims(nil))
	tok := input + "." + base64.RawURLEncoding.EncodeToString(s.sign(t, []byte(input)))
	if _, err := a.Authenticate(Request{Token: tok, Now: now}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want %v", err, ErrMalformed)
	}
}

func TestClaimsBecomeAttributesAndPrincipal(t *testing.T) {
	s := newSigner(t, HS256)
	a := mustNew(t, Config{Keys: []KeyConfig{s.keyConfig("")}, PrincipalClaim: "client",
		Attributes: map[string]string{"tenant": "tenant_id", "role": "role", "level": "lvl", "groups": "groups", "absent": "nope"}})
	id, err := a.Authenticate(Request{Token: s.token(t, "", claims(map[string]any{
		"client": "dev-9", "tenant_id": "acme", "role": "admin", "lvl": 3, "groups": []string{"a", "b"}})), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(id)
	want := `{"Principal":"dev-9","Attributes":[{"Key":"groups","Value":"[\"a\",\"b\"]"},{"Key":"level","Value":"3"},{"Key":"role","Value":"admin"},{"Key":"tenant","Value":"acme"}]}`
	if string(got) != want {
		t.Fatalf("identity %s\nwant     %s", got, want)
	}
}

func TestUsernameMustMatchTheConfiguredClaim(t *testing.T) {
	s := newSigner(t, HS256)
	a := mustNew(t, Config{Keys: []KeyConfig{s.keyConfig("")}, UsernameClaim: "sub"})
	tok := s.token(t, "", claims(nil))
	for user, want := range map[string]error{"dev1": nil, "dev2": ErrUsername, "": ErrUsername} {
		if _, err := a.Authenticate(Request{Token: tok, Username: user, Now: now}); !matches(err, want) {
			t.Errorf("username %q: %v, want %v", user, err, want)
		}
	}
	// Without username_claim the username is not looked at.
	b := mustNew(t, Config{Keys: []KeyConfig{s.keyConfig("")}})
	if _, err := b.Authenticate(Request{Token: tok, Username: "anyone", Now: now}); err != nil {
		t.Errorf("no username_claim: %v", err)
	}
}

func TestRequireExpCanBeTurnedOff(t *testing.T) {
	s := newSigner(t, HS256)
	off := false
	a := mustNew(t, Config{Keys: []KeyConfig{s.keyConfig("")}, RequireExp: &off})
	if _, err := a.Authenticate(Request{Token: s.token(t, "", claims(map[string]any{"exp": nil})), Now: now}); err != nil {
		t.Fatal(err)
	}
}
