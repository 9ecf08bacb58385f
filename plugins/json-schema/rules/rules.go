// Package rules is the json-schema plugin's config: which topics carry which
// schema, and what happens to a message that does not match. It runs
// natively under go test; main.go is the Wasm glue.
package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/plumemq/plume/plugins/json-schema/schema"
)

// Action is what happens to an invalid message.
type Action uint8

// The actions.
const (
	Reject     Action = iota // refused: 0x99 Payload format invalid to a 5.0 publisher, not delivered
	DeadLetter               // delivered on the rule's dead-letter topic instead
)

// Rule is one topic filter's schema and action.
type Rule struct {
	Filter     string
	Schema     *schema.Schema
	Action     Action
	DeadLetter string // topic; "{topic}" in it stands for the message's topic
}

// Config is the plugin's config.
type Config struct {
	Rules []Rule
	// JSONTypes are the content types taken as JSON (parameters such as
	// "; charset=utf-8" ignored); types ending in "+json" are JSON too.
	JSONTypes map[string]bool
	// Other is what happens to a message on a rule's topic whose content
	// type is present and not JSON: "skip" (deliver unvalidated, the
	// default), "validate", or "invalid" (handled as an invalid message).
	Other string
}

// Parse reads the config; errors name the key ("rules[1].schema_file: ...").
func Parse(b []byte) (*Config, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || raw == nil {
		return nil, errors.New("config: want an object with rules")
	}
	c := &Config{JSONTypes: map[string]bool{"application/json": true}, Other: "skip"}
	for _, k := range sortedKeys(raw) {
		v := raw[k]
		switch k {
		case "rules":
			var list []json.RawMessage
			if err := json.Unmarshal(v, &list); err != nil || len(list) == 0 {
				return nil, errors.New("rules: want a non-empty array")
			}
			for i, r := range list {
				rule, err := parseRule(r, fmt.Sprintf("rules[%d]", i))
				if err != nil {
					return nil, err
				}
				c.Rules = append(c.Rules, rule)
			}
		case "json_content_types":
			var list []string
			if err := json.Unmarshal(v, &list); err != nil {
				return nil, errors.New("json_content_types: want an array of strings")
			}
			c.JSONTypes = map[string]bool{}
			for _, t := range list {
				c.JSONTypes[strings.ToLower(strings.TrimSpace(t))] = true
			}
		case "other_content_types":
			if err := json.Unmarshal(v, &c.Other); err != nil || (c.Other != "skip" && c.Other != "validate" && c.Other != "invalid") {
				return nil, errors.New(`other_content_types: want "skip", "validate" or "invalid"`)
			}
		default:
			return nil, fmt.Errorf("%s: unknown key (known: rules, json_content_types, other_content_types)", k)
		}
	}
	if len(c.Rules) == 0 {
		return nil, errors.New("rules: missing: give at least one {filter, schema}")
	}
	return c, nil
}

func parseRule(b []byte, path string) (Rule, error) {
	var r Rule
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || raw == nil {
		return r, fmt.Errorf("%s: want an object", path)
	}
	var doc []byte
	var from string
	onInvalid := "reject"
	for _, k := range sortedKeys(raw) {
		v, key := raw[k], path+"."+k
		switch k {
		case "filter":
			if err := json.Unmarshal(v, &r.Filter); err != nil || !ValidFilter(r.Filter) {
				return r, fmt.Errorf("%s: want an MQTT topic filter", key)
			}
		case "schema":
			doc, from = v, key
		case "schema_file":
			var name string
			if err := json.Unmarshal(v, &name); err != nil || name == "" {
				return r, fmt.Errorf("%s: want a file name", key)
			}
			if doc != nil {
				return r, fmt.Errorf("%s: give schema or schema_file, not both", path)
			}
			var err error
			if doc, err = os.ReadFile(name); err != nil {
				return r, fmt.Errorf("%s: %w", key, err)
			}
			from = key + " " + name
		case "on_invalid":
			if err := json.Unmarshal(v, &onInvalid); err != nil || (onInvalid != "reject" && onInvalid != "dead_letter") {
				return r, fmt.Errorf(`%s: want "reject" or "dead_letter"`, key)
			}
		case "dead_letter_topic":
			if err := json.Unmarshal(v, &r.DeadLetter); err != nil || !validTopic(strings.ReplaceAll(r.DeadLetter, "{topic}", "t")) {
				return r, fmt.Errorf("%s: want a topic name (no wildcards, not $SYS; {topic} stands for the message's topic)", key)
			}
		default:
			return r, fmt.Errorf("%s: unknown key (known: filter, schema, schema_file, on_invalid, dead_letter_topic)", key)
		}
	}
	switch {
	case r.Filter == "":
		return r, fmt.Errorf("%s.filter: missing", path)
	case doc == nil:
		return r, fmt.Errorf("%s: give schema or schema_file", path)
	case onInvalid == "dead_letter" && r.DeadLetter == "":
		return r, fmt.Errorf("%s.dead_letter_topic: missing, and on_invalid is dead_letter", path)
	case onInvalid == "reject" && r.DeadLetter != "":
		return r, fmt.Errorf(`%s.dead_letter_topic: set, but on_invalid is not "dead_letter"`, path)
	}
	if onInvalid == "dead_letter" {
		r.Action = DeadLetter
	}
	var err error
	if r.Schema, err = schema.Compile(doc); err != nil {
		return r, fmt.Errorf("%s: %w", from, err)
	}
	return r, nil
}

// Match returns the first rule whose filter matches topic, or nil.
func (c *Config) Match(topic string) *Rule {
	for i := range c.Rules {
		if Matches(c.Rules[i].Filter, topic) {
			return &c.Rules[i]
		}
	}
	return nil
}

// IsJSON reports whether a content type is one the config takes as JSON.
func (c *Config) IsJSON(ct string) bool {
	ct, _, _ = strings.Cut(ct, ";")
	ct = strings.ToLower(strings.TrimSpace(ct))
	return c.JSONTypes[ct] || strings.HasSuffix(ct, "+json")
}

// DeadLetterTopic is r's dead-letter topic for a message on topic.
func (r *Rule) DeadLetterTopic(topic string) string {
	return strings.ReplaceAll(r.DeadLetter, "{topic}", topic)
}

// Matches reports whether MQTT topic filter f matches topic t; a wildcard
// first level does not match a topic starting with $ [MQTT-4.7.2-1].
func Matches(f, t string) bool {
	if strings.HasPrefix(t, "$") && (strings.HasPrefix(f, "+") || strings.HasPrefix(f, "#")) {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(f, "/")
		tl, trest, tmore := strings.Cut(t, "/")
		switch {
		case fl == "#":
			return true
		case fl != "+" && fl != tl:
			return false
		case !fmore && !tmore:
			return true
		case !fmore:
			return false
		case !tmore:
			return frest == "#" // "a/#" matches "a"
		}
		f, t = frest, trest
	}
}

// ValidFilter reports whether f is a well-formed MQTT topic filter.
func ValidFilter(f string) bool {
	if f == "" {
		return false
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if l == "#" && i != len(levels)-1 || l != "#" && l != "+" && strings.ContainsAny(l, "#+") {
			return false
		}
	}
	return true
}

func validTopic(t string) bool {
	return t != "" && !strings.ContainsAny(t, "#+\x00") && !strings.HasPrefix(t, "$SYS")
}

func sortedKeys(m map[string]json.RawMessage) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
