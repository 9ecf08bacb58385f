package jwtauth

import "strings"

// Authorize answers a publish (topic name) or subscribe (filter, with any
// $share/group/ prefix) of a client whose compiled ACL is acl (the
// attribute Authenticate set). It reads the compiled form in place: no
// allocation, no parse per call.
func Authorize(acl string, action Action, topic string, qos byte, retain bool) Verdict {
	if action == Subscribe {
		topic = stripShare(topic)
	}
	mode, rules, _ := strings.Cut(acl, "\n")
	for rules != "" {
		var line string
		line, rules, _ = strings.Cut(rules, "\n")
		if len(line) < 6 {
			continue // not written by compileACL; ignore rather than guess
		}
		switch {
		case action == Publish && line[1] == 's', action == Subscribe && line[1] == 'p':
			continue
		case qos > 2 || (line[2]-'0')&(1<<qos) == 0:
			continue
		case action == Publish && (line[3] == 't' && !retain || line[3] == 'f' && retain):
			continue
		}
		filter := line[5:]
		if line[4] == '=' && filter != topic || line[4] == '~' && !covers(filter, topic) {
			continue
		}
		if line[0] == 'a' {
			return Allow
		}
		return Deny
	}
	if mode == "D" {
		return Deny
	}
	return Pass
}

// stripShare removes a shared subscription's $share/{group}/ prefix: the
// ACL speaks of the topics, whatever group shares them.
func stripShare(f string) string {
	rest, ok := strings.CutPrefix(f, "$share/")
	if !ok {
		return f
	}
	if _, after, ok := strings.Cut(rest, "/"); ok {
		return after
	}
	return f
}

// covers reports whether every topic that f matches is matched by rule, an
// MQTT topic filter; for a topic name f (no wildcards) that is plain
// matching. A wildcard at the first level matches no topic beginning with
// "$" [MQTT-4.7.2-1].
func covers(rule, f string) bool {
	first := true
	for {
		r, rrest, rmore := strings.Cut(rule, "/")
		l, frest, fmore := strings.Cut(f, "/")
		if first && (r == "#" || r == "+") && strings.HasPrefix(l, "$") {
			return false
		}
		first = false
		switch {
		case r == "#":
			return true
		case l == "#":
			return false // rule's level is narrower than f's multi-level wildcard
		case r != "+" && r != l:
			return false // a literal, or f's "+" against a literal
		}
		switch {
		case !rmore && !fmore:
			return true
		case !rmore:
			return false
		case !fmore:
			return rrest == "#" // "a/#" covers "a" [MQTT-4.7.1-2]
		}
		rule, f = rrest, frest
	}
}
