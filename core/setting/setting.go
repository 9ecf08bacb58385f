// Package setting is what every component's configuration shares: an error
// that names the key the user wrote, and the value types a config file spells
// in words (sizes).
//
// Each component owns its config struct: the struct carries the file's key
// names as `yaml` tags, the component fills in its defaults and its Validate
// method states every rule, once (docs/decisions/0017-config-ownership.md).
// The binary decodes the file straight into those structs. A rule broken is
// reported as an *Error naming the key, so that the binary can add the line
// of the file where the user wrote it. This package imports no YAML library:
// the types here decode through encoding.TextUnmarshaler, which YAML and
// JSON decoders both honour.
package setting

import (
	"errors"
	"fmt"
	"strings"
)

// Error is a config value a component refuses. Key is the path of key names
// as the config file spells them, relative to the struct that was validated:
// "max_qos", "chain[0].call_timeout".
type Error struct {
	Key string
	Err error
}

// Error is "key: reason".
func (e *Error) Error() string { return e.Key + ": " + e.Err.Error() }

// Unwrap returns the reason.
func (e *Error) Unwrap() error { return e.Err }

// Errorf makes an *Error for key with a formatted reason.
func Errorf(key, format string, args ...any) error {
	return &Error{Key: key, Err: fmt.Errorf(format, args...)}
}

// In puts err under the key of the section that holds the struct that
// reported it: In("plugins", chain[0].name error) is about
// "plugins.chain[0].name", In("chain[2]", name error) about "chain[2].name".
// An error that names no key is about the section itself. In(section, nil)
// is nil. Errors joined (errors.Join: a Validate that reports every
// problem) are each put under section, and stay joined.
func In(section string, err error) error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs := j.Unwrap()
		in := make([]error, len(errs))
		for i, e := range errs {
			in[i] = In(section, e)
		}
		return errors.Join(in...)
	}
	var e *Error
	if !errors.As(err, &e) {
		return &Error{Key: section, Err: err}
	}
	return &Error{Key: Join(section, e.Key), Err: e.Err}
}

// Join appends key to the path section: "limits"+"max_qos" is
// "limits.max_qos", "chain"+"[0].name" is "chain[0].name".
func Join(section, key string) string {
	switch {
	case section == "":
		return key
	case key == "":
		return section
	case strings.HasPrefix(key, "["):
		return section + key
	}
	return section + "." + key
}
