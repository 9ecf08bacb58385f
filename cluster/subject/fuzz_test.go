package subject

import (
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/plumemq/plume/core/topics"
)

// FuzzTopicRoundTrip: every valid topic makes a literal subject that decodes
// back to it.
func FuzzTopicRoundTrip(f *testing.F) {
	for _, s := range []string{"a/b", "a.b", "*", ">", " ", "/", "//", "$SYS/a", "é/ü", "%", "%25", "a\tb"} {
		f.Add(s)
	}
	c := codec(f)
	f.Fuzz(func(t *testing.T, topic string) {
		if topics.ValidateName(topic) != nil {
			return
		}
		s, err := c.Topic(topic)
		if err != nil {
			if len(topic) > MaxLength/3 {
				return // may be too long, by design
			}
			t.Fatalf("Topic(%q): %v", topic, err)
		}
		if !server.IsValidLiteralSubject(s) {
			t.Fatalf("Topic(%q) = %q, not a literal subject", topic, s)
		}
		back, err := c.Decode(s)
		if err != nil || back != topic {
			t.Fatalf("Decode(Topic(%q)) = %q, %v", topic, back, err)
		}
	})
}

// FuzzFilterMatchesAsInMQTT: a filter matches a topic in MQTT (core/topics)
// exactly when one of the filter's subjects matches the topic's subject in
// NATS, and never two of them.
func FuzzFilterMatchesAsInMQTT(f *testing.F) {
	for _, p := range [][2]string{
		{"#", "a"}, {"#", "$SYS/a"}, {"+", "$x"}, {"a/#", "a"}, {"a/#", "a/b/c"}, {"a/+", "a/"},
		{"+/+", "/"}, {"$SYS/#", "$SYS"}, {"a.b/+", "a.b/c"}, {"a/*", "a/b"}, {"a/>", "a/b/c"},
		{"+/#", "$a/b"}, {"a b/#", "a b"}, {"/#", "/"}, {"é/+", "é/x"},
	} {
		f.Add(p[0], p[1])
	}
	c := codec(f)
	f.Fuzz(func(t *testing.T, filter, topic string) {
		if topics.ValidateFilter(filter) != nil || topics.ValidateName(topic) != nil {
			return
		}
		if _, _, shared, _ := topics.ParseShared(filter); shared {
			return
		}
		subjects, ferr := c.Filter(filter)
		subj, terr := c.Topic(topic)
		if ferr != nil || terr != nil {
			if len(filter) > MaxLength/3 || len(topic) > MaxLength/3 {
				return
			}
			t.Fatalf("Filter(%q): %v; Topic(%q): %v", filter, ferr, topic, terr)
		}
		for _, s := range subjects {
			if !server.IsValidSubject(s) {
				t.Fatalf("Filter(%q) made %q, not a NATS subject", filter, s)
			}
		}
		want := mqttMatch(filter, topic)
		n := natsMatches(subjects, subj)
		if n > 1 || (n == 1) != want {
			t.Fatalf("%q matches %q in MQTT: %v; in NATS %q matches %q %d times", filter, topic, want, subjects, subj, n)
		}
	})
}
