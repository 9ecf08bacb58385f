package acl

import (
	"errors"
	"strings"
)

// The topic algebra the policy needs. An MQTT filter names a set of topics;
// publish asks whether one topic is in a rule's set (match), subscribe asks
// whether a whole filter's set lies inside the allowed sets (covers) and
// whether it meets a denied one (intersect). Topics whose first level starts
// with '$' are matched only by filters whose first level is that literal
// [MQTT-4.7.2-1], exactly as Mosquitto's mosquitto_topic_matches_sub does
// for ACL lines.

// validFilter reports whether f is a well-formed MQTT topic filter: '+' and
// '#' fill whole levels and '#' is last [MQTT-4.7.1-2] [MQTT-4.7.1-3].
func validFilter(f string) error {
	if f == "" {
		return errors.New("empty topic")
	}
	if len(f) > 65535 {
		return errors.New("topic longer than 65535 bytes")
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return errors.New("'#' must be the last level")
		case l != "#" && l != "+" && strings.ContainsAny(l, "+#"):
			return errors.New("'+' and '#' must fill a whole level")
		case strings.ContainsRune(l, 0):
			return errors.New("NUL in topic")
		}
	}
	return nil
}

// dollar reports whether a level list is a '$' topic or filter: its first
// level is a literal beginning with '$'.
func dollar(levels []string) bool { return len(levels[0]) > 0 && levels[0][0] == '$' }

// wild reports whether a level is a wildcard.
func wild(l string) bool { return l == "+" || l == "#" }

// match reports whether topic (no wildcards) is in filter's set.
func match(filter, topic string) bool {
	if (filter != "" && filter[0] == '$') != (topic != "" && topic[0] == '$') {
		return false // [MQTT-4.7.2-1]; '$' against '$' is compared literally below
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return true // also the parent level: "a/#" matches "a" [MQTT-4.7.1-2]
		}
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl != "+" && fl != tl {
			return false
		}
		switch {
		case !fmore && !tmore:
			return true
		case !tmore:
			return frest == "#"
		case !fmore:
			return false
		}
		filter, topic = frest, trest
	}
}

// covers reports whether every topic in f's set is in a's set.
func covers(a, f []string) bool {
	if dollar(f) != dollar(a) && !(wild(a[0]) || wild(f[0])) {
		return false
	}
	if wild(a[0]) && dollar(f) {
		return false // a wildcard first level reaches no '$' topic
	}
	for i := 0; ; i++ {
		switch {
		case i < len(a) && a[i] == "#":
			return true
		case i == len(a) || i == len(f):
			return i == len(a) && i == len(f)
		case f[i] == "#":
			return false // f reaches deeper (and the parent) than a's literal or '+'
		case a[i] == "+":
			continue
		case f[i] == "+" || f[i] != a[i]:
			return false
		}
	}
}

// intersect returns the filter whose set is what a's and b's sets share, and
// false if they share nothing. Two filters meet in at most one filter: each is
// a product of per-level sets, with an optional any-suffix tail.
func intersect(a, b []string) ([]string, bool) {
	if wild(a[0]) && dollar(b) || wild(b[0]) && dollar(a) {
		return nil, false
	}
	var out []string
	for i := 0; ; i++ {
		switch {
		case i < len(a) && a[i] == "#":
			return notEmpty(append(out, b[i:]...))
		case i < len(b) && b[i] == "#":
			return notEmpty(append(out, a[i:]...))
		case i == len(a) || i == len(b):
			if i != len(a) || i != len(b) {
				return nil, false
			}
			return notEmpty(out)
		case a[i] == "+":
			out = append(out, b[i])
		case b[i] == "+" || a[i] == b[i]:
			out = append(out, a[i])
		default:
			return nil, false
		}
	}
}

// notEmpty refuses the filter "", whose one topic, "", no client can use.
func notEmpty(f []string) ([]string, bool) {
	return f, len(f) > 1 || f[0] != ""
}

// splitShare strips a shared subscription's "$share/GROUP/" prefix: the
// group changes who gets a message, not which topics reach it.
func splitShare(filter string) string {
	if rest, ok := strings.CutPrefix(filter, "$share/"); ok {
		if _, f, ok := strings.Cut(rest, "/"); ok {
			return f
		}
	}
	return filter
}
