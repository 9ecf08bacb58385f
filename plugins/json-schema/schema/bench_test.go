package schema

import (
	"strings"
	"testing"
)

// benchSchema and benchPayload are the e2e benchmark's (plugins/e2e), to
// compare native validation with the same through the Wasm host.
const benchSchema = `{
	"type": "object", "required": ["id", "readings"],
	"properties": {
		"id": {"type": "string", "pattern": "^dev-[0-9]+$"},
		"site": {"enum": ["north", "south", "east", "west"]},
		"readings": {"type": "array", "maxItems": 100, "items": {"type": "object", "required": ["t", "v"],
			"properties": {"t": {"type": "integer", "minimum": 0}, "v": {"type": "number", "minimum": -100, "maximum": 100}},
			"additionalProperties": false}}
	}}`

func benchPayload() []byte {
	var sb strings.Builder
	sb.WriteString(`{"id": "dev-17", "site": "north", "readings": [`)
	for i := 0; sb.Len() < 1000; i++ {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(`{"t": 1700000000, "v": 21.5}`)
	}
	sb.WriteString("]}")
	return []byte(sb.String())
}

func BenchmarkValidate1KiBNative(b *testing.B) {
	s, err := Compile([]byte(benchSchema))
	if err != nil {
		b.Fatal(err)
	}
	doc := benchPayload()
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Validate(doc); err != nil {
			b.Fatal(err)
		}
	}
}
