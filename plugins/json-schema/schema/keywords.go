package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"sort"
	"strings"
)

// keyword compiles keyword k with value v of the schema at ref into s.
func (c *compiler) keyword(s *Schema, k string, v any, ref string) (err error) {
	at := func() string { return pointer(child(ref, k)) }
	defer func() {
		var se *Error
		if err != nil && !errors.As(err, &se) {
			err = &Error{At: at(), Err: err}
		}
	}()
	sub := func(toks ...string) (*Schema, error) { return c.at(child(ref, append([]string{k}, toks...)...)) }
	subs := func() ([]*Schema, error) {
		a, ok := v.([]any)
		if !ok || len(a) == 0 {
			return nil, fmt.Errorf("want a non-empty array of schemas")
		}
		out := make([]*Schema, len(a))
		for i := range a {
			if out[i], err = sub(fmt.Sprint(i)); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	subMap := func() (map[string]*Schema, error) {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("want an object of schemas")
		}
		out := make(map[string]*Schema, len(m))
		for name := range m {
			if out[name], err = sub(name); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	switch k {
	case "$schema":
		if ref != "#" {
			return fmt.Errorf("$schema is supported at the root only")
		}
	case "$id":
		if ref != "#" {
			return fmt.Errorf("$id is supported at the root only (no base URI changes)")
		}
	case "$defs":
		_, err = subMap()
	case "$ref":
		r, ok := v.(string)
		if !ok {
			return fmt.Errorf("want a string")
		}
		s.ref, err = c.at(r)
	case "type":
		s.types, err = types(v)
	case "enum":
		a, ok := v.([]any)
		if !ok {
			return fmt.Errorf("want an array")
		}
		s.enum = a
	case "const":
		s.constant, s.hasConst = v, true
	case "minimum":
		s.minimum, err = number(v)
	case "maximum":
		s.maximum, err = number(v)
	case "exclusiveMinimum":
		s.exclMin, err = number(v)
	case "exclusiveMaximum":
		s.exclMax, err = number(v)
	case "multipleOf":
		n, ok := v.(json.Number)
		r, ok2 := new(big.Rat).SetString(string(n))
		if !ok || !ok2 || r.Sign() <= 0 {
			return fmt.Errorf("want a number above 0")
		}
		s.multipleOf = r
	case "minLength":
		s.minLength, err = count(v)
	case "maxLength":
		s.maxLength, err = count(v)
	case "pattern":
		s.pattern, err = pattern(v)
	case "properties":
		s.properties, err = subMap()
	case "patternProperties":
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("want an object of schemas")
		}
		names := make([]string, 0, len(m))
		for name := range m {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			re, err := pattern(name)
			if err != nil {
				return err
			}
			ps, err := sub(name)
			if err != nil {
				return err
			}
			s.patternProperties = append(s.patternProperties, patternSchema{re, ps})
		}
	case "additionalProperties":
		s.additional, err = sub()
	case "required":
		s.required, err = strings_(v)
	case "minProperties":
		s.minProps, err = count(v)
	case "maxProperties":
		s.maxProps, err = count(v)
	case "propertyNames":
		s.propertyNames, err = sub()
	case "dependentRequired":
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("want an object of string arrays")
		}
		s.dependentRequired = map[string][]string{}
		for name, list := range m {
			if s.dependentRequired[name], err = strings_(list); err != nil {
				return err
			}
		}
	case "dependentSchemas":
		s.dependentSchemas, err = subMap()
	case "prefixItems":
		s.prefixItems, err = subs()
	case "items":
		if _, isArray := v.([]any); isArray {
			return fmt.Errorf("an array of schemas is draft 2019-09 and before: use prefixItems")
		}
		s.items, err = sub()
	case "contains":
		s.contains, err = sub()
	case "minContains":
		s.minContains, err = count(v)
	case "maxContains":
		s.maxContains, err = count(v)
	case "minItems":
		s.minItems, err = count(v)
	case "maxItems":
		s.maxItems, err = count(v)
	case "uniqueItems":
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("want a boolean")
		}
		s.uniqueItems = b
	case "allOf":
		s.allOf, err = subs()
	case "anyOf":
		s.anyOf, err = subs()
	case "oneOf":
		s.oneOf, err = subs()
	case "not":
		s.not, err = sub()
	case "if":
		s.ifS, err = sub()
	case "then":
		s.thenS, err = sub()
	case "else":
		s.elseS, err = sub()
	default:
		if annotations[k] {
			return nil
		}
		return fmt.Errorf("keyword %q is not supported by this plugin (supported: %s)", k, strings.Join(Supported, ", "))
	}
	return err
}

func types(v any) (uint8, error) {
	var names []string
	switch x := v.(type) {
	case string:
		names = []string{x}
	case []any:
		for _, n := range x {
			s, ok := n.(string)
			if !ok {
				return 0, fmt.Errorf("want a type name or an array of them")
			}
			names = append(names, s)
		}
	default:
		return 0, fmt.Errorf("want a type name or an array of them")
	}
	var t uint8
	for _, n := range names {
		bit, ok := typeNames[n]
		if !ok {
			return 0, fmt.Errorf("unknown type %q", n)
		}
		t |= bit
	}
	return t, nil
}

func number(v any) (*float64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return nil, fmt.Errorf("want a number")
	}
	f, err := n.Float64()
	if err != nil {
		return nil, fmt.Errorf("want a number: %w", err)
	}
	return &f, nil
}

func count(v any) (int, error) {
	f, err := number(v)
	if err != nil || *f < 0 || *f != math.Trunc(*f) || *f > math.MaxInt32 {
		return 0, fmt.Errorf("want a whole number of at least 0")
	}
	return int(*f), nil
}

func strings_(v any) ([]string, error) {
	a, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("want an array of strings")
	}
	out := make([]string, len(a))
	for i, x := range a {
		if out[i], ok = x.(string); !ok {
			return nil, fmt.Errorf("want an array of strings")
		}
	}
	return out, nil
}

// pattern compiles a regular expression with Go's regexp (RE2 syntax), not
// ECMA-262: no lookaround or backreferences, and \d, \w are ASCII only.
func pattern(v any) (*regexp.Regexp, error) {
	s, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("want a string")
	}
	re, err := regexp.Compile(s)
	if err != nil {
		return nil, fmt.Errorf("pattern %q is not a Go (RE2) regular expression: %w", s, err)
	}
	return re, nil
}

// Error is a schema that does not compile: At is the JSON pointer of the
// keyword at fault ("/properties/temp/maximum").
type Error struct {
	At  string
	Err error
}

func (e *Error) Error() string { return e.At + ": " + e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }
