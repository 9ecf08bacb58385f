// Package schema validates JSON documents against a subset of JSON Schema
// draft 2020-12 (README.md lists it). A schema that uses a keyword outside
// the subset is refused when it is compiled, never silently half-applied.
package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Schema is a compiled schema, safe to use from one goroutine at a time
// (validation allocates nothing shared).
type Schema struct {
	always *bool // a boolean schema: true accepts all, false none

	types uint8 // bit set of typeNull..typeInteger; 0 = any

	enum     []any
	constant any
	hasConst bool

	minimum, maximum, exclMin, exclMax *float64
	multipleOf                         *big.Rat

	minLength, maxLength int // -1: none
	pattern              *regexp.Regexp

	properties         map[string]*Schema
	patternProperties  []patternSchema
	additional         *Schema
	required           []string
	minProps, maxProps int
	propertyNames      *Schema
	dependentRequired  map[string][]string
	dependentSchemas   map[string]*Schema

	prefixItems            []*Schema
	items                  *Schema
	contains               *Schema
	minContains            int // 1 unless given
	maxContains            int // -1: none
	minItems, maxItems     int
	uniqueItems            bool
	allOf, anyOf, oneOf    []*Schema
	not, ifS, thenS, elseS *Schema
	ref                    *Schema // $ref, resolved within the document

	loc string // JSON pointer of this schema in its document, for errors
}

type patternSchema struct {
	re *regexp.Regexp
	s  *Schema
}

const (
	typeNull = 1 << iota
	typeBoolean
	typeObject
	typeArray
	typeNumber
	typeString
	typeInteger
)

var typeNames = map[string]uint8{
	"null": typeNull, "boolean": typeBoolean, "object": typeObject, "array": typeArray,
	"number": typeNumber, "string": typeString, "integer": typeInteger,
}

// Supported lists the keywords Compile accepts, for documentation and errors.
var Supported = []string{
	"$schema", "$id (root only)", "$defs", "$ref (within the document)", "$comment",
	"type", "enum", "const",
	"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
	"minLength", "maxLength", "pattern",
	"properties", "patternProperties", "additionalProperties", "required",
	"minProperties", "maxProperties", "propertyNames", "dependentRequired", "dependentSchemas",
	"prefixItems", "items", "contains", "minContains", "maxContains",
	"minItems", "maxItems", "uniqueItems",
	"allOf", "anyOf", "oneOf", "not", "if", "then", "else",
	"title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly", "format (annotation only)",
}

// annotations are keywords that do not constrain (in 2020-12, format is an
// annotation unless a format-assertion vocabulary is in use).
var annotations = map[string]bool{
	"$comment": true, "title": true, "description": true, "default": true, "examples": true,
	"deprecated": true, "readOnly": true, "writeOnly": true, "format": true,
	"contentMediaType": true, "contentEncoding": true, "contentSchema": true,
}

// Draft is the $schema value accepted at a document's root.
const Draft = "https://json-schema.org/draft/2020-12/schema"

// compiler holds one document while it is compiled.
type compiler struct {
	root  any
	byRef map[string]*Schema // "#/..." -> schema, made once (recursion safe)
}

// Compile compiles a schema document (JSON text).
func Compile(doc []byte) (*Schema, error) {
	root, err := decode(doc)
	if err != nil {
		return nil, err
	}
	if m, ok := root.(map[string]any); ok {
		if s, ok := m["$schema"]; ok && s != Draft && s != Draft+"#" {
			return nil, fmt.Errorf("$schema %v: only draft 2020-12 (%s) is implemented", s, Draft)
		}
	}
	c := &compiler{root: root, byRef: map[string]*Schema{}}
	s, err := c.at("#")
	if err != nil {
		return nil, err
	}
	// Unreferenced $defs are compiled by the $defs keyword already; so is
	// every schema a cycle could run through.
	if err := checkCycles(s); err != nil {
		return nil, err
	}
	return s, nil
}

// decode parses JSON keeping numbers as json.Number, refusing trailing data.
func decode(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, syntaxError(b, err)
	}
	if d.More() {
		return nil, fmt.Errorf("line %d: data after the JSON value", lineOf(b, int(d.InputOffset())))
	}
	return v, nil
}

