// Command json-schema is Plume's standard schema-validation plugin: JSON
// payloads on configured topic filters are checked against JSON Schema (a
// draft 2020-12 subset, package schema) and, when invalid, refused with 0x99
// Payload format invalid or delivered on a dead-letter topic instead. See
// README.md.
package main

import (
	"fmt"

	plume "github.com/plumemq/plume/plugin-sdk/go"
	"github.com/plumemq/plume/plugins/json-schema/rules"
)

func main() {}

func init() { plume.OnInit(setup) }

var cfg *rules.Config

func setup(config []byte) error {
	c, err := rules.Parse(config)
	if err != nil {
		return fmt.Errorf("json-schema: %w", err)
	}
	cfg = c
	var reject, deadLetter bool
	for _, r := range c.Rules {
		plume.Filters(r.Filter)
		reject = reject || r.Action == rules.Reject
		deadLetter = deadLetter || r.Action == rules.DeadLetter
	}
	// On-publish can refuse a message but not move it; a transform can
	// move it but not refuse it. Each action uses the point that has it.
	if reject {
		plume.OnPublish(onPublish)
	}
	if deadLetter {
		plume.OnTransform(onTransform)
	}
	return nil
}

// check returns the rule for m's topic and why m breaks it; rule nil or why
// "" means the message is let through.
func check(m *plume.Message) (*rules.Rule, string) {
	r := cfg.Match(m.Topic())
	if r == nil {
		return nil, ""
	}
	if ct, ok := m.ContentType(); ok && !cfg.IsJSON(ct) {
		switch cfg.Other {
		case "skip":
			return nil, ""
		case "invalid":
			return r, "content type " + ct + " is not JSON"
		}
	}
	if err := r.Schema.Validate(m.Payload()); err != nil {
		return r, err.Error()
	}
	return r, ""
}

func onPublish(m *plume.Message) plume.PublishDecision {
	r, why := check(m)
	if r == nil || why == "" || r.Action != rules.Reject {
		return plume.Deliver()
	}
	return plume.Reject(plume.PayloadFormatInvalid, "schema: "+why)
}

// onTransform moves an invalid message to its rule's dead-letter topic, with
// what was wrong and where it was going as user properties.
func onTransform(m *plume.Message) error {
	r, why := check(m)
	if r == nil || why == "" || r.Action != rules.DeadLetter {
		return nil
	}
	topic := m.Topic()
	props := append(m.UserProperties(),
		plume.Pair{Key: "schema-error", Value: why},
		plume.Pair{Key: "original-topic", Value: topic})
	m.SetTopic(r.DeadLetterTopic(topic))
	m.SetUserProperties(props)
	return nil
}
