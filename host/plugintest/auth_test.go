package plugintest_test

import (
	"strings"
	"testing"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/host/plugintest"
)

const authConfig = `{"users": {
	"alice": {"password": "s3cret", "attributes": {"role": "admin", "tenant": "acme"}},
	"bob": {"password": "$7$101$c2vCgav29TOZ1nCM$TJyuKiBLXjKr81PJXQZA37A/usMj/g61nSqMt/GwDkXAt5GF4XTuB6fUN1smL4X0bFBv97OGuzpEgK5fiAyvUg=="}
}, "deny_anonymous": true}`

// The auth-go example, built from its source, through the real host.
func TestAuthGoExample(t *testing.T) {
	wasm := plugintest.BuildGo(t, "../../examples/plugins/auth-go", ".")
	p := plugintest.Load(t, wasm, plugintest.Options{Config: []byte(authConfig)})
	if !p.Provides(hooks.PointAuthenticate) || p.Provides(hooks.PointAuthorize) || p.Provides(hooks.PointTransform) {
		t.Error("auth-go should provide authenticate only")
	}
	for _, tc := range []struct {
		user, pass string
		verdict    hooks.Verdict
		reason     packets.ReasonCode
		attrs      map[string]string
	}{
		{"alice", "s3cret", hooks.Allow, 0, map[string]string{"role": "admin", "tenant": "acme", "username": "alice"}},
		{"bob", "password", hooks.Allow, 0, map[string]string{"username": "bob"}},
		{"alice", "S3cret", hooks.Deny, packets.BadUserNameOrPassword, nil},
		{"mallory", "s3cret", hooks.Deny, packets.BadUserNameOrPassword, nil},
		{"", "", hooks.Deny, packets.NotAuthorized, nil},
	} {
		c := &hooks.Client{ID: "c", Username: tc.user, ProtocolVersion: 4, Creds: &hooks.Credentials{Password: []byte(tc.pass)}}
		res, err := p.Authenticate(&hooks.AuthRequest{Client: c})
		if err != nil || res.Verdict != tc.verdict || res.Reason != tc.reason || len(res.Attributes) != len(tc.attrs) {
			t.Errorf("%s/%s: %+v, %v; want %v %v %v", tc.user, tc.pass, res, err, tc.verdict, tc.reason, tc.attrs)
			continue
		}
		for k, v := range tc.attrs {
			if res.Attributes[k] != v {
				t.Errorf("%s: attribute %s = %q, want %q", tc.user, k, res.Attributes[k], v)
			}
		}
	}
}

func TestAuthGoRefusesBadConfig(t *testing.T) {
	wasm := plugintest.BuildGo(t, "../../examples/plugins/auth-go", ".")
	_, err := plugintest.Open(t.Context(), wasm, plugintest.Options{Config: []byte(`{"users": {"a": {}}}`)})
	if err == nil || !strings.Contains(err.Error(), "users.a.password: empty") {
		t.Fatalf("err = %v, want the plugin's config error", err)
	}
}
