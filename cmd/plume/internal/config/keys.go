package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// Keys lists every key the file takes, as paths from the top ("log.level",
// "limits.max_packet_size", "listeners[].address"; "[]" stands for any
// index), down to values that read themselves (a duration, a size) or, for
// a path under one of stop, no deeper than it. The reload's table of keys
// is checked against it, so that a key added to a struct cannot be
// forgotten there.
func Keys(stop ...string) []string {
	var keys []string
	var walk func(t reflect.Type, path string)
	walk = func(t reflect.Type, path string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		for _, s := range stop {
			if path == s {
				keys = append(keys, path)
				return
			}
		}
		switch {
		case path != "" && decodesItself(t):
		case t.Kind() == reflect.Struct:
			for k, ft := range yamlFields(t) {
				walk(ft, join(path, k))
			}
			return
		case t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8:
			walk(t.Elem(), path+"[]")
			return
		}
		keys = append(keys, path)
	}
	walk(reflect.TypeOf(Config{}), "")
	sort.Strings(keys)
	return keys
}

// Changed lists the keys whose values differ between a and b, two values of
// the same type, as paths under prefix with the index of each list element
// ("listeners[1].address"); an element only one side has is one key
// ("listeners[2]"). It compares as deep as Keys walks.
func Changed(a, b any, prefix string) []string {
	var keys []string
	var walk func(x, y reflect.Value, path string)
	walk = func(x, y reflect.Value, path string) {
		for x.Kind() == reflect.Pointer {
			if x.IsNil() || y.IsNil() {
				if x.IsNil() != y.IsNil() {
					keys = append(keys, path)
				}
				return
			}
			x, y = x.Elem(), y.Elem()
		}
		t := x.Type()
		switch {
		case decodesItself(t):
		case t.Kind() == reflect.Struct:
			for i := range t.NumField() {
				f := t.Field(i)
				name, inline, ok := fieldKey(f)
				if !ok {
					continue
				}
				p := join(path, name)
				if inline {
					p = path
				}
				walk(x.Field(i), y.Field(i), p)
			}
			return
		case t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8:
			for i := range max(x.Len(), y.Len()) {
				p := fmt.Sprintf("%s[%d]", path, i)
				if i >= x.Len() || i >= y.Len() {
					keys = append(keys, p)
					continue
				}
				walk(x.Index(i), y.Index(i), p)
			}
			return
		}
		if !reflect.DeepEqual(x.Interface(), y.Interface()) {
			keys = append(keys, path)
		}
	}
	walk(reflect.ValueOf(a), reflect.ValueOf(b), prefix)
	return keys
}

// fieldKey is the key of a struct field as yaml.v3 reads its tag: the
// tag's name, else the field's name in lower case; inline is true for an
// ",inline" struct, whose keys are its parent's; ok is false for a field
// the file does not hold (unexported, or tagged "-").
func fieldKey(f reflect.StructField) (name string, inline, ok bool) {
	tag := f.Tag.Get("yaml")
	if !f.IsExported() || tag == "-" {
		return "", false, false
	}
	name, opts, _ := strings.Cut(tag, ",")
	if strings.Contains(","+opts+",", ",inline,") && f.Type.Kind() == reflect.Struct {
		return "", true, true
	}
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name, false, true
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
