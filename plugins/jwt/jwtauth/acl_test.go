package jwtauth

import (
	"encoding/json"
	"strings"
	"testing"
)

func compile(t *testing.T, claim, clientID, username string) string {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(claim))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	acl, err := compileACL(v, clientID, username)
	if err != nil {
		t.Fatalf("compile %s: %v", claim, err)
	}
	return acl
}

type authzCase struct {
	action Action
	topic  string
	qos    byte
	retain bool
	want   Verdict
}

func (c authzCase) check(t *testing.T, acl string) {
	t.Helper()
	if got := Authorize(acl, c.action, c.topic, c.qos, c.retain); got != c.want {
		t.Errorf("%v %q qos %d retain %v: %v, want %v (acl %q)", c.action, c.topic, c.qos, c.retain, got, c.want, acl)
	}
}

// EMQX's object format: allow lists; anything else is denied.
func TestACLObjectFormatIsAnAllowList(t *testing.T) {
	acl := compile(t, `{"pub": ["sensors/%c/#", "eq cmd/+/x"], "sub": ["cmd/${username}/+"], "all": ["shared/%u"]}`, "dev1", "alice")
	if want := "D\nap7*~sensors/dev1/#\nap7*=cmd/+/x\nas7*~cmd/alice/+\nab7*~shared/alice"; acl != want {
		t.Fatalf("compiled %q\nwant     %q", acl, want)
	}
	for _, c := range []authzCase{
		{Publish, "sensors/dev1/temp", 1, false, Allow},
		{Publish, "sensors/dev1", 0, false, Allow}, // # covers its parent level
		{Publish, "sensors/dev2/temp", 1, false, Deny},
		{Subscribe, "sensors/dev1/temp", 1, false, Deny}, // pub only
		{Publish, "cmd/+/x", 0, false, Allow},            // eq: literal
		{Publish, "cmd/a/x", 0, false, Deny},
		{Subscribe, "cmd/alice/on", 2, false, Allow},
		{Subscribe, "cmd/alice/+", 2, false, Allow},
		{Subscribe, "cmd/alice/#", 2, false, Deny}, // wider than the rule
		{Subscribe, "cmd/+/on", 2, false, Deny},
		{Subscribe, "$share/g/cmd/alice/on", 0, false, Allow},
		{Publish, "shared/alice", 2, true, Allow},
		{Subscribe, "shared/alice", 0, false, Allow},
		{Publish, "other", 0, false, Deny},
	} {
		c.check(t, acl)
	}
}

// EMQX's list format: the first matching rule decides; none passes.
func TestACLListFormatFirstMatchDecidesAndUnmatchedPasses(t *testing.T) {
	acl := compile(t, `[
		{"permission": "deny", "action": "publish", "topic": "t/secret"},
		{"permission": "allow", "action": "publish", "topics": ["t/#"], "qos": [0, 1], "retain": false},
		{"permission": "allow", "action": "subscribe", "topic": "eq t/#"},
		{"permission": "deny", "action": "all", "topic": "#"}
	]`, "c", "u")
	for _, c := range []authzCase{
		{Publish, "t/secret", 0, false, Deny},
		{Publish, "t/a", 1, false, Allow},
		{Publish, "t/a", 2, false, Deny},    // QoS 2 not in the rule: falls to deny #
		{Publish, "t/a", 0, true, Deny},     // retained not in the rule
		{Subscribe, "t/#", 0, false, Allow}, // eq
		{Subscribe, "t/a", 0, false, Deny},
		{Publish, "$SYS/x", 0, false, Pass}, // # does not match $ topics [MQTT-4.7.2-1]
	} {
		c.check(t, acl)
	}
	open := compile(t, `[{"permission": "allow", "action": "all", "topic": "a/+"}]`, "c", "u")
	authzCase{Publish, "b", 0, false, Pass}.check(t, open)
	authzCase{Subscribe, "a/+", 0, false, Allow}.check(t, open)
	authzCase{Subscribe, "+/+", 0, false, Pass}.check(t, open) // wider than a/+
}

