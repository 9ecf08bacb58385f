// Package acl is the logic of the acl-file plugin, apart from the Wasm glue so
// that it tests natively: Mosquitto's acl_file (ParseFile), rules on client
// attributes (RuleConfig), and the decision for one publish or subscribe
// (Policy.Decide). README.md beside the plugin is the user's page.
package acl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Config is the plugin's config (the chain entry's `config:`, as JSON).
type Config struct {
	// File is the path of a Mosquitto acl_file, read once at init.
	File string `json:"file"`
	// Rules are checked before the file, in order.
	Rules []RuleConfig `json:"rules"`
	// NoMatch is the answer when neither a rule nor the file decides:
	// "deny" (the default, as Mosquitto) or "pass" (the next plugin decides).
	NoMatch string `json:"no_match"`
}

// ParseConfig decodes and checks the plugin's config, refusing unknown keys.
func ParseConfig(raw []byte) (Config, error) {
	var c Config
	if len(bytes.TrimSpace(raw)) == 0 {
		return c, errors.New("acl-file config: empty; want at least file or rules")
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		return c, fmt.Errorf("acl-file config: %w", err)
	}
	switch c.NoMatch {
	case "", "deny", "pass":
	default:
		return c, fmt.Errorf("acl-file config: no_match: %q is neither deny nor pass", c.NoMatch)
	}
	if c.File == "" && len(c.Rules) == 0 {
		return c, errors.New("acl-file config: neither file nor rules given")
	}
	return c, nil
}

// Policy answers authorize calls. It is immutable once built, so cached
// answers stay true until the plugin is reloaded (which builds a new one).
type Policy struct {
	file  *File
	rules []rule
	pass  bool // no_match: pass
}

// New builds the policy of c, reading its file with readFile.
func New(c Config, readFile func(string) ([]byte, error)) (*Policy, error) {
	p := &Policy{pass: c.NoMatch == "pass"}
	var err error
	if p.rules, err = compileRules(c.Rules); err != nil {
		return nil, fmt.Errorf("acl-file config: %w", err)
	}
	if c.File != "" {
		data, err := readFile(c.File)
		if err != nil {
			return nil, fmt.Errorf("acl-file: file: %w", err)
		}
		if p.file, err = ParseFile(c.File, data); err != nil {
			return nil, fmt.Errorf("acl-file: %w", err)
		}
	}
	return p, nil
}

// Action is what is asked: publish (Mosquitto's write) or subscribe (read).
type Action uint8

// The actions, numbered as the ABI numbers them.
const (
	Publish Action = iota
	Subscribe
)

func (a Action) String() string {
	if a == Subscribe {
		return "subscribe"
	}
	return "publish"
}

// Client is who asks. An empty Username is no username (anonymous), as a
// client without one is to Mosquitto's file.
type Client struct {
	ID, Username string
	// Attribute returns an attribute that authenticate attached; asked only
	// for the keys rules name, so a call reads no more than it needs. nil
	// means none.
	Attribute func(key string) (string, bool)
}

func (c *Client) attribute(k string) (string, bool) {
	if c.Attribute == nil {
		return "", false
	}
	return c.Attribute(k)
}

// Verdict is a decision's outcome.
type Verdict uint8

// The outcomes.
const (
	Pass Verdict = iota
	Allow
	Deny
)

// Decision is an answer and, for a deny, the reason string sent to MQTT 5
// clients.
type Decision struct {
	Verdict Verdict
	Reason  string
}

// Decide answers whether c may publish to topic (a topic name) or subscribe
// to it (a filter, with any $share/GROUP/ prefix). Rules come first, in
// order, then the file; the first to decide wins. Publish is Mosquitto's write
// check on the topic. Mosquitto checks read on each message delivered, Plume
// asks once at SUBSCRIBE: a filter is allowed only when every topic it can
// match is one Mosquitto would deliver, so a subscriber receives exactly what
// it would from Mosquitto, or is refused at SUBACK where Mosquitto would
// deliver only part of the filter (README.md, "Subscribe and read").
func (p *Policy) Decide(c *Client, action Action, topic string) Decision {
	e := evaluation{action: action, topic: topic}
	if action == Subscribe {
		e.topic = splitShare(topic)
		e.filter = strings.Split(e.topic, "/")
	}
	if d, ok := p.decideRules(c, &e); ok {
		return d
	}
	if p.file != nil {
		if d, ok := p.decideFile(c, &e); ok {
			return d
		}
	}
	switch {
	case e.partial:
		return e.deny("acl: subscribe to " + e.topic + " reaches topics no rule allows reading")
	case p.pass:
		return Decision{Verdict: Pass}
	}
	return e.deny(fmt.Sprintf("acl: no rule allows %s to %s", action, e.topic))
}

