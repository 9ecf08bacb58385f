package config

import (
	"encoding"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/plumemq/plume/core/setting"
)

// check walks the YAML tree beside the Go type it decodes into and reports,
// with its line and key path (plugins.chain[0].call_timeout), every
// unknown key and value of the wrong form. yaml.v3 would report the same
// things in Go's terms ("field call_timout not found in type host.PluginConfig",
// "cannot unmarshal !!str `soon` into time.Duration"), and a value type's
// own error (a size, a policy) with no line at all. A fatal error (an alias
// loop) ends the walk: it is returned alone.
func check(n *yaml.Node, t reflect.Type, path string) []error {
	c := checker{expanding: map[*yaml.Node]bool{}}
	if err := c.check(n, t, path); err != nil {
		return []error{err}
	}
	return c.errs
}

// maxAliases bounds the aliases one file may expand, so that a few lines of
// anchors cannot make the check walk an exponential tree ("billion laughs");
// a real config uses a handful.
const maxAliases = 10000

type checker struct {
	expanding map[*yaml.Node]bool // anchors being expanded: one inside itself is a cycle
	aliases   int
	errs      []error // what is wrong, in the order of the file
}

// check walks n; it returns only a fatal error, and notes the others.
func (c *checker) check(n *yaml.Node, t reflect.Type, path string) error {
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return nil
		}
		c.aliases++
		switch {
		case c.expanding[n.Alias]:
			return errorf(n.Line, where(path), "*%s refers to itself", n.Value)
		case c.aliases > maxAliases:
			return errorf(n.Line, where(path), "more than %d aliases expanded", maxAliases)
		}
		c.expanding[n.Alias] = true
		defer delete(c.expanding, n.Alias)
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil // the zero value: the default
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if decodesItself(t) {
		c.value(n, t, path)
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			c.errs = append(c.errs, errorf(n.Line, where(path), "expected a mapping of keys"))
			return nil
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.ShortTag() == "!!merge" { // "<<: *anchor" merges a mapping in
				if err := c.checkMerge(v, t, path); err != nil {
					return err
				}
				continue
			}
			f, ok := fields[k.Value]
			if !ok {
				known := make(map[string]bool, len(fields))
				for name := range fields {
					known[name] = true
				}
				c.errs = append(c.errs, unknownKey(k.Line, path, k.Value, known))
				continue
			}
			if err := c.check(v, f, setting.Join(path, k.Value)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			c.errs = append(c.errs, errorf(n.Line, where(path), "expected a list"))
			return nil
		}
		for i, e := range n.Content {
			if err := c.check(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			c.errs = append(c.errs, errorf(n.Line, where(path), "expected a mapping of keys"))
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if !c.value(k, t.Key(), path) {
				continue
			}
			if err := c.check(v, t.Elem(), setting.Join(path, k.Value)); err != nil {
				return err
			}
		}
		return nil
	}
	c.value(n, t, path)
	return nil
}

func (c *checker) checkMerge(v *yaml.Node, t reflect.Type, path string) error {
	if v.Kind == yaml.SequenceNode {
		for _, m := range v.Content {
			if err := c.check(m, t, path); err != nil {
				return err
			}
		}
		return nil
	}
	return c.check(v, t, path)
}

// value notes what checkValue finds wrong with n, and reports whether n is right.
func (c *checker) value(n *yaml.Node, t reflect.Type, path string) bool {
	if err := checkValue(n, t, path); err != nil {
		c.errs = append(c.errs, err)
		return false
	}
	return true
}

// checkValue decodes n into a new t with yaml.v3 itself, so that it accepts
// exactly what the decoder will, and words a refusal in the file's terms.
func checkValue(n *yaml.Node, t reflect.Type, path string) error {
	err := n.Decode(reflect.New(t).Interface())
	if err == nil {
		return nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return &Error{Line: n.Line, Key: where(path), Err: err} // the type's own words
	}
	return errorf(n.Line, where(path), "%s", expected(n, t))
}

