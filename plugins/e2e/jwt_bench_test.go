package e2e

import (
	"testing"
	"time"

	"github.com/plumemq/plume/core/hooks"
)

// BenchmarkJWTAuthenticate is one CONNECT's authenticate call through the
// real host, per algorithm: the token pulled from the password, its
// signature verified, the claims checked and the ACL claim compiled.
func BenchmarkJWTAuthenticate(b *testing.B) {
	for _, alg := range []string{"HS256", "RS256", "ES256", "EdDSA"} {
		b.Run("alg="+alg, func(b *testing.B) {
			s := newJWTSigner(b, alg, "k")
			p := loadJWT(b, jwtConfig(b, s))
			req := &hooks.AuthRequest{Client: &hooks.Client{ID: "dev1", Username: "dev1",
				ProtocolVersion: 5, Creds: &hooks.Credentials{Password: []byte(s.token(b, deviceClaims(map[string]any{"exp": time.Hour})))}}}
			b.ReportAllocs()
			for b.Loop() {
				if res, err := p.Authenticate(b.Context(), req); err != nil || res.Verdict != hooks.Allow {
					b.Fatalf("%+v, %v", res, err)
				}
			}
		})
	}
}

// BenchmarkJWTAuthorize is one authorize call through the real host: a
// client whose token carried an ACL claim of four filters, publishing to the
// last; and a client without one (the plugin passes). The broker caches
// these answers per client and topic, so a device publishing to one topic
// pays this once per connection.
func BenchmarkJWTAuthorize(b *testing.B) {
	s := newJWTSigner(b, "HS256", "k")
	p := loadJWT(b, jwtConfig(b, s))
	acl := "D\nap7*~sensors/dev1/#\nas7*~cmd/dev1/+\nab7*~shared/dev1\nap7*~telemetry/+/dev1"
	for _, bc := range []struct {
		name  string
		attrs map[string]string
		want  hooks.Verdict
	}{
		{"acl=4-filters", map[string]string{"jwt_acl": acl, "tenant": "acme"}, hooks.Allow},
		{"acl=none", map[string]string{"tenant": "acme"}, hooks.Pass},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req := &hooks.AuthzRequest{Client: &hooks.Client{ID: "dev1", Attributes: bc.attrs}, Action: hooks.ActionPublish, Topic: "telemetry/eu/dev1", QoS: 1}
			b.ReportAllocs()
			for b.Loop() {
				if res, err := p.Authorize(b.Context(), req); err != nil || res.Verdict != bc.want {
					b.Fatalf("%+v, %v", res, err)
				}
			}
		})
	}
}
