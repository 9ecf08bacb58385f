package subject

import (
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/plumemq/plume/core/topics"
)

func codec(t testing.TB) *Codec {
	t.Helper()
	c, err := New("plume.m")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTopicEncodesEveryLevelAsOneLiteralToken(t *testing.T) {
	c := codec(t)
	for _, tc := range []struct{ topic, want string }{
		{"a/b", "plume.m.t.a.b"},
		{"a.b/c", "plume.m.t.a%2Eb.c"},
		{"*/>", "plume.m.t.%2A.%3E"},
		{"a b\tc", "plume.m.t.a%20b%09c"},
		{"/", "plume.m.t.%.%"},
		{"a//b/", "plume.m.t.a.%.b.%"},
		{"100%", "plume.m.t.100%25"},
		{"$SYS/x", "plume.m.s.$SYS.x"},
		{"a$", "plume.m.t.a$"},
		{"é", "plume.m.t.%C3%A9"},
	} {
		got, err := c.Topic(tc.topic)
		if err != nil || got != tc.want {
			t.Errorf("Topic(%q) = %q, %v; want %q", tc.topic, got, err, tc.want)
			continue
		}
		if !server.IsValidLiteralSubject(got) {
			t.Errorf("Topic(%q) = %q is not a literal NATS subject", tc.topic, got)
		}
		back, err := c.Decode(got)
		if err != nil || back != tc.topic {
			t.Errorf("Decode(%q) = %q, %v; want %q", got, back, err, tc.topic)
		}
	}
}

func TestFilterSubjects(t *testing.T) {
	c := codec(t)
	for _, tc := range []struct {
		filter string
		want   []string
	}{
		{"#", []string{"plume.m.t.>"}},
		{"+", []string{"plume.m.t.*"}},
		{"a/#", []string{"plume.m.t.a", "plume.m.t.a.>"}},
		{"+/#", []string{"plume.m.t.*", "plume.m.t.*.>"}},
		{"a/+/c", []string{"plume.m.t.a.*.c"}},
		{"$SYS/#", []string{"plume.m.s.$SYS", "plume.m.s.$SYS.>"}},
		{"/+", []string{"plume.m.t.%.*"}},
		{"a.*/>", []string{"plume.m.t.a%2E%2A.%3E"}},
	} {
		got, err := c.Filter(tc.filter)
		if err != nil || strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("Filter(%q) = %q, %v; want %q", tc.filter, got, err, tc.want)
		}
	}
}

func TestDecodeRefusesWhatTopicNeverMakes(t *testing.T) {
	c := codec(t)
	for _, s := range []string{
		"other.t.a", "plume.m.t.a..b", "plume.m.t.a.*", "plume.m.t.%2e", "plume.m.t.%41",
		"plume.m.t.%2", "plume.m.t.%00", "plume.m.s.a", "plume.m.t.$a", "plume.m.t.a b",
	} {
		if got, err := c.Decode(s); err == nil {
			t.Errorf("Decode(%q) = %q, want an error", s, got)
		}
	}
}

func TestTooLongTopicsAndFiltersAreRefused(t *testing.T) {
	c := codec(t)
	long := strings.Repeat(".", MaxLength/3+1)
	if _, err := c.Topic(long); !errors.Is(err, ErrTooLong) {
		t.Fatalf("Topic of %d dots: %v, want ErrTooLong", len(long), err)
	}
	if _, err := c.Filter(long + "/#"); !errors.Is(err, ErrTooLong) {
		t.Fatalf("Filter of %d dots: %v, want ErrTooLong", len(long), err)
	}
	if _, err := c.Topic(strings.Repeat("a", MaxLength-20)); err != nil {
		t.Fatalf("a topic just under the limit: %v", err)
	}
}

func TestNewRefusesPrefixesThatAreNotLiteralSubjects(t *testing.T) {
	for _, p := range []string{"", "a..b", "a.*", ">", "a b", ".a"} {
		if _, err := New(p); !errors.Is(err, ErrPrefix) {
			t.Errorf("New(%q) = %v, want ErrPrefix", p, err)
		}
	}
}

func TestQueueNamesDifferByGroupAndFilter(t *testing.T) {
	seen := map[string]string{}
	for _, g := range [][2]string{{"g", "a/+"}, {"g", "a/#"}, {"g.a", "+"}, {"g", "a.+"}, {"h", "a/+"}, {"g", "a/+/"}} {
		q := Queue(g[0], g[1])
		if prev, ok := seen[q]; ok {
			t.Fatalf("Queue(%q, %q) = %q, as for %s", g[0], g[1], q, prev)
		}
		seen[q] = g[0] + " " + g[1]
		if strings.ContainsAny(q, " \t\r\n") {
			t.Fatalf("Queue(%q, %q) = %q holds whitespace", g[0], g[1], q)
		}
	}
}

// mqttMatch is core/topics' answer: does filter match topic?
func mqttMatch(filter, topic string) bool {
	r := topics.NewRouter()
	r.Subscribe(topics.Subscription{Client: "c", Filter: filter})
	var m topics.Matches
	r.Match(topic, &m)
	return len(m.Subs) == 1
}

// natsMatches counts the subjects of filter that NATS matches with the subject of topic.
func natsMatches(subjects []string, subj string) int {
	n := 0
	for _, f := range subjects {
		if server.SubjectMatchesFilter(subj, f) {
			n++
		}
	}
	return n
}