func syntaxError(b []byte, err error) error {
	if se, ok := err.(*json.SyntaxError); ok {
		return fmt.Errorf("line %d: %w", lineOf(b, int(se.Offset)), err)
	}
	if te, ok := err.(*json.UnmarshalTypeError); ok {
		return fmt.Errorf("line %d: %w", lineOf(b, int(te.Offset)), err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("line %d: the JSON ends early", lineOf(b, len(b)))
	}
	return err
}

func lineOf(b []byte, off int) int { return 1 + bytes.Count(b[:min(off, len(b))], []byte("\n")) }

// at compiles the schema at a JSON pointer fragment ("#", "#/$defs/a"),
// once: a reference to it later, or from inside it, gets the same *Schema.
func (c *compiler) at(ref string) (*Schema, error) {
	if s, ok := c.byRef[ref]; ok {
		return s, nil
	}
	v, err := c.resolve(ref)
	if err != nil {
		return nil, err
	}
	s := &Schema{loc: strings.TrimPrefix(ref, "#")}
	c.byRef[ref] = s
	if err := c.fill(s, v, ref); err != nil {
		return nil, err
	}
	return s, nil
}

// resolve walks a "#/a/b" pointer (RFC 6901, percent-decoded) in the document.
func (c *compiler) resolve(ref string) (any, error) {
	frag, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, fmt.Errorf("$ref %q: only references within the document (#/...) are supported", ref)
	}
	frag, err := url.PathUnescape(frag)
	if err != nil {
		return nil, fmt.Errorf("$ref %q: %w", ref, err)
	}
	v := c.root
	if frag == "" {
		return v, nil
	}
	if frag[0] != '/' {
		return nil, fmt.Errorf("$ref %q: anchors are not supported, only JSON pointers (#/$defs/name)", ref)
	}
	for _, tok := range strings.Split(frag[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch x := v.(type) {
		case map[string]any:
			if v, ok = x[tok]; !ok {
				return nil, fmt.Errorf("$ref %q: nothing at %q", ref, tok)
			}
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(x) {
				return nil, fmt.Errorf("$ref %q: no index %q", ref, tok)
			}
			v = x[i]
		default:
			return nil, fmt.Errorf("$ref %q: nothing at %q", ref, tok)
		}
	}
	return v, nil
}

func child(ref string, toks ...string) string {
	for _, t := range toks {
		ref += "/" + strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1")
	}
	return ref
}

// fill compiles v, found at ref, into s.
func (c *compiler) fill(s *Schema, v any, ref string) error {
	if b, ok := v.(bool); ok {
		s.always = &b
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("schema at %s: want an object or a boolean", pointer(ref))
	}
	s.minLength, s.maxLength, s.maxContains, s.minContains = -1, -1, -1, 1
	s.minProps, s.maxProps, s.minItems, s.maxItems = -1, -1, -1, -1
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := c.keyword(s, k, m[k], ref); err != nil {
			return err
		}
	}
	return nil
}

func pointer(ref string) string {
	if ref == "#" {
		return "the root"
	}
	return strings.TrimPrefix(ref, "#")
}

// checkCycles refuses a schema whose $ref chain comes back to itself without
// looking one level into the document ({"$ref": "#"} at the root): it would
// never finish validating.
func checkCycles(root *Schema) error {
	state := map[*Schema]uint8{} // 1 on the path, 2 done
	var visit func(s *Schema) error
	visit = func(s *Schema) error {
		switch state[s] {
		case 1:
			return &Error{At: s.locText(), Err: fmt.Errorf("$ref cycle that never looks into the document")}
		case 2:
			return nil
		}
		state[s] = 1
		for _, n := range s.inPlace() {
			if err := visit(n); err != nil {
				return err
			}
		}
		state[s] = 2
		return nil
	}
	var all []*Schema
	seen := map[*Schema]bool{}
	var collect func(s *Schema)
	collect = func(s *Schema) {
		if s == nil || seen[s] {
			return
		}
		seen[s] = true
		all = append(all, s)
		for _, n := range s.children() {
			collect(n)
		}
	}
	collect(root)
	for _, s := range all {
		if err := visit(s); err != nil {
			return err
		}
	}
	return nil
}

// inPlace lists the subschemas applied to the same value as s.
func (s *Schema) inPlace() []*Schema {
	out := append([]*Schema{s.ref, s.not, s.ifS, s.thenS, s.elseS}, s.allOf...)
	out = append(out, s.anyOf...)
	out = append(out, s.oneOf...)
	for _, d := range s.dependentSchemas {
		out = append(out, d)
	}
	return nonNil(out)
}

// children lists every subschema of s.
func (s *Schema) children() []*Schema {
	out := append(s.inPlace(), s.additional, s.propertyNames, s.items, s.contains)
	for _, p := range s.properties {
		out = append(out, p)
	}
	for _, p := range s.patternProperties {
		out = append(out, p.s)
	}
	out = append(out, s.prefixItems...)
	return nonNil(out)
}

func nonNil(ss []*Schema) []*Schema {
	out := ss[:0]
	for _, s := range ss {
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}
