package main

import (
	"strings"
	"testing"

	plume "github.com/plumemq/plume/plugin-sdk/go"
)

// These tests run natively (go test); the plugin's behaviour through the real
// host is tested in host/plugintest (example_auth_test.go).

func TestAuthenticate(t *testing.T) {
	c, err := parseConfig([]byte(`{"users": {
		"alice": {"password": "s3cret", "attributes": {"role": "admin"}},
		"bob": {"password": "$7$101$c2vCgav29TOZ1nCM$TJyuKiBLXjKr81PJXQZA37A/usMj/g61nSqMt/GwDkXAt5GF4XTuB6fUN1smL4X0bFBv97OGuzpEgK5fiAyvUg=="}
	}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user, pass string
		verdict    plume.Verdict
	}{
		{"alice", "s3cret", plume.VerdictAllow},
		{"alice", "wrong", plume.VerdictDeny},
		{"bob", "password", plume.VerdictAllow},
		{"carol", "x", plume.VerdictDeny},
		{"", "", plume.VerdictPass},
	} {
		if d := authenticate(c, tc.user, []byte(tc.pass)); d.Verdict != tc.verdict {
			t.Errorf("%s/%s: verdict %v, want %v", tc.user, tc.pass, d.Verdict, tc.verdict)
		}
	}
	c.DenyAnonymous = true
	if d := authenticate(c, "", nil); d.Verdict != plume.VerdictDeny {
		t.Errorf("anonymous with deny_anonymous: %v, want deny", d.Verdict)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for cfg, want := range map[string]string{
		`{}`:                   "users: none configured",
		`{"users": {"a": {}}}`: "users.a.password: empty",
		`{"users": {"a": {"password": "sha256:5e88"}}}`: "users.a.password: unsalted sha256 is no longer read",
		`{"users": {"a": {"password": "$7$1$zz"}}}`:     "users.a.password: not a password hash",
		`{"user": {}}`: "unknown field",
	} {
		if _, err := parseConfig([]byte(cfg)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", cfg, err, want)
		}
	}
}
