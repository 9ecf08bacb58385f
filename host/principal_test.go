package host

import (
	"context"
	"testing"

	"github.com/plumemq/plume/core/hooks"
)

// ABI field 15 (PRINCIPAL), added within v1: authenticate names the identity
// that owns the client's sessions, and later calls read it.
func TestPluginNamesAndReadsThePrincipal(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		_, p := probeHost(t, engine)
		ctx := context.Background()
		res, err := p.Authenticate(ctx, &hooks.AuthRequest{Client: &hooks.Client{ID: "x", Username: "alias", Creds: &hooks.Credentials{Password: []byte("alias-pw")}}})
		if err != nil || res.Verdict != hooks.Allow || res.Principal != "alice" {
			t.Fatalf("alias: %+v, %v; want allow as principal alice", res, err)
		}
		res, err = p.Authenticate(ctx, &hooks.AuthRequest{Client: &hooks.Client{ID: "y", Username: "bob", Creds: &hooks.Credentials{Password: []byte("bob-pw")}}})
		if err != nil || res.Principal != "" {
			t.Fatalf("bob: principal %q, %v; want none named (the broker uses the username)", res.Principal, err)
		}
		for _, tc := range []struct {
			client *hooks.Client
			want   string
		}{
			{&hooks.Client{ID: "a", Username: "alias", Authenticated: true, Principal: "alice"}, "alice"},
			{&hooks.Client{ID: "n", Authenticated: true}, ""}, // authenticated, no name: present and empty
			{&hooks.Client{ID: "anon", Username: "claims-alice"}, "<absent>"},
		} {
			res, err := p.Authorize(ctx, &hooks.AuthzRequest{Client: tc.client, Topic: "principal"})
			if err != nil || res.ReasonString != tc.want {
				t.Errorf("%s: plugin read principal %q (%v), want %q", tc.client.ID, res.ReasonString, err, tc.want)
			}
		}
	})
}
