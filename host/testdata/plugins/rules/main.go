// Command rules answers by the rules its config gives, so that two
// configurations of one module disagree where a test wants them to:
//
//	{"tag": "v2",                       reason string of its denials
//	 "deny": ["secret/"],               authorize: deny topics with these prefixes (cacheable)
//	 "pass": ["other/"],                authorize: pass on these
//	 "max_qos": {"slow/": 1},           authorize: allow with a QoS cap
//	 "deny_users": ["mallory"],         authenticate: deny these usernames
//	 "attrs": {"role": "reader"},       authenticate: attributes of an allow
//	 "reject": ["bad/"],                on-publish: reject with 0x99
//	 "suffix": "|v2"}                   transform: appended to every payload
//
// The auth method STATE is a two-step exchange that allows only when the
// client's state, set at the first step, is there at the second.
// Everything else is allowed (authenticate, authorize) or passed on.
package main

import (
	"encoding/json"
	"strings"

	plume "github.com/plumemq/plume/plugin-sdk/go"
)

var rules struct {
	Tag       string            `json:"tag"`
	Deny      []string          `json:"deny"`
	Pass      []string          `json:"pass"`
	MaxQoS    map[string]byte   `json:"max_qos"`
	DenyUsers []string          `json:"deny_users"`
	Attrs     map[string]string `json:"attrs"`
	Reject    []string          `json:"reject"`
	Suffix    string            `json:"suffix"`
}

func prefixed(topic string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(topic, p) {
			return true
		}
	}
	return false
}

func init() {
	plume.OnInit(func(config []byte) error {
		if len(config) == 0 {
			return nil
		}
		return json.Unmarshal(config, &rules)
	})
	plume.OnAuthenticate(func(e *plume.AuthEvent) plume.Decision {
		if e.Method() == "STATE" {
			// two steps that need the client's state kept between them
			if e.Step == plume.StepConnect {
				e.Client.SetState([]byte("asked"))
				return plume.ContinueAuth([]byte("challenge"))
			}
			if string(e.Client.State()) != "asked" {
				return plume.Deny(plume.BadAuthenticationMethod, "no state from the first step")
			}
			return plume.Allow()
		}
		for _, u := range rules.DenyUsers {
			if e.Client.Username() == u {
				return plume.Deny(plume.NotAuthorized, rules.Tag)
			}
		}
		d := plume.Allow()
		for k, v := range rules.Attrs {
			d = d.WithAttribute(k, v)
		}
		return d
	})
	plume.OnAuthorize(func(e *plume.AuthzEvent) plume.Decision {
		t := e.Topic()
		switch {
		case prefixed(t, rules.Deny):
			return plume.Deny(plume.NotAuthorized, rules.Tag).Cacheable()
		case prefixed(t, rules.Pass):
			return plume.Pass()
		}
		for p, q := range rules.MaxQoS {
			if strings.HasPrefix(t, p) {
				return plume.Allow().WithMaxQoS(q)
			}
		}
		return plume.Allow()
	})
	plume.OnPublish(func(m *plume.Message) plume.PublishDecision {
		if prefixed(m.Topic(), rules.Reject) {
			return plume.Reject(plume.PayloadFormatInvalid, rules.Tag)
		}
		return plume.Deliver()
	})
	plume.OnTransform(func(m *plume.Message) error {
		if rules.Suffix != "" {
			m.SetPayload(append(m.Payload(), rules.Suffix...))
		}
		return nil
	})
}

func main() {}
