package schema

import (
	"strings"
	"testing"
)

const sensor = `{
	"$schema": "https://json-schema.org/draft/2020-12/schema",
	"type": "object",
	"required": ["id", "temp"],
	"additionalProperties": false,
	"properties": {
		"id": {"type": "string", "pattern": "^s-[0-9]+$", "maxLength": 12},
		"temp": {"type": "number", "minimum": -40, "exclusiveMaximum": 125},
		"unit": {"enum": ["C", "F"]},
		"tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true, "maxItems": 3},
		"pos": {"$ref": "#/$defs/point"}
	},
	"$defs": {"point": {"type": "array", "prefixItems": [{"type": "number"}, {"type": "number"}], "items": false}}
}`

func TestValidateTable(t *testing.T) {
	s, err := Compile([]byte(sensor))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ doc, want string }{
		{`{"id": "s-1", "temp": 21.5}`, ""},
		{`{"id": "s-1", "temp": 21.5, "unit": "C", "tags": ["a", "b"], "pos": [1, 2]}`, ""},
		{`{"id": "s-1"}`, `required property "temp" is missing`},
		{`{"id": "x-1", "temp": 1}`, `/id: "x-1" does not match pattern "^s-[0-9]+$"`},
		{`{"id": "s-1", "temp": 125}`, "/temp: 125 is not below exclusiveMaximum 125"},
		{`{"id": "s-1", "temp": -41}`, "/temp: -41 is below minimum -40"},
		{`{"id": "s-1", "temp": "hot"}`, "/temp: a string is not of type number"},
		{`{"id": "s-1", "temp": 1, "unit": "K"}`, `/unit: "K" is not one of the enum values`},
		{`{"id": "s-1", "temp": 1, "extra": 1}`, `property "extra" is not allowed (additionalProperties)`},
		{`{"id": "s-1", "temp": 1, "tags": ["a", "a"]}`, "/tags: items 0 and 1 are equal (uniqueItems)"},
		{`{"id": "s-1", "temp": 1, "pos": [1, 2, 3]}`, "/pos/2: no value is allowed here"},
		{`{"id": "s-1", "temp": 1`, "not JSON"},
		{`{"id": "s-1", "temp": 1} {}`, "not JSON"},
		{`[]`, "an array is not of type object"},
	} {
		err := s.Validate([]byte(tc.doc))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want valid", tc.doc, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.doc, err, tc.want)
		}
	}
}

func TestCompileRefusesWhatItDoesNotImplement(t *testing.T) {
	for _, tc := range []struct{ schema, want string }{
		{`{"properties": {"a": {"unevaluatedProperties": false}}}`, `/properties/a/unevaluatedProperties: keyword "unevaluatedProperties" is not supported`},
		{`{"$ref": "other.json#/a"}`, `/$ref: $ref "other.json#/a": only references within the document`},
		{`{"$ref": "#/$defs/missing"}`, `nothing at "$defs"`},
		{`{"$ref": "#foo"}`, "anchors are not supported"},
		{`{"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/a"}}}`, "$ref cycle"},
		{`{"$schema": "http://json-schema.org/draft-07/schema#"}`, "only draft 2020-12"},
		{`{"items": [{}]}`, "use prefixItems"},
		{`{"pattern": "(?=a)"}`, "not a Go (RE2) regular expression"},
		{`{"type": "float"}`, `/type: unknown type "float"`},
		{`{"minLength": -1}`, "/minLength: want a whole number"},
		{`{"properties": {"a": {"$id": "x"}}}`, "$id is supported at the root only"},
		{`{"type": "object",`, "line 1"},
	} {
		_, err := Compile([]byte(tc.schema))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.schema, err, tc.want)
		}
	}
}

func TestRecursiveSchema(t *testing.T) {
	s, err := Compile([]byte(`{"type": "object", "properties": {"child": {"$ref": "#"}, "n": {"type": "integer"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate([]byte(`{"n": 1, "child": {"n": 2.0, "child": {"n": 3}}}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Validate([]byte(`{"child": {"child": {"n": 3.5}}}`)); err == nil || !strings.Contains(err.Error(), "/child/child/n") {
		t.Fatalf("err = %v, want the nested location", err)
	}
}
