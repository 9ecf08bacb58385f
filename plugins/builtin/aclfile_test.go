package builtin_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/host/plugintest"
)

// The acl-file built-in through the real host (plugintest): the embedded
// module, its config, its answers and their flags.

const aclWasm = "wasm/acl-file.wasm"

func loadACL(tb testing.TB, acl, config string) *plugintest.Plugin {
	tb.Helper()
	dir := tb.TempDir()
	path := filepath.Join(dir, "acl")
	if err := os.WriteFile(path, []byte(acl), 0o600); err != nil {
		tb.Fatal(err)
	}
	config = strings.ReplaceAll(config, "ACL", path)
	return plugintest.Load(tb, aclWasm, plugintest.Options{Config: []byte(config), AllowFS: []string{dir}})
}

const aclRules = `{"file": "ACL", "rules": [
	{"name": "sensors", "match": {"attributes": {"role": "sensor"}},
	 "allow": {"publish": ["tenants/%{tenant}/sensors/%c/#"], "subscribe": ["tenants/%{tenant}/commands/%c"]},
	 "deny": {"publish": ["tenants/%{tenant}/sensors/%c/firmware"]}},
	{"match": {"attributes": {"role": ["operator", "admin"]}},
	 "allow": {"subscribe": ["tenants/%{tenant}/#"]}}
]}`

func TestACLFileThroughTheHost(t *testing.T) {
	p := loadACL(t, "user alice\ntopic readwrite a/#\n", aclRules)
	sensor := &hooks.Client{ID: "s1", Username: "dev", Attributes: map[string]string{"role": "sensor", "tenant": "acme"}}
	op := &hooks.Client{ID: "o1", Username: "olga", Attributes: map[string]string{"role": "operator", "tenant": "acme"}}
	evil := &hooks.Client{ID: "s/2", Attributes: map[string]string{"role": "sensor", "tenant": "acme"}}
	alice := &hooks.Client{ID: "a1", Username: "alice"}
	for _, c := range []struct {
		client *hooks.Client
		action hooks.Action
		topic  string
		want   hooks.Verdict
		why    string
	}{
		{sensor, hooks.ActionPublish, "tenants/acme/sensors/s1/temp", hooks.Allow, ""},
		{sensor, hooks.ActionPublish, "tenants/acme/sensors/s1/firmware", hooks.Deny, "acl: rules[0] (sensors) denies publish to tenants/acme/sensors/s1/firmware"},
		{sensor, hooks.ActionPublish, "tenants/other/sensors/s1/temp", hooks.Deny, "acl: no rule allows publish to tenants/other/sensors/s1/temp"},
		{sensor, hooks.ActionSubscribe, "tenants/acme/commands/s1", hooks.Allow, ""},
		{sensor, hooks.ActionSubscribe, "tenants/acme/commands/+", hooks.Deny, "acl: subscribe to tenants/acme/commands/+ reaches topics no rule allows reading"},
		{op, hooks.ActionSubscribe, "tenants/acme/#", hooks.Allow, ""},
		{op, hooks.ActionSubscribe, "$share/ops/tenants/acme/sensors/#", hooks.Allow, ""},
		{op, hooks.ActionSubscribe, "tenants/#", hooks.Deny, "acl: subscribe to tenants/# reaches topics no rule allows reading"},
		// A client id holding '/' would step into another level: its deny
		// cannot be written out, so it denies.
		{evil, hooks.ActionPublish, "tenants/acme/sensors/s/2/temp", hooks.Deny, `acl: rules[0] (sensors) denies: client id unusable in "tenants/%{tenant}/sensors/%c/firmware"`},
		// No rule matches alice: the file decides.
		{alice, hooks.ActionPublish, "a/b", hooks.Allow, ""},
		{alice, hooks.ActionPublish, "b", hooks.Deny, "acl: no rule allows publish to b"},
	} {
		res, err := p.Authorize(&hooks.AuthzRequest{Client: c.client, Action: c.action, Topic: c.topic})
		if err != nil {
			t.Fatalf("%s %s: %v", c.action, c.topic, err)
		}
		if res.Verdict != c.want || res.ReasonString != c.why || !res.Cache {
			t.Errorf("%s %s %s: %+v, want %v %q, cacheable", c.client.ID, c.action, c.topic, res, c.want, c.why)
		}
		if res.Verdict == hooks.Deny && res.Reason != 0x87 {
			t.Errorf("%s %s: reason code %#x, want 0x87", c.action, c.topic, res.Reason)
		}
	}
}

// no_match: pass leaves what nothing decided to the next plugin.
func TestACLFileNoMatchPass(t *testing.T) {
	p := loadACL(t, "topic read x\n", `{"file": "ACL", "no_match": "pass"}`)
	res, err := p.Authorize(&hooks.AuthzRequest{Client: &hooks.Client{ID: "c"}, Action: hooks.ActionPublish, Topic: "y"})
	if err != nil || res.Verdict != hooks.Pass || !res.Cache {
		t.Fatalf("%+v, %v; want a cacheable pass", res, err)
	}
}

// A malformed file refuses init, naming the file and the line.
func TestACLFileBadFileRefusesInit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "acl")
	if err := os.WriteFile(path, []byte("topic read a\n\ntopic sometimes b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := plugintest.Open(t.Context(), aclWasm, plugintest.Options{
		Config: []byte(`{"file": "` + path + `"}`), AllowFS: []string{dir}})
	if err == nil || !strings.Contains(err.Error(), path+`:3: access "sometimes" is none of read, write, readwrite, deny`) {
		t.Fatalf("err = %v, want the file and line 3 named", err)
	}
	_, err = plugintest.Open(t.Context(), aclWasm, plugintest.Options{Config: []byte(`{"rules": [{"allow": {"publish": ["a/%x"]}}]}`)})
	if err == nil || !strings.Contains(err.Error(), `rules[0].allow.publish[0]: "a/%x"`) {
		t.Fatalf("err = %v, want the rule's key named", err)
	}
}

// BenchmarkACLFileAuthorize is the per-call cost of authorize through the
// host: a publish allowed by a user line, a pattern, and a rule on
// attributes, and a subscribe. The broker's cache (the answers are
// cacheable) makes repeats of a client's topic cost a map lookup instead.
func BenchmarkACLFileAuthorize(b *testing.B) {
	p := loadACL(b, "user alice\ntopic readwrite a/#\ntopic deny a/secret\npattern readwrite devices/%c/#\n", aclRules)
	// Handles as the broker numbers connections.
	alice := &hooks.Client{ID: "a1", Username: "alice", Handle: 1}
	sensor := &hooks.Client{ID: "s1", Username: "dev", Attributes: map[string]string{"role": "sensor", "tenant": "acme"}, Handle: 2}
	for _, c := range []struct {
		name string
		req  hooks.AuthzRequest
	}{
		{"file-user-line", hooks.AuthzRequest{Client: alice, Topic: "a/b/c"}},
		{"file-pattern", hooks.AuthzRequest{Client: alice, Topic: "devices/a1/status"}},
		{"rule-attributes", hooks.AuthzRequest{Client: sensor, Topic: "tenants/acme/sensors/s1/temp"}},
		{"subscribe-wildcard", hooks.AuthzRequest{Client: alice, Action: hooks.ActionSubscribe, Topic: "a/+/c"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if res, err := p.Authorize(&c.req); err != nil || res.Verdict != hooks.Allow {
					b.Fatalf("%+v %v", res, err)
				}
			}
		})
	}
}
