package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseAndMatch(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "order.json")
	if err := os.WriteFile(file, []byte(`{"type": "object", "required": ["id"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Parse([]byte(`{"rules": [
		{"filter": "sensors/+/temp", "schema": {"type": "number"}},
		{"filter": "orders/#", "schema_file": "` + file + `", "on_invalid": "dead_letter", "dead_letter_topic": "dlq/{topic}"}
	], "other_content_types": "invalid"}`))
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Match("sensors/a/temp"); r == nil || r.Action != Reject || r.Schema.Validate([]byte(`"x"`)) == nil {
		t.Fatalf("sensors rule = %+v", r)
	}
	r := c.Match("orders/eu/1")
	if r == nil || r.Action != DeadLetter || r.DeadLetterTopic("orders/eu/1") != "dlq/orders/eu/1" {
		t.Fatalf("orders rule = %+v", r)
	}
	if r.Schema.Validate([]byte(`{}`)) == nil || r.Schema.Validate([]byte(`{"id": 1}`)) != nil {
		t.Fatal("the schema from the file is not the one applied")
	}
	if c.Match("sensors/a/hum") != nil || c.Match("$SYS/x") != nil {
		t.Fatal("a topic no filter matches got a rule")
	}
	for ct, want := range map[string]bool{"application/json": true, "Application/JSON; charset=utf-8": true,
		"application/vnd.acme+json": true, "text/plain": false, "application/cbor": false} {
		if c.IsJSON(ct) != want {
			t.Errorf("IsJSON(%q) = %v", ct, !want)
		}
	}
}

func TestMatches(t *testing.T) {
	for _, tc := range []struct {
		f, t string
		want bool
	}{
		{"a/b", "a/b", true}, {"a/+", "a/b", true}, {"a/+", "a/b/c", false}, {"a/#", "a", true},
		{"a/#", "a/b/c", true}, {"#", "a", true}, {"+/b", "$x/b", false}, {"a/+/c", "a//c", true},
		{"a/b", "a", false}, {"a", "a/b", false},
	} {
		if Matches(tc.f, tc.t) != tc.want {
			t.Errorf("Matches(%q, %q) = %v", tc.f, tc.t, !tc.want)
		}
	}
}

func TestParseErrorsNameTheKey(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte("{\n  \"type\": \"object\",\n  \"required\": [\"id\"\n}"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ config, want string }{
		{`{}`, "rules: missing"},
		{`{"rules": []}`, "rules: want a non-empty array"},
		{`{"rulez": []}`, "rulez: unknown key"},
		{`{"rules": [{"schema": {}}]}`, "rules[0].filter: missing"},
		{`{"rules": [{"filter": "a/#/b", "schema": {}}]}`, "rules[0].filter: want an MQTT topic filter"},
		{`{"rules": [{"filter": "a"}]}`, "rules[0]: give schema or schema_file"},
		{`{"rules": [{"filter": "a", "schema": {"type": "int"}}]}`, `rules[0].schema: /type: unknown type "int"`},
		{`{"rules": [{"filter": "a", "schema": {"unevaluatedItems": false}}]}`, "not supported"},
		{`{"rules": [{"filter": "a", "schema_file": "` + bad + `"}]}`, "rules[0].schema_file " + bad + ": line 4"},
		{`{"rules": [{"filter": "a", "schema_file": "` + dir + `/none.json"}]}`, "rules[0].schema_file: open"},
		{`{"rules": [{"filter": "a", "schema": {}, "on_invalid": "dead_letter"}]}`, "rules[0].dead_letter_topic: missing"},
		{`{"rules": [{"filter": "a", "schema": {}, "on_invalid": "drop"}]}`, `rules[0].on_invalid: want "reject" or "dead_letter"`},
		{`{"rules": [{"filter": "a", "schema": {}, "dead_letter_topic": "d"}]}`, `rules[0].dead_letter_topic: set, but on_invalid`},
		{`{"rules": [{"filter": "a", "schema": {}, "on_invalid": "dead_letter", "dead_letter_topic": "d/#"}]}`, "rules[0].dead_letter_topic: want a topic name"},
		{`{"rules": [{"filter": "a", "schema": {}}], "other_content_types": "drop"}`, "other_content_types: want"},
	} {
		_, err := Parse([]byte(tc.config))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n  err = %v\n  want %q", tc.config, err, tc.want)
		}
	}
}
