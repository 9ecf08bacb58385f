package host

import (
	"encoding/json"
	"fmt"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/setting"
)

// ConfigBytes is what a plugin's init receives. A config file may write it
// as a string, passed on verbatim, or as a mapping or list, passed on as
// JSON so that a plugin that reads JSON can be configured in the broker's
// YAML.
type ConfigBytes []byte

// UnmarshalYAML keeps a scalar's text and turns a mapping or list into JSON.
// It is the form of YAML unmarshaler that decoders (gopkg.in/yaml.v2 and v3)
// call without the host importing them; unmarshal decodes the value into
// what it is given.
func (c *ConfigBytes) UnmarshalYAML(unmarshal func(any) error) error {
	var text string
	if unmarshal(&text) == nil {
		*c = ConfigBytes(text)
		return nil
	}
	var v any
	if err := unmarshal(&v); err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("cannot be written as JSON: %w", err)
	}
	*c = b
	return nil
}

// OnError is what a failed call of a plugin (a trap, a deadline, an error it
// returned) means to the chain, per kind of point.
type OnError struct {
	// Auth is for authenticate and authorize: FailClosed (deny, the
	// default) or FailOpen (ask the next plugin).
	Auth Policy `yaml:"auth"`
	// Message is for on-publish and transform: FailOpen (deliver the
	// message unchanged, the default) or FailClosed (reject or drop it).
	Message Policy `yaml:"message"`
}

// failure is o as the chain reads it.
func (o OnError) failure() hooks.Failure {
	return hooks.Failure{AuthFailOpen: o.Auth == FailOpen, MessageFailClosed: o.Message == FailClosed}
}

func (o OnError) validate() error {
	if !o.Auth.known() {
		return setting.In("auth", o.Auth.errUnknown())
	}
	if !o.Message.known() {
		return setting.In("message", o.Message.errUnknown())
	}
	return nil
}

// Policy is FailOpen or FailClosed; "" is the point's default.
type Policy string

// The failure policies.
const (
	FailOpen   Policy = "fail-open"
	FailClosed Policy = "fail-closed"
)

// UnmarshalText accepts fail-open and fail-closed.
func (p *Policy) UnmarshalText(text []byte) error {
	v := Policy(text)
	if !v.known() {
		return v.errUnknown()
	}
	*p = v
	return nil
}

func (p Policy) known() bool { return p == "" || p == FailOpen || p == FailClosed }

func (p Policy) errUnknown() error {
	return fmt.Errorf("%q is not %s or %s", string(p), FailOpen, FailClosed)
}
