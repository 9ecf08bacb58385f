package topics

import (
	"fmt"
	"slices"
	"testing"
)

// wildcardMatrix lists filter × topic → match, from MQTT 5.0 section 4.7 and its
// edge cases.
var wildcardMatrix = []struct {
	filter, topic string
	want          bool
}{
	// Exact filters: byte for byte, no normalisation [MQTT-4.7.3-4].
	{"a/b", "a/b", true},
	{"a/b", "a/b/c", false},
	{"a/b", "a", false},
	{"a/b", "A/b", false},
	{"a/b", "a/b/", false},
	{"a/b", "/a/b", false},
	{"ACCOUNTS", "Accounts", false},
	{"a b", "a b", true},
	{"ü/ß", "ü/ß", true},

	// Multi-level wildcard [MQTT-4.7.1-1].
	{"sport/tennis/player1/#", "sport/tennis/player1", true},
	{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
	{"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
	{"sport/tennis/player1/#", "sport/tennis/player2", false},
	{"sport/#", "sport", true},   // '#' matches its parent level
	{"sport/#", "sport/", true},  // and an empty child level
	{"sport/#", "sports", false}, // not a prefix of a level
	{"sport/#", "/sport", false}, // nor a later level
	{"#", "sport/tennis", true},  // everything
	{"#", "/", true},             // even empty levels
	{"#", "a", true},             // one level
	{"/#", "/a/b", true},         // under an empty first level
	{"/#", "a/b", false},         // not under "a"
	{"/#", "/", true},            //
	{"a/b/#", "a", false},        // two levels up is not the parent
	{"a/+/#", "a/b", true},       // '#' after '+' matches the '+' level
	{"a/+/#", "a", false},        //
	{"+/#", "a", true},           //
	{"+/#", "a/b/c", true},       //
	{"+/+/#", "a", false},        //

	// Single-level wildcard [MQTT-4.7.1-2].
	{"sport/tennis/+", "sport/tennis/player1", true},
	{"sport/tennis/+", "sport/tennis/player2", true},
	{"sport/tennis/+", "sport/tennis/player1/ranking", false},
	{"sport/+", "sport", false},
	{"sport/+", "sport/", true}, // '+' matches an empty level
	{"+", "a", true},
	{"+", "/", false},
	{"+", "a/b", false},
	{"+/+", "/finance", true},
	{"+/+", "a/b", true},
	{"+/+", "/", true},
	{"+/+", "a", false},
	{"+/+", "a/b/c", false},
	{"/+", "/finance", true},
	{"/+", "finance", false},
	{"/+", "/", true},
	{"+/", "a/", true},
	{"+/", "a", false},
	{"+/tennis/#", "sport/tennis/player1/ranking", true},
	{"+/tennis/#", "sport/tennis", true},
	{"+/tennis/#", "sport/golf", false},
	{"a/+/c", "a//c", true}, // empty middle level
	{"a/+/c", "a/c", false},
	{"a//c", "a//c", true},
	{"a//c", "a/c", false},

	// Leading and trailing separators make levels of their own.
	{"/", "/", true},
	{"/", "", false},
	{"/a", "/a", true},
	{"a/", "a/", true},
	{"a/", "a", false},
	{"//", "//", true},
	{"+/+/+", "//", true},

	// '$' topics are not matched by a filter that starts with a wildcard [MQTT-4.7.2-1].
	{"#", "$SYS/broker/clients", false},
	{"+/broker/clients", "$SYS/broker/clients", false},
	{"+", "$SYS", false},
	{"+/#", "$SYS/x", false},
	{"$SYS/#", "$SYS/broker/clients", true},
	{"$SYS/#", "$SYS", true},
	{"$SYS/+/clients", "$SYS/broker/clients", true},
	{"$SYS/broker/clients", "$SYS/broker/clients", true},
	{"$SYS/+", "$SYS/broker/clients", false},
	{"#", "$", false},
	{"$", "$", true},
	{"+/monitor/Clients", "$SYS/monitor/Clients", false},
	{"#", "a/$SYS", true},   // only the first character of the topic counts
	{"a/+", "a/$x", true},   //
	{"a/#", "a/$x/y", true}, //
	{"#", "x$", true},       //
	{"$share/#", "$share/x", true},
}

func TestMatchFollowsWildcardRules(t *testing.T) {
	for _, tc := range wildcardMatrix {
		t.Run(tc.filter+" vs "+tc.topic, func(t *testing.T) {
			if got := referenceMatch(tc.filter, tc.topic); got != tc.want {
				t.Fatalf("reference matcher disagrees with the table: got %v", got)
			}
			r := NewRouter()
			r.Subscribe(Subscription{Client: "c", Filter: tc.filter})
			var m Matches
			r.Match(tc.topic, &m)
			if got := len(m.Subs) == 1; got != tc.want {
				t.Errorf("Router: %q matches %q = %v, want %v", tc.filter, tc.topic, got, tc.want)
			}
			r.Subscribe(Subscription{Client: "c", Filter: tc.filter, Group: "g"})
			m.Reset()
			r.Match(tc.topic, &m)
			if got := len(m.Groups) == 1; got != tc.want {
				t.Errorf("Router shared: %q matches %q = %v, want %v", tc.filter, tc.topic, got, tc.want)
			}

			ret := NewRetained[int]()
			ret.Set(tc.topic, 1)
			var found []string
			ret.Match(tc.filter, func(topic string, _ int) bool {
				found = append(found, topic)
				return true
			})
			if got := len(found) == 1; got != tc.want {
				t.Errorf("Retained: %q matches %q = %v (%q), want %v", tc.filter, tc.topic, got, found, tc.want)
			}
		})
	}
}

// TestMatchAllFiltersAtOnce loads every filter of the matrix into one router and
// every topic into one retained index, so that branches shared between filters are
// exercised too, and compares each result with the reference matcher.
func TestMatchAllFiltersAtOnce(t *testing.T) {
	r := NewRouter()
	ret := NewRetained[string]()
	filters := map[string]bool{}
	topics := map[string]bool{}
	for _, tc := range wildcardMatrix {
		if !filters[tc.filter] {
			filters[tc.filter] = true
			r.Subscribe(Subscription{Client: "c", Filter: tc.filter})
		}
		if tc.topic != "" && !topics[tc.topic] {
			topics[tc.topic] = true
			ret.Set(tc.topic, tc.topic)
		}
	}
	var m Matches
	for topic := range topics {
		m.Reset()
		r.Match(topic, &m)
		var got, want []string
		for _, s := range m.Subs {
			got = append(got, s.Filter)
		}
		for f := range filters {
			if referenceMatch(f, topic) {
				want = append(want, f)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("Router.Match(%q) = %q, want %q", topic, got, want)
		}
	}
	for f := range filters {
		var got, want []string
		ret.Match(f, func(topic, v string) bool {
			if topic != v {
				t.Errorf("Retained.Match(%q) gave topic %q with the value of %q", f, topic, v)
			}
			got = append(got, topic)
			return true
		})
		for topic := range topics {
			if referenceMatch(f, topic) {
				want = append(want, topic)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("Retained.Match(%q) = %q, want %q", f, got, want)
		}
	}
}

func TestMatchReturnsEverySubscriberOfAFilter(t *testing.T) {
	r := NewRouter()
	for i := range 100 {
		r.Subscribe(Subscription{Client: fmt.Sprint("c", i), Filter: "a/+", QoS: byte(i % 3)})
	}
	var m Matches
	r.Match("a/b", &m)
	if len(m.Subs) != 100 {
		t.Fatalf("got %d subscriptions, want 100", len(m.Subs))
	}
	seen := map[string]bool{}
	for _, s := range m.Subs {
		seen[s.Client] = true
	}
	if len(seen) != 100 {
		t.Fatalf("got %d distinct clients, want 100", len(seen))
	}
}

func TestMatchKeepsOverlappingSubscriptionsOfOneClient(t *testing.T) {
	r := NewRouter()
	r.Subscribe(Subscription{Client: "c", Filter: "a/#", QoS: 0, Identifier: 1})
	r.Subscribe(Subscription{Client: "c", Filter: "a/+", QoS: 1, Identifier: 2})
	r.Subscribe(Subscription{Client: "c", Filter: "a/b", QoS: 2, Identifier: 3})
	var m Matches
	r.Match("a/b", &m)
	var ids []uint32
	for _, s := range m.Subs {
		ids = append(ids, s.Identifier)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []uint32{1, 2, 3}) {
		t.Fatalf("identifiers = %v, want [1 2 3]", ids)
	}
}

func TestMatchAppendsToCallerSlices(t *testing.T) {
	r := NewRouter()
	r.Subscribe(Subscription{Client: "c", Filter: "a"})
	m := Matches{Subs: []Subscription{{Client: "earlier"}}}
	r.Match("a", &m)
	if len(m.Subs) != 2 || m.Subs[0].Client != "earlier" || m.Subs[1].Client != "c" {
		t.Fatalf("Match did not append: %+v", m.Subs)
	}
	m.Reset()
	if len(m.Subs) != 0 || cap(m.Subs) < 2 {
		t.Fatalf("Reset: len %d cap %d, want 0 and capacity kept", len(m.Subs), cap(m.Subs))
	}
}

func TestRetainedMatchStopsWhenFnReturnsFalse(t *testing.T) {
	ret := NewRetained[int]()
	for i := range 10 {
		ret.Set(fmt.Sprint("a/", i), i)
	}
	calls := 0
	ret.Match("a/+", func(string, int) bool { calls++; return calls < 3 })
	if calls != 3 {
		t.Fatalf("fn called %d times after asking to stop at 3", calls)
	}
	calls = 0
	ret.Match("#", func(string, int) bool { calls++; return false })
	if calls != 1 {
		t.Fatalf("fn called %d times after asking to stop at 1", calls)
	}
}
