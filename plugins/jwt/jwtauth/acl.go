package jwtauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The ACL claim, in EMQX's two formats (docs/decisions/0026-jwt-plugin.md):
//
//	{"pub": [filters], "sub": [filters], "all": [filters]}
//	    allow lists; a publish or subscribe that matches none is denied.
//	[{"permission": "allow"|"deny", "action": "publish"|"subscribe"|"all",
//	  "topic": filter | "topics": [filters], "qos": [0, 1], "retain": bool}]
//	    rules in order, the first that matches decides; none matching
//	    passes to the next plugin in the chain.
//
// Filters may hold %c / ${clientid} and %u / ${username}, replaced at
// authentication; "eq FILTER" matches FILTER literally (wildcards as
// characters). The compiled ACL travels with the client as one attribute,
// a line per rule after a first line "D" (allow lists: unmatched denied) or
// "P" (rules: unmatched passes). A rule's line is permission (a|d), action
// (p|s|b for both), QoS set as a digit (bit n = QoS n), retain (* any, t, f),
// match (~ MQTT wildcards, = literal), then the filter:
//
//	D
//	ap7*~sensors/dev1/#
//	as7*=cmd/dev1/+

// Verdict is an authorize answer.
type Verdict uint8

// The answers of Authorize.
const (
	Pass Verdict = iota
	Allow
	Deny
)

// Action is what a client asks to do.
type Action uint8

// The actions.
const (
	Publish Action = iota
	Subscribe
)

type rule struct {
	allow        bool
	pub, sub     bool
	qos          byte // bit n: QoS n
	retain       byte // '*', 't', 'f'
	literal      bool
	filter       string
	hasTemplates bool
}

// compileACL turns the claim into its attribute form, placeholders
// replaced by the client's id and username.
func compileACL(v any, clientID, username string) (string, error) {
	var rules []rule
	mode := "P"
	switch claim := v.(type) {
	case map[string]any:
		mode = "D"
		for _, key := range []string{"pub", "publish", "sub", "subscribe", "all"} {
			list, ok := claim[key]
			if !ok {
				continue
			}
			filters, err := stringList(key, list)
			if err != nil {
				return "", err
			}
			for _, f := range filters {
				rules = append(rules, rule{allow: true, pub: key != "sub" && key != "subscribe",
					sub: key != "pub" && key != "publish", qos: 7, retain: '*', filter: f})
			}
		}
		for key := range claim {
			switch key {
			case "pub", "publish", "sub", "subscribe", "all":
			default:
				return "", fmt.Errorf("unknown key %q (want pub, sub, all)", key)
			}
		}
	case []any:
		for i, e := range claim {
			rs, err := listRule(e)
			if err != nil {
				return "", fmt.Errorf("[%d]: %w", i, err)
			}
			rules = append(rules, rs...)
		}
	default:
		return "", errors.New("neither an object of filter lists nor a list of rules")
	}
	var b strings.Builder
	b.WriteString(mode)
	for _, r := range rules {
		f, literal := strings.CutPrefix(r.filter, "eq ")
		f, err := substitute(f, clientID, username)
		if err != nil {
			return "", err
		}
		if err := validFilter(f, literal); err != nil {
			return "", err
		}
		b.WriteByte('\n')
		b.WriteByte("da"[b2i(r.allow)])
		switch {
		case r.pub && r.sub:
			b.WriteByte('b')
		case r.pub:
			b.WriteByte('p')
		default:
			b.WriteByte('s')
		}
		b.WriteByte('0' + r.qos)
		b.WriteByte(r.retain)
		b.WriteByte("~="[b2i(literal)])
		b.WriteString(f)
	}
	return b.String(), nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func stringList(key string, v any) ([]string, error) {
	switch v := v.(type) {
	case string:
		return []string{v}, nil
	case []any:
		out := make([]string, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("%s[%d]: not a string", key, i)
			}
			out[i] = s
		}
		return out, nil
	}
	return nil, fmt.Errorf("%s: not a list of topic filters", key)
}

