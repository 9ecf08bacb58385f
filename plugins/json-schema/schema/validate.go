package schema

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Invalid says why a document does not match: At is the JSON pointer of the
// offending value in the document ("" for the whole), Msg what is wrong.
type Invalid struct {
	At  string
	Msg string
}

func (e *Invalid) Error() string {
	if e.At == "" {
		return e.Msg
	}
	return e.At + ": " + e.Msg
}

// Validate parses doc as JSON and checks it against s; it returns nil or an
// *Invalid naming the first failure found.
func (s *Schema) Validate(doc []byte) error {
	v, err := decode(doc)
	if err != nil {
		return &Invalid{Msg: "not JSON: " + err.Error()}
	}
	if inv := s.check(v, ""); inv != nil {
		return inv
	}
	return nil
}

// ValidateValue checks an already decoded value (json.Number for numbers).
func (s *Schema) ValidateValue(v any) error {
	if inv := s.check(v, ""); inv != nil {
		return inv
	}
	return nil
}

func fail(at, format string, args ...any) *Invalid {
	return &Invalid{At: at, Msg: fmt.Sprintf(format, args...)}
}

func (s *Schema) check(v any, at string) *Invalid {
	if s.always != nil {
		if *s.always {
			return nil
		}
		return fail(at, "no value is allowed here (schema false at %s)", s.locText())
	}
	if s.ref != nil {
		if inv := s.ref.check(v, at); inv != nil {
			return inv
		}
	}
	if s.types != 0 && !hasType(v, s.types) {
		return fail(at, "%s is not of type %s", kind(v), typeList(s.types))
	}
	if s.hasConst && !equal(v, s.constant) {
		return fail(at, "%s is not the constant %s", short(v), short(s.constant))
	}
	if s.enum != nil {
		found := false
		for _, e := range s.enum {
			if equal(v, e) {
				found = true
				break
			}
		}
		if !found {
			return fail(at, "%s is not one of the enum values", short(v))
		}
	}
	var inv *Invalid
	switch x := v.(type) {
	case json.Number:
		inv = s.checkNumber(x, at)
	case string:
		inv = s.checkString(x, at)
	case map[string]any:
		inv = s.checkObject(x, at)
	case []any:
		inv = s.checkArray(x, at)
	}
	if inv != nil {
		return inv
	}
	return s.checkApplicators(v, at)
}

func (s *Schema) checkApplicators(v any, at string) *Invalid {
	for _, a := range s.allOf {
		if inv := a.check(v, at); inv != nil {
			return inv
		}
	}
	if s.anyOf != nil {
		ok := false
		for _, a := range s.anyOf {
			if a.check(v, at) == nil {
				ok = true
				break
			}
		}
		if !ok {
			return fail(at, "matches none of anyOf at %s", s.locText())
		}
	}
	if s.oneOf != nil {
		n := 0
		for _, a := range s.oneOf {
			if a.check(v, at) == nil {
				n++
			}
		}
		if n != 1 {
			return fail(at, "matches %d of oneOf at %s, want exactly 1", n, s.locText())
		}
	}
	if s.not != nil && s.not.check(v, at) == nil {
		return fail(at, "matches the schema under not at %s", s.locText())
	}
	if s.ifS != nil {
		if s.ifS.check(v, at) == nil {
			if s.thenS != nil {
				return s.thenS.check(v, at)
			}
		} else if s.elseS != nil {
			return s.elseS.check(v, at)
		}
	}
	return nil
}

func (s *Schema) checkNumber(n json.Number, at string) *Invalid {
	f, err := n.Float64()
	if err != nil && !math.IsInf(f, 0) {
		return fail(at, "bad number %s", n)
	}
	switch {
	case s.minimum != nil && f < *s.minimum:
		return fail(at, "%s is below minimum %v", n, *s.minimum)
	case s.maximum != nil && f > *s.maximum:
		return fail(at, "%s is above maximum %v", n, *s.maximum)
	case s.exclMin != nil && f <= *s.exclMin:
		return fail(at, "%s is not above exclusiveMinimum %v", n, *s.exclMin)
	case s.exclMax != nil && f >= *s.exclMax:
		return fail(at, "%s is not below exclusiveMaximum %v", n, *s.exclMax)
	}
	if s.multipleOf != nil {
		r, ok := new(big.Rat).SetString(string(n))
		if !ok || !new(big.Rat).Quo(r, s.multipleOf).IsInt() {
			return fail(at, "%s is not a multiple of %s", n, s.multipleOf.RatString())
		}
	}
	return nil
}

func (s *Schema) checkString(x, at string) *Invalid {
	if s.minLength >= 0 || s.maxLength >= 0 {
		n := utf8.RuneCountInString(x) // lengths count characters [2020-12 validation 6.3.1]
		if s.minLength >= 0 && n < s.minLength {
			return fail(at, "string of %d characters is shorter than minLength %d", n, s.minLength)
		}
		if s.maxLength >= 0 && n > s.maxLength {
			return fail(at, "string of %d characters is longer than maxLength %d", n, s.maxLength)
		}
	}
	if s.pattern != nil && !s.pattern.MatchString(x) {
		return fail(at, "%s does not match pattern %q", short(x), s.pattern.String())
	}
	return nil
}