func (p *Policy) decideRules(c *Client, e *evaluation) (Decision, bool) {
	for i := range p.rules {
		r := &p.rules[i]
		if !r.matches(c.attribute) {
			continue
		}
		for _, t := range r.deny[e.action] {
			f, what, err := t.expand(c)
			if err != nil { // fail closed: a deny that cannot be written out denies
				return e.deny(fmt.Sprintf("acl: %s denies: %s unusable in %q", r.name, what, t.text)), true
			}
			if e.step(f, true) {
				return e.deny(fmt.Sprintf("acl: %s denies %s to %s", r.name, e.action, e.topic)), true
			}
		}
		for _, t := range r.allow[e.action] {
			f, _, err := t.expand(c)
			if err == nil && e.step(f, false) {
				return Decision{Verdict: Allow}, true
			}
		}
	}
	return Decision{}, false
}

// decideFile is mosquitto_acl_check_default (src/security_default.c).
func (p *Policy) decideFile(c *Client, e *evaluation) (Decision, bool) {
	f := p.file
	need := accessWrite
	if e.action == Subscribe {
		need = accessRead
	}
	// A client with a username gets its user's lines (none without a
	// section), one without gets the lines before the first user line.
	s := &f.anonymous
	if c.Username != "" {
		s = f.users[c.Username]
	}
	if s != nil {
		if d, ok := e.section(s, need, c, false); ok {
			return d, true
		}
	}
	if len(f.patterns.deny)+len(f.patterns.grant) == 0 {
		return Decision{}, false
	}
	// Mosquitto refuses, once its patterns are in play, a username or client
	// id holding a wildcard: substituted, it would widen the pattern.
	if strings.ContainsAny(c.Username, "+#") || strings.ContainsAny(c.ID, "+#") {
		return e.deny("acl: client id or username holds + or #, which patterns refuse"), true
	}
	return e.section(&f.patterns, need, c, true)
}

func (e *evaluation) section(s *section, need uint8, c *Client, patterns bool) (Decision, bool) {
	for _, l := range s.deny {
		if patterns && l.user && c.Username == "" {
			continue
		}
		if e.step(expandFor(l.topic, c, patterns), true) {
			return e.deny(fmt.Sprintf("acl: line %d denies %s to %s", l.no, e.action, e.topic)), true
		}
	}
	for _, l := range s.grant {
		if l.access&need == 0 || patterns && l.user && c.Username == "" {
			continue
		}
		if e.step(expandFor(l.topic, c, patterns), false) {
			return Decision{Verdict: Allow}, true
		}
	}
	return Decision{}, false
}

func expandFor(topic string, c *Client, pattern bool) string {
	if !pattern {
		return topic
	}
	return expand(topic, c.ID, c.Username, c.Username != "")
}

// evaluation is one Decide in progress. For subscribe it keeps the parts of
// the filter that earlier grants allowed, so that a later deny reaching only
// those does not refuse what Mosquitto would deliver.
type evaluation struct {
	action  Action
	topic   string   // the topic, or the filter without $share
	filter  []string // subscribe: the filter's levels
	allowed [][]string
	partial bool // subscribe: a grant allowed part of the filter
}

// step applies one line or rule filter f; true means it decides (deny or
// allow as given).
func (e *evaluation) step(f string, deny bool) bool {
	if e.action == Publish {
		return match(f, e.topic)
	}
	levels := strings.Split(f, "/")
	common, ok := intersect(levels, e.filter)
	if !ok {
		return false
	}
	if deny {
		for _, a := range e.allowed {
			if covers(a, common) {
				return false // those topics were allowed before this deny
			}
		}
		return true
	}
	if covers(levels, e.filter) {
		return true
	}
	e.allowed = append(e.allowed, common)
	e.partial = true
	return false
}

func (e *evaluation) deny(reason string) Decision {
	return Decision{Verdict: Deny, Reason: reason}
}
