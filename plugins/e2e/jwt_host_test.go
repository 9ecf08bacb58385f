package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/host"
)

// openJWT loads the jwt plugin with config into a host of its own that
// shares the package's compilation cache: the 6 MB module compiles once per
// test process (about a minute under -race), not once per test.
func openJWT(tb testing.TB, config string, allowFS ...string) (*host.Plugin, error) {
	tb.Helper()
	h, err := host.New(context.Background(), zerolog.Nop(), host.Config{CacheDir: cacheDir, Plugins: []host.PluginConfig{{
		Name: "jwt", Path: jwtPlugin(tb), Config: []byte(config), CallTimeout: defaultCallTimeout, PoolSize: 1, AllowFS: allowFS,
	}}})
	if err != nil {
		return nil, err
	}
	tb.Cleanup(func() {
		if err := h.Close(context.Background()); err != nil {
			tb.Errorf("host Close: %v", err)
		}
	})
	return h.Plugin("jwt"), nil
}

func loadJWT(tb testing.TB, config string, allowFS ...string) *host.Plugin {
	tb.Helper()
	p, err := openJWT(tb, config, allowFS...)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// jwtConfig is a config trusting signers' keys inline, with the claim
// checks and mappings the tests exercise.
func jwtConfig(tb testing.TB, signers ...*jwtSigner) string {
	var keys []map[string]string
	for _, s := range signers {
		keys = append(keys, s.keyConfig(tb))
	}
	return mustJSON(tb, map[string]any{
		"keys": keys, "issuer": "https://issuer.example", "audience": "plume", "leeway": "2s",
		"attributes": map[string]string{"tenant": "tenant_id"},
	})
}

// deviceClaims are the claims of a valid token for dev1 with an ACL.
func deviceClaims(extra map[string]any) map[string]any {
	c := map[string]any{
		"sub": "dev1", "iss": "https://issuer.example", "aud": []string{"plume"}, "exp": 10 * time.Minute,
		"tenant_id": "acme", "acl": map[string]any{"pub": []string{"devices/%c/#"}, "sub": []string{"cmd/%c"}},
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// Each algorithm through the real host: the token in the password or in
// the 5.0 authentication data, claims to attributes and principal, refusals
// with 0x86 and a reason string, and the ACL answering authorize.
func TestJWTPluginThroughTheHost(t *testing.T) {
	for _, alg := range []string{"HS256", "RS256", "ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			s := newJWTSigner(t, alg, "k-"+alg)
			p := loadJWT(t, jwtConfig(t, s))
			if !p.Provides(hooks.PointAuthenticate) || !p.Provides(hooks.PointAuthorize) {
				t.Fatal("jwt should provide authenticate and authorize")
			}
			valid := s.token(t, deviceClaims(nil))
			client := func(password string) *hooks.Client {
				return &hooks.Client{ID: "dev1", Username: "any", ProtocolVersion: 5, Creds: &hooks.Credentials{Password: []byte(password)}}
			}
			res, err := p.Authenticate(t.Context(), &hooks.AuthRequest{Client: client(valid)})
			if err != nil || res.Verdict != hooks.Allow || res.Principal != "dev1" ||
				res.Attributes["tenant"] != "acme" || res.Attributes["jwt_acl"] != "D\nap7*~devices/dev1/#\nas7*~cmd/dev1" {
				t.Fatalf("valid token: %+v, %v", res, err)
			}
			res, err = p.Authenticate(t.Context(), &hooks.AuthRequest{Client: client(""), Method: "JWT", Data: []byte(valid)})
			if err != nil || res.Verdict != hooks.Allow || res.Principal != "dev1" {
				t.Fatalf("enhanced auth: %+v, %v", res, err)
			}
			for _, tc := range []struct {
				name   string
				req    hooks.AuthRequest
				want   hooks.Verdict
				reason string
			}{
				{"expired", hooks.AuthRequest{Client: client(s.token(t, deviceClaims(map[string]any{"exp": -time.Minute})))}, hooks.Deny, "token expired"},
				{"not yet valid", hooks.AuthRequest{Client: client(s.token(t, deviceClaims(map[string]any{"nbf": time.Now().Add(time.Hour).Unix()})))}, hooks.Deny, "token not yet valid"},
				{"wrong issuer", hooks.AuthRequest{Client: client(s.token(t, deviceClaims(map[string]any{"iss": "x"})))}, hooks.Deny, "issuer"},
				{"wrong audience", hooks.AuthRequest{Client: client(s.token(t, deviceClaims(map[string]any{"aud": "x"})))}, hooks.Deny, "audience"},
				{"alg none", hooks.AuthRequest{Client: client(jwtEnc(t, map[string]string{"alg": "none"}) + "." + jwtEnc(t, deviceClaims(nil)) + ".")}, hooks.Deny, `"none"`},
				{"bad signature", hooks.AuthRequest{Client: client(valid[:len(valid)-4] + "AAAA")}, hooks.Deny, "signature"},
				{"enhanced, expired", hooks.AuthRequest{Client: client(""), Method: "JWT", Data: []byte(s.token(t, deviceClaims(map[string]any{"exp": -time.Minute})))}, hooks.Deny, "token expired"},
				{"enhanced, not a token", hooks.AuthRequest{Client: client(""), Method: "JWT", Data: []byte("hunter2")}, hooks.Deny, "not a JWT"},
				{"enhanced, no data", hooks.AuthRequest{Client: client(""), Method: "JWT"}, hooks.Deny, "no token"},
				{"a password, not a token", hooks.AuthRequest{Client: client("hunter2")}, hooks.Pass, ""},
				{"no password", hooks.AuthRequest{Client: client("")}, hooks.Pass, ""},
				{"another method", hooks.AuthRequest{Client: client(""), Method: "SCRAM-SHA-256", Data: []byte(valid)}, hooks.Pass, ""},
			} {
				res, err := p.Authenticate(t.Context(), &tc.req)
				if err != nil || res.Verdict != tc.want || !strings.Contains(res.ReasonString, tc.reason) {
					t.Errorf("%s: %+v, %v; want %v with %q", tc.name, res, err, tc.want, tc.reason)
				}
				if tc.want == hooks.Deny && res.Reason != packets.BadUserNameOrPassword {
					t.Errorf("%s: reason %#x, want 0x86", tc.name, res.Reason)
				}
				if strings.Contains(res.ReasonString, valid[:20]) {
					t.Errorf("%s: the reason string echoes the token", tc.name)
				}
			}

			allowed := &hooks.Client{ID: "dev1", Attributes: map[string]string{"jwt_acl": "D\nap7*~devices/dev1/#\nas7*~cmd/dev1"}}
			anon := &hooks.Client{ID: "dev2"}
			for _, tc := range []struct {
				c      *hooks.Client
				action hooks.Action
				topic  string
				want   hooks.Verdict
			}{
				{allowed, hooks.ActionPublish, "devices/dev1/temp", hooks.Allow},
				{allowed, hooks.ActionPublish, "devices/dev2/temp", hooks.Deny},
				{allowed, hooks.ActionSubscribe, "cmd/dev1", hooks.Allow},
				{allowed, hooks.ActionSubscribe, "devices/dev1/temp", hooks.Deny},
				{anon, hooks.ActionPublish, "devices/dev2/temp", hooks.Pass},
			} {
				res, err := p.Authorize(t.Context(), &hooks.AuthzRequest{Client: tc.c, Action: tc.action, Topic: tc.topic, QoS: 1})
				if err != nil || res.Verdict != tc.want || !res.Cache {
					t.Errorf("%s %v %s: %+v, %v; want %v, cacheable", tc.c.ID, tc.action, tc.topic, res, err, tc.want)
				}
				if tc.want == hooks.Deny && (res.Reason != packets.NotAuthorized || !strings.Contains(res.ReasonString, "acl")) {
					t.Errorf("%s: deny %#x %q, want 0x87 naming the acl", tc.topic, res.Reason, res.ReasonString)
				}
			}
		})
	}
}

// A JWK Set file read at init (allow_fs and an absolute path until the
// host's file feature resolves it): its keys verify, and a bad file refuses
// the config with the file and line.
func TestJWTPluginReadsAJWKSFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "jwks.json")
	es, ed := newJWTSigner(t, "ES256", "es"), newJWTSigner(t, "EdDSA", "ed")
	if err := os.WriteFile(path, []byte(mustJSON(t, map[string]any{"keys": []any{es.jwk(), ed.jwk()}})), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := mustJSON(t, map[string]any{"jwks_file": path})
	p := loadJWT(t, cfg, dir)
	for _, s := range []*jwtSigner{es, ed} {
		res, err := p.Authenticate(t.Context(), &hooks.AuthRequest{Client: &hooks.Client{ID: "c", Creds: &hooks.Credentials{Password: []byte(s.token(t, map[string]any{"sub": "u", "exp": time.Minute}))}}})
		if err != nil || res.Verdict != hooks.Allow {
			t.Errorf("%s from the JWK Set: %+v, %v", s.alg, res, err)
		}
	}
	if err := os.WriteFile(path, []byte("{\"keys\": [\n  {\"kty\": \"EC\", \"crv\": \"P-256\", \"x\": \"AA\", \"y\": \"AA\"}\n]}"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := openJWT(t, cfg, dir)
	if err == nil || !strings.Contains(err.Error(), path+":2: keys[0]") {
		t.Fatalf("bad JWK Set: %v, want the file and line", err)
	}
}