func TestCoversFilters(t *testing.T) {
	for _, c := range []struct {
		rule, f string
		want    bool
	}{
		{"#", "a/b", true}, {"#", "$SYS/a", false}, {"+/a", "$x/a", false}, {"$SYS/#", "$SYS/a", true},
		{"a/+", "a/b", true}, {"a/+", "a/b/c", false}, {"a/+", "a", false}, {"a/#", "a", true},
		{"a/+/c", "a/+/c", true}, {"a/b/c", "a/+/c", false}, {"a/+", "a/#", false}, {"a/#", "a/+/#", true},
		{"a//b", "a//b", true}, {"a/b", "a/b/", false}, {"+", "", true}, {"a", "a", true},
	} {
		if got := covers(c.rule, c.f); got != c.want {
			t.Errorf("covers(%q, %q) = %v, want %v", c.rule, c.f, got, c.want)
		}
	}
}

func TestACLClaimRefusals(t *testing.T) {
	for _, c := range []struct{ claim, clientID, username, want string }{
		{`{"pub": ["a/%u"]}`, "c", "", "username"},
		{`{"pub": ["a/%u"]}`, "c", "+", "username"},
		{`{"pub": ["a/${clientid}/#"]}`, "a/#", "u", "client id"},
		{`{"pub": ["a/${peerhost}"]}`, "c", "u", "placeholder"},
		{`{"pub": ["a/#/b"]}`, "c", "u", "misplaced"},
		{`{"pub": ["a/b+"]}`, "c", "u", "misplaced"},
		{`{"pub": ["a\nb"]}`, "c", "u", "newline"},
		{`{"pub": [""]}`, "c", "u", "empty"},
		{`{"write": ["a"]}`, "c", "u", "unknown key"},
		{`{"pub": [1]}`, "c", "u", "not a string"},
		{`"a/#"`, "c", "u", "neither"},
		{`[{"permission": "maybe", "action": "all", "topic": "a"}]`, "c", "u", "permission"},
		{`[{"permission": "allow", "topic": "a"}]`, "c", "u", "no action"},
		{`[{"permission": "allow", "action": "all"}]`, "c", "u", "no topic"},
		{`[{"permission": "allow", "action": "all", "topic": "a", "qos": [3]}]`, "c", "u", "qos"},
	} {
		d := json.NewDecoder(strings.NewReader(c.claim))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatal(err)
		}
		_, err := compileACL(v, c.clientID, c.username)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s (client %q, user %q): err = %v, want one saying %q", c.claim, c.clientID, c.username, err, c.want)
		}
	}
}

// The ACL reaches the attributes, bounded by max_acl_bytes; a token without
// the claim gets no ACL attribute, so authorize passes it on.
func TestACLAttributeAndItsLimit(t *testing.T) {
	s := newSigner(t, HS256)
	a := mustNew(t, Config{Keys: []KeyConfig{s.keyConfig("")}, MaxACLBytes: 40})
	id, err := a.Authenticate(Request{Token: s.token(t, "", claims(map[string]any{"acl": map[string]any{"pub": []string{"a/%c"}}})), ClientID: "dev1", Now: now})
	if err != nil || len(id.Attributes) != 1 || id.Attributes[0] != (Attribute{"jwt_acl", "D\nap7*~a/dev1"}) {
		t.Fatalf("identity %+v, %v", id, err)
	}
	long := []string{strings.Repeat("x", 40)}
	if _, err := a.Authenticate(Request{Token: s.token(t, "", claims(map[string]any{"acl": map[string]any{"pub": long}})), Now: now}); err == nil || !strings.Contains(err.Error(), "max_acl_bytes") {
		t.Fatalf("over the limit: %v", err)
	}
	id, err = a.Authenticate(Request{Token: s.token(t, "", claims(nil)), Now: now})
	if err != nil || len(id.Attributes) != 0 {
		t.Fatalf("no acl claim: %+v, %v", id, err)
	}
	off := ""
	b := mustNew(t, Config{Keys: []KeyConfig{s.keyConfig("")}, ACLClaim: &off})
	id, err = b.Authenticate(Request{Token: s.token(t, "", claims(map[string]any{"acl": "ignored"})), Now: now})
	if err != nil || len(id.Attributes) != 0 {
		t.Fatalf("acl_claim off: %+v, %v", id, err)
	}
}

func BenchmarkAuthorize(b *testing.B) {
	acl := "D\nap7*~sensors/dev1/#\nas7*~cmd/dev1/+\nab7*~shared/dev1\nap7*~telemetry/+/dev1"
	b.ReportAllocs()
	for b.Loop() {
		if Authorize(acl, Publish, "telemetry/x/dev1", 1, false) != Allow {
			b.Fatal("denied")
		}
	}
}
