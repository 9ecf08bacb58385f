package host

import (
	"errors"
	"strings"
)

// filter is one topic filter a plugin declared for its message hooks.
type filter []string

// parseFilter checks an MQTT topic filter: '+' fills a whole level, '#' is the
// whole last level [MQTT-4.7.1-1] [MQTT-4.7.1-2].
func parseFilter(s string) (filter, error) {
	if s == "" {
		return nil, errors.New("empty topic filter")
	}
	levels := strings.Split(s, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return nil, errors.New("'#' must be the last level")
		case l != "#" && l != "+" && strings.ContainsAny(l, "#+"):
			return nil, errors.New("wildcards must fill a whole level")
		}
	}
	return levels, nil
}

// match reports whether topic matches f. Filters starting with a wildcard do
// not match topics starting with '$' [MQTT-4.7.2-1].
func (f filter) match(topic string) bool {
	if len(topic) > 0 && topic[0] == '$' && (f[0] == "+" || f[0] == "#") {
		return false
	}
	for i, l := range f {
		if l == "#" {
			return true
		}
		j := strings.IndexByte(topic, '/')
		level := topic
		if j >= 0 {
			level = topic[:j]
		}
		if l != "+" && l != level {
			return false
		}
		if j < 0 {
			// the topic ends here; it matches if the filter ends too, or
			// continues only with "#" (which matches the parent level)
			return i == len(f)-1 || (i == len(f)-2 && f[i+1] == "#")
		}
		topic = topic[j+1:]
	}
	return false
}

// matchAny reports whether topic matches one of fs; no filters match all.
func matchAny(fs []filter, topic string) bool {
	if len(fs) == 0 {
		return true
	}
	for _, f := range fs {
		if f.match(topic) {
			return true
		}
	}
	return false
}