// listRule reads one rule of the list format.
func listRule(e any) ([]rule, error) {
	m, ok := e.(map[string]any)
	if !ok {
		return nil, errors.New("not an object")
	}
	r := rule{qos: 7, retain: '*'}
	for k, v := range m {
		switch k {
		case "permission":
			switch v {
			case "allow":
				r.allow = true
			case "deny":
			default:
				return nil, errors.New(`permission: want "allow" or "deny"`)
			}
		case "action":
			switch v {
			case "publish", "pub":
				r.pub = true
			case "subscribe", "sub":
				r.sub = true
			case "all":
				r.pub, r.sub = true, true
			default:
				return nil, errors.New(`action: want "publish", "subscribe" or "all"`)
			}
		case "qos":
			list, ok := v.([]any)
			if !ok {
				return nil, errors.New("qos: not a list")
			}
			r.qos = 0
			for _, q := range list {
				n, ok := q.(json.Number)
				if !ok || (n != "0" && n != "1" && n != "2") {
					return nil, errors.New("qos: want 0, 1 or 2")
				}
				r.qos |= 1 << (n[0] - '0')
			}
			if r.qos == 0 {
				return nil, errors.New("qos: empty")
			}
		case "retain":
			switch v {
			case true:
				r.retain = 't'
			case false:
				r.retain = 'f'
			default:
				return nil, errors.New("retain: not a boolean")
			}
		case "topic", "topics":
		default:
			return nil, fmt.Errorf("unknown key %q", k)
		}
	}
	if _, ok := m["permission"]; !ok {
		return nil, errors.New("no permission")
	}
	if !r.pub && !r.sub {
		return nil, errors.New("no action")
	}
	var filters []string
	for _, k := range []string{"topic", "topics"} {
		if v, ok := m[k]; ok {
			fs, err := stringList(k, v)
			if err != nil {
				return nil, err
			}
			filters = append(filters, fs...)
		}
	}
	if len(filters) == 0 {
		return nil, errors.New("no topic")
	}
	out := make([]rule, len(filters))
	for i, f := range filters {
		out[i] = r
		out[i].filter = f
	}
	return out, nil
}

// substitute replaces the placeholders. A client id or username that is
// empty or holds a wildcard cannot stand in a filter: "+" as a username
// would turn devices/%u/# into devices/+/#, every device's topics. The
// connection is refused rather than the rule dropped, because dropping a
// deny rule would widen what the client may do.
func substitute(f, clientID, username string) (string, error) {
	if !strings.ContainsAny(f, "%$") {
		return f, nil
	}
	for _, p := range []struct{ short, long, value, what string }{
		{"%c", "${clientid}", clientID, "client id"},
		{"%u", "${username}", username, "username"},
	} {
		if !strings.Contains(f, p.short) && !strings.Contains(f, p.long) {
			continue
		}
		if p.value == "" || strings.ContainsAny(p.value, "+#/") {
			return "", fmt.Errorf("a filter names the %s, which is empty or holds +, # or /", p.what)
		}
		f = strings.ReplaceAll(strings.ReplaceAll(f, p.short, p.value), p.long, p.value)
	}
	if strings.Contains(f, "${") {
		return "", errors.New("a filter holds an unknown ${...} placeholder (known: ${clientid}, ${username})")
	}
	return f, nil
}

// validFilter checks an MQTT topic filter: not empty, "#" only as the last
// level, "+" and "#" only as whole levels [MQTT-4.7.1-1], [MQTT-4.7.1-2];
// a literal may hold them as characters. Newlines separate the rules of the
// compiled form, and no topic may hold U+0000 [MQTT-4.7.3-2].
func validFilter(f string, literal bool) error {
	if f == "" || strings.ContainsAny(f, "\n\x00") {
		return errors.New("an empty filter, or one with a newline or NUL")
	}
	if literal {
		return nil
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1,
			l != "#" && l != "+" && strings.ContainsAny(l, "+#"):
			return errors.New("a filter with a misplaced + or #")
		}
	}
	return nil
}