// expected says what a value of type t looks like, to a reader of the file.
func expected(n *yaml.Node, t reflect.Type) string {
	if n.Kind != yaml.ScalarNode {
		return "expected a single value, not a mapping or a list"
	}
	v := strconv.Quote(n.Value)
	if t == reflect.TypeOf(time.Duration(0)) {
		return v + " is not a duration like 10s or 1m"
	}
	switch t.Kind() {
	case reflect.Bool:
		return v + " is not true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		hi := int64(math.MaxInt64) >> (64 - t.Bits())
		return fmt.Sprintf("%s is not a whole number from %d to %d", v, -hi-1, hi)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return fmt.Sprintf("%s is not a whole number from 0 to %d", v, uint64(math.MaxUint64)>>(64-t.Bits()))
	case reflect.Float32, reflect.Float64:
		return v + " is not a number"
	case reflect.String:
		return v + " is not text"
	}
	return v + " is not a value this key takes"
}

// where names a key path for a message; the empty path is the file itself.
func where(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}

var (
	textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
	yamlUnmarshaler = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	// The unmarshaler of yaml.v2, which v3 still calls: a component can
	// implement it without importing a YAML library (host.ConfigBytes).
	funcUnmarshaler = reflect.TypeOf((*interface {
		UnmarshalYAML(func(any) error) error
	})(nil)).Elem()
)

// decodesItself reports whether t reads its own value, as one piece.
func decodesItself(t reflect.Type) bool {
	p := reflect.PointerTo(t)
	return p.Implements(textUnmarshaler) || p.Implements(yamlUnmarshaler) || p.Implements(funcUnmarshaler)
}

// yamlFields maps the keys a struct takes to their types, as yaml.v3 reads
// its tags: the tag's name, else the field's name in lower case; "-"
// skipped; ",inline" structs' keys taken as the struct's own.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, inline, ok := fieldKey(f)
		switch {
		case !ok:
		case inline:
			for k, v := range yamlFields(f.Type) {
				fields[k] = v
			}
		default:
			fields[name] = f.Type
		}
	}
	return fields
}

// atLine gives a rule's error the line where the user wrote its key (or,
// for a key not written, the nearest section written), as an *Error.
// Errors without a key are returned as they are.
func atLine(doc *yaml.Node, err error) error {
	var e *setting.Error
	if !errors.As(err, &e) {
		return err
	}
	return &Error{Line: lineOf(doc, e.Key), Key: e.Key, Err: e.Err}
}

// lineOf follows a key path (plugins.chain[0].call_timeout) down the tree and
// returns the line of the deepest part of it the file has.
func lineOf(n *yaml.Node, path string) int {
	line := 0
	for _, part := range splitPath(path) {
		if n == nil {
			break
		}
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		next := (*yaml.Node)(nil)
		switch {
		case part.index >= 0 && n.Kind == yaml.SequenceNode && part.index < len(n.Content):
			next = n.Content[part.index]
			line = next.Line
		case part.index < 0 && n.Kind == yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == part.key {
					next = n.Content[i+1]
					line = n.Content[i].Line
				}
			}
		}
		n = next
	}
	return line
}

type pathPart struct {
	key   string
	index int // -1 for a key
}

// splitPath reads "plugins.chain[0].name" as plugins, chain, 0, name.
func splitPath(path string) []pathPart {
	var parts []pathPart
	for _, seg := range strings.Split(path, ".") {
		key, rest, _ := strings.Cut(seg, "[")
		if key != "" {
			parts = append(parts, pathPart{key: key, index: -1})
		}
		for rest != "" {
			num, after, _ := strings.Cut(rest, "]")
			i, err := strconv.Atoi(num)
			if err != nil {
				break
			}
			parts = append(parts, pathPart{index: i})
			_, rest, _ = strings.Cut(after, "[")
		}
	}
	return parts
}

// cleanYAMLError drops the library's prefix so the message starts at the line.
func cleanYAMLError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n  ")
	return errors.New(strings.ReplaceAll(msg, "\n  ", "; "))
}
