package host

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/plumemq/plume/core/setting"
)

// A file key names where in a plugin's JSON config a data file's path is:
// "file" (a top-level key), "tls.ca_file" (a key of an object), or
// "rules[].schema_file" (the key schema_file of each element of the list
// rules). Segments are separated by dots; "[]" after a name means "each
// element of this list", and may repeat for lists of lists. Keys holding a
// dot or a bracket cannot be named. docs/decisions/0023 says why the notation
// is this small.

// keyStep is one segment of a file key: the object key name, then into each
// element of a list lists times.
type keyStep struct {
	name  string
	lists int
}

// parseFileKey reads a file key's notation.
func parseFileKey(k string) ([]keyStep, error) {
	if k == "" {
		return nil, fmt.Errorf("a key name is empty")
	}
	var steps []keyStep
	for _, seg := range strings.Split(k, ".") {
		name := seg
		lists := 0
		for strings.HasSuffix(name, "[]") {
			name, lists = strings.TrimSuffix(name, "[]"), lists+1
		}
		if name == "" || strings.ContainsAny(name, "[]") {
			return nil, fmt.Errorf("%q is not a key path like file, tls.ca_file or rules[].schema_file", k)
		}
		steps = append(steps, keyStep{name: name, lists: lists})
	}
	return steps, nil
}

// fileRef is one data file named in a chain entry's config.
type fileRef struct {
	key  string // where, as errors name it: "file", "rules[2].schema_file"
	at   []any  // the same, as steps from the config's root: string keys, int indexes
	path string // the value: the path the config gives
}

// fileKeys is every file key of p: its own Files and its built-in's, in
// that order, each once.
func (p *PluginConfig) fileKeys() []string {
	keys := slices.Clone(p.Files)
	for _, k := range p.BuiltinFiles {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// fileRefs reads the file keys out of p's config, in key order and, within
// a key, in the order of the lists' elements. The first segment of a key
// listed in Files must be in the config, since the entry's author wrote
// both; everything else may be absent: one a built-in declares (an
// optional file, such as jwt's jwks_file), an element of a list without
// the key (a json-schema rule with an inline schema). What is there must
// be of the shape the key says: objects and lists on the way, a non-empty
// string at the end; the error names the exact place
// (config.rules[2].schema_file).
func (p *PluginConfig) fileRefs() ([]fileRef, error) {
	keys := p.fileKeys()
	if len(keys) == 0 || (len(p.Files) == 0 && len(bytes.TrimSpace(p.Config)) == 0) {
		return nil, nil // no keys, or a built-in's optional files and no config
	}
	root, err := decodeConfig(p.Config)
	obj, isObj := root.(map[string]any)
	if err != nil || !isObj {
		return nil, setting.Errorf("config", "must be a mapping of keys: the plugin reads files named by its keys %s", strings.Join(keys, ", "))
	}
	var refs []fileRef
	for _, k := range keys {
		steps, err := parseFileKey(k)
		if err != nil {
			return nil, setting.Errorf("files", "%w", err)
		}
		if _, ok := obj[steps[0].name]; !ok && slices.Contains(p.Files, k) {
			return nil, setting.Errorf("files", "%q is not a key of config", steps[0].name)
		}
		w := keyWalk{keys: keys}
		if err := w.walk(obj, steps, nil, ""); err != nil {
			return nil, err
		}
		refs = append(refs, w.refs...)
	}
	return refs, nil
}

// keyWalk collects the values one file key names.
type keyWalk struct {
	keys []string // every file key, for errors
	refs []fileRef
}

// walk follows steps down from the object obj, which is at (as the steps
// so far) and written where ("" at the root).
func (w *keyWalk) walk(obj map[string]any, steps []keyStep, at []any, where string) error {
	s := steps[0]
	v, ok := obj[s.name]
	if !ok {
		return nil
	}
	return w.value(v, s.lists, steps[1:], append(slices.Clip(at), s.name), setting.Join(where, s.name))
}

// value is walk's part for the value v found at: lists levels of lists to
// go into, then the rest of the steps.
func (w *keyWalk) value(v any, lists int, rest []keyStep, at []any, where string) error {
	if lists > 0 {
		l, ok := v.([]any)
		if !ok {
			return setting.Errorf("config."+where, "must be a list (it is in files: %s)", strings.Join(w.keys, ", "))
		}
		for i, e := range l {
			if err := w.value(e, lists-1, rest, append(slices.Clip(at), i), fmt.Sprintf("%s[%d]", where, i)); err != nil {
				return err
			}
		}
		return nil
	}
	if len(rest) == 0 {
		path, ok := v.(string)
		if !ok || path == "" {
			return setting.Errorf("config."+where, "must be the path of a file, a string (it is in files: %s)", strings.Join(w.keys, ", "))
		}
		w.refs = append(w.refs, fileRef{key: where, at: at, path: path})
		return nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return setting.Errorf("config."+where, "must be a mapping (it is in files: %s)", strings.Join(w.keys, ", "))
	}
	return w.walk(obj, rest, at, where)
}

// decodeConfig decodes a JSON config keeping numbers as written, so that
// rewriting a path leaves every other value as it was.
func decodeConfig(config []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(config))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if rest := bytes.TrimSpace(config[dec.InputOffset():]); len(rest) > 0 {
		return nil, fmt.Errorf("config: more than one JSON value")
	}
	return v, nil
}

// setPath is one string to write into a config: the value at at.
type setPath struct {
	at  []any
	val string
}

// setStrings writes string values into the JSON config at places fileRefs
// found (so the containers on the way exist), leaving the rest as it was.
func setStrings(config []byte, vals []setPath) ([]byte, error) {
	if len(vals) == 0 {
		return config, nil
	}
	root, err := decodeConfig(config)
	if err != nil {
		return nil, err
	}
	for _, s := range vals {
		v := root
		for i, step := range s.at {
			last := i == len(s.at)-1
			switch step := step.(type) {
			case string:
				obj, ok := v.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("config: no object at %v", s.at[:i])
				}
				if last {
					obj[step] = s.val
				}
				v = obj[step]
			case int:
				l, ok := v.([]any)
				if !ok || step >= len(l) {
					return nil, fmt.Errorf("config: no element at %v", s.at[:i+1])
				}
				if last {
					l[step] = s.val
				}
				v = l[step]
			}
		}
	}
	return json.Marshal(root)
}