func (s *Schema) checkObject(x map[string]any, at string) *Invalid {
	if s.minProps >= 0 && len(x) < s.minProps {
		return fail(at, "%d properties, fewer than minProperties %d", len(x), s.minProps)
	}
	if s.maxProps >= 0 && len(x) > s.maxProps {
		return fail(at, "%d properties, more than maxProperties %d", len(x), s.maxProps)
	}
	for _, r := range s.required {
		if _, ok := x[r]; !ok {
			return fail(at, "required property %q is missing", r)
		}
	}
	for name, list := range s.dependentRequired {
		if _, ok := x[name]; ok {
			for _, r := range list {
				if _, ok := x[r]; !ok {
					return fail(at, "property %q requires property %q", name, r)
				}
			}
		}
	}
	for name, ds := range s.dependentSchemas {
		if _, ok := x[name]; ok {
			if inv := ds.check(x, at); inv != nil {
				return inv
			}
		}
	}
	if s.properties == nil && s.patternProperties == nil && s.additional == nil && s.propertyNames == nil {
		return nil
	}
	for k, v := range x {
		pat := at + "/" + escape(k)
		if s.propertyNames != nil {
			if inv := s.propertyNames.check(k, pat); inv != nil {
				inv.Msg = "property name: " + inv.Msg
				return inv
			}
		}
		matched := false
		if ps, ok := s.properties[k]; ok {
			matched = true
			if inv := ps.check(v, pat); inv != nil {
				return inv
			}
		}
		for _, pp := range s.patternProperties {
			if pp.re.MatchString(k) {
				matched = true
				if inv := pp.s.check(v, pat); inv != nil {
					return inv
				}
			}
		}
		if !matched && s.additional != nil {
			if s.additional.always != nil && !*s.additional.always {
				return fail(at, "property %q is not allowed (additionalProperties)", k)
			}
			if inv := s.additional.check(v, pat); inv != nil {
				return inv
			}
		}
	}
	return nil
}

func (s *Schema) checkArray(x []any, at string) *Invalid {
	if s.minItems >= 0 && len(x) < s.minItems {
		return fail(at, "%d items, fewer than minItems %d", len(x), s.minItems)
	}
	if s.maxItems >= 0 && len(x) > s.maxItems {
		return fail(at, "%d items, more than maxItems %d", len(x), s.maxItems)
	}
	for i, v := range x {
		var is *Schema
		if i < len(s.prefixItems) {
			is = s.prefixItems[i]
		} else {
			is = s.items
		}
		if is != nil {
			if inv := is.check(v, at+"/"+strconv.Itoa(i)); inv != nil {
				return inv
			}
		}
	}
	if s.contains != nil {
		n := 0
		for i, v := range x {
			if s.contains.check(v, at+"/"+strconv.Itoa(i)) == nil {
				n++
			}
		}
		if n < s.minContains {
			return fail(at, "%d items match contains, fewer than %d", n, s.minContains)
		}
		if s.maxContains >= 0 && n > s.maxContains {
			return fail(at, "%d items match contains, more than maxContains %d", n, s.maxContains)
		}
	}
	if s.uniqueItems {
		for i := range x {
			for j := i + 1; j < len(x); j++ {
				if equal(x[i], x[j]) {
					return fail(at, "items %d and %d are equal (uniqueItems)", i, j)
				}
			}
		}
	}
	return nil
}

func hasType(v any, t uint8) bool {
	switch x := v.(type) {
	case nil:
		return t&typeNull != 0
	case bool:
		return t&typeBoolean != 0
	case string:
		return t&typeString != 0
	case map[string]any:
		return t&typeObject != 0
	case []any:
		return t&typeArray != 0
	case json.Number:
		if t&typeNumber != 0 {
			return true
		}
		return t&typeInteger != 0 && isInteger(x)
	}
	return false
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return "a number"
}

func typeList(t uint8) string {
	var out []string
	for _, n := range []string{"null", "boolean", "object", "array", "number", "string", "integer"} {
		if t&typeNames[n] != 0 {
			out = append(out, n)
		}
	}
	return strings.Join(out, " or ")
}

// equal is JSON equality: numbers by value (1 equals 1.0), objects
// regardless of key order.
func equal(a, b any) bool {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		if x == y {
			return true
		}
		rx, ok1 := new(big.Rat).SetString(string(x))
		ry, ok2 := new(big.Rat).SetString(string(y))
		return ok1 && ok2 && rx.Cmp(ry) == 0
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equal(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 40 {
		return string(b[:37]) + "..."
	}
	return string(b)
}

func escape(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}

func (s *Schema) locText() string {
	if s.loc == "" {
		return "the root"
	}
	return s.loc
}

// isInteger reports whether n is a whole number: 1.0 and 1e2 are integers,
// since the type is about the value, not its spelling.
func isInteger(n json.Number) bool {
	if !strings.ContainsAny(string(n), ".eE") {
		return true
	}
	f, err := strconv.ParseFloat(string(n), 64)
	return err == nil && f == math.Trunc(f)
}
