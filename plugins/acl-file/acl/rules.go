package acl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// RuleConfig is one YAML rule: the clients it applies to, and the topics it
// allows and denies them.
type RuleConfig struct {
	// Name, optional, is shown in reasons and errors instead of rules[N].
	Name string `json:"name"`
	// Match selects clients; an empty match selects every client.
	Match MatchConfig `json:"match"`
	// Allow and Deny list topic filters with substitutions (see template).
	Allow Topics `json:"allow"`
	Deny  Topics `json:"deny"`
}

// MatchConfig selects clients by the attributes their authenticate plugin
// attached. Each key must be present with one of the listed values.
type MatchConfig struct {
	Attributes map[string]Values `json:"attributes"`
}

// Values is one string or a list of strings.
type Values []string

// UnmarshalJSON accepts "v" as well as ["v", "w"].
func (v *Values) UnmarshalJSON(b []byte) error {
	if b = bytes.TrimSpace(b); len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*v = Values{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return errors.New("want a string or a list of strings")
	}
	*v = l
	return nil
}

// Topics are the filters of one rule for each action.
type Topics struct {
	Publish   []string `json:"publish"`
	Subscribe []string `json:"subscribe"`
}

// rule is a compiled RuleConfig.
type rule struct {
	name  string // "rules[2]" or "rules[2] (sensors)"
	match map[string]Values
	deny  [2][]template // by Action
	allow [2][]template
}

func (r *rule) matches(attr func(string) (string, bool)) bool {
	for k, vals := range r.match {
		v, ok := attr(k)
		if !ok {
			return false
		}
		found := false
		for _, want := range vals {
			found = found || v == want
		}
		if !found {
			return false
		}
	}
	return true
}

// template is a rule's topic filter with its substitutions: %c the client id,
// %u the username, %{KEY} the client's attribute KEY, %% a percent sign.
type template struct {
	text  string
	parts []part // nil when the text has no substitution
}

// part is a literal (kind 0) or a substitution.
type part struct {
	kind byte // 0 literal, 'c', 'u', 'a' (attribute key in s)
	s    string
}

func compileTemplate(text string) (template, error) {
	t := template{text: text}
	if !strings.Contains(text, "%") {
		return t, validFilter(text)
	}
	var lit strings.Builder
	sample := strings.Builder{} // text with every substitution as "x", to validate
	flush := func() {
		if lit.Len() > 0 {
			t.parts = append(t.parts, part{s: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(text); i++ {
		if text[i] != '%' {
			lit.WriteByte(text[i])
			sample.WriteByte(text[i])
			continue
		}
		if i+1 == len(text) {
			return t, errors.New("'%' at the end: write %% for a percent sign")
		}
		switch c := text[i+1]; c {
		case '%':
			lit.WriteByte('%')
			sample.WriteByte('%')
			i++
		case 'c', 'u':
			flush()
			t.parts = append(t.parts, part{kind: c})
			sample.WriteByte('x')
			i++
		case '{':
			end := strings.IndexByte(text[i:], '}')
			if end < 0 {
				return t, errors.New("'%{' without '}'")
			}
			key := text[i+2 : i+end]
			if key == "" {
				return t, errors.New("'%{}' names no attribute")
			}
			flush()
			t.parts = append(t.parts, part{kind: 'a', s: key})
			sample.WriteByte('x')
			i += end
		default:
			return t, fmt.Errorf("'%%%c' is none of %%c, %%u, %%{attribute}, %%%%", c)
		}
	}
	flush()
	return t, validFilter(sample.String())
}

// errUnusable is why a substitution fails: the value is missing, empty, or
// holds '+', '#' or '/', which would widen the filter or move it to another
// level (Mosquitto refuses + and # in %c and %u for the same reason).
var errUnusable = errors.New("unusable")

// expand fills in t for c, or names what made it impossible.
func (t *template) expand(c *Client) (string, string, error) {
	if t.parts == nil {
		return t.text, "", nil
	}
	var b strings.Builder
	for _, p := range t.parts {
		var v, what string
		var ok bool
		switch p.kind {
		case 0:
			b.WriteString(p.s)
			continue
		case 'c':
			v, ok, what = c.ID, true, "client id"
		case 'u':
			v, ok, what = c.Username, c.Username != "", "username"
		case 'a':
			v, ok = c.attribute(p.s)
			what = "attribute " + p.s
		}
		if !ok || v == "" || strings.ContainsAny(v, "+#/") {
			return "", what, errUnusable
		}
		b.WriteString(v)
	}
	return b.String(), "", nil
}

func compileRules(cfgs []RuleConfig) ([]rule, error) {
	rules := make([]rule, len(cfgs))
	for i, rc := range cfgs {
		key := fmt.Sprintf("rules[%d]", i)
		r := rule{name: key, match: rc.Match.Attributes}
		if rc.Name != "" {
			r.name = fmt.Sprintf("%s (%s)", key, rc.Name)
		}
		for k, vals := range rc.Match.Attributes {
			if len(vals) == 0 {
				return nil, fmt.Errorf("%s.match.attributes.%s: no value", key, k)
			}
		}
		for _, list := range []struct {
			key  string
			in   []string
			out  *[]template
			deny bool
		}{
			{"allow.publish", rc.Allow.Publish, &r.allow[Publish], false},
			{"allow.subscribe", rc.Allow.Subscribe, &r.allow[Subscribe], false},
			{"deny.publish", rc.Deny.Publish, &r.deny[Publish], true},
			{"deny.subscribe", rc.Deny.Subscribe, &r.deny[Subscribe], true},
		} {
			for j, text := range list.in {
				t, err := compileTemplate(text)
				if err != nil {
					return nil, fmt.Errorf("%s.%s[%d]: %q: %w", key, list.key, j, text, err)
				}
				*list.out = append(*list.out, t)
			}
		}
		if len(r.allow[0])+len(r.allow[1])+len(r.deny[0])+len(r.deny[1]) == 0 {
			return nil, fmt.Errorf("%s: neither allow nor deny lists a topic", key)
		}
		rules[i] = r
	}
	return rules, nil
}
