package acl

import (
	"strings"
	"testing"
)

func attrs(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// Rules come before the file: a rule's allow overrides the file's deny, and
// a rule's deny the file's grant.
func TestRulesBeforeTheFile(t *testing.T) {
	p := loadPolicy(t, `{"file": "../testdata/acl", "rules": [
		{"match": {"attributes": {"role": "auditor"}}, "allow": {"subscribe": ["sensors/secret/#"]}},
		{"match": {"attributes": {"role": "muted"}}, "deny": {"publish": ["#"]}}]}`)
	aud := &Client{ID: "a1", Username: "alice", Attribute: attrs(map[string]string{"role": "auditor"})}
	if d := p.Decide(aud, Subscribe, "sensors/secret/x"); d.Verdict != Allow {
		t.Errorf("auditor: %+v, want the rule's allow before the file's deny", d)
	}
	muted := &Client{ID: "a1", Username: "alice", Attribute: attrs(map[string]string{"role": "muted"})}
	if d := p.Decide(muted, Publish, "sensors/x"); d.Verdict != Deny || d.Reason != "acl: rules[1] denies publish to sensors/x" {
		t.Errorf("muted: %+v, want the rule's deny before the file's grant", d)
	}
	plain := &Client{ID: "a1", Username: "alice"}
	if d := p.Decide(plain, Subscribe, "sensors/secret/x"); d.Verdict != Deny {
		t.Errorf("no rule: %+v, want the file's deny", d)
	}
}

func TestSubstitutionRefusesWideningValues(t *testing.T) {
	p := loadPolicy(t, `{"rules": [{"allow": {"publish": ["t/%{tenant}/%u/%c"]}}]}`)
	for _, c := range []struct {
		tenant, user, id string
		want             Verdict
	}{
		{"acme", "u", "c", Allow},
		{"ac+me", "u", "c", Deny},
		{"a/b", "u", "c", Deny},
		{"", "u", "c", Deny},
		{"acme", "", "c", Deny}, // no username
		{"acme", "u", "c#", Deny},
	} {
		cl := &Client{ID: c.id, Username: c.user, Attribute: attrs(map[string]string{"tenant": c.tenant})}
		topic := "t/" + c.tenant + "/" + c.user + "/" + c.id
		if d := p.Decide(cl, Publish, topic); d.Verdict != c.want {
			t.Errorf("%+v: %+v", c, d)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for cfg, want := range map[string]string{
		``:                                   "empty",
		`{}`:                                 "neither file nor rules",
		`{"fil": 1}`:                         `unknown field "fil"`,
		`{"file": "x", "no_match": "allow"}`: `no_match: "allow"`,
		`{"rules": [{"match": {}}]}`:         "rules[0]: neither allow nor deny",
		`{"rules": [{"allow": {"publish": ["a/%{t"]}}]}`:                                 `rules[0].allow.publish[0]: "a/%{t": '%{' without '}'`,
		`{"rules": [{"allow": {"subscribe": ["a/#/b"]}}]}`:                               `rules[0].allow.subscribe[0]`,
		`{"rules": [{"deny": {"publish": ["a/%c+"]}}]}`:                                  `rules[0].deny.publish[0]`,
		`{"rules": [{"match": {"attributes": {"r": []}}, "allow": {"publish": ["x"]}}]}`: "rules[0].match.attributes.r: no value",
		`{"rules": [{"match": {"attributes": {"r": 1}}, "allow": {"publish": ["x"]}}]}`:  "want a string or a list of strings",
		`{"file": "../testdata/none"}`:                                                   "acl-file: file: open ../testdata/none",
	} {
		c, err := ParseConfig([]byte(cfg))
		if err == nil {
			_, err = New(c, readFile)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", cfg, err, want)
		}
	}
}
