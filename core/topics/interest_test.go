package topics

import (
	"fmt"
	"slices"
	"testing"
)

func TestInterestHearsFirstAndLastOfEachFilterAndGroup(t *testing.T) {
	r := NewRouter()
	var got []string
	r.SetInterest(func(filter, group string, on bool) {
		got = append(got, fmt.Sprintf("%s|%s|%v", filter, group, on))
	})
	r.Subscribe(Subscription{Client: "a", Filter: "x/#"})
	r.Subscribe(Subscription{Client: "b", Filter: "x/#"})
	r.Subscribe(Subscription{Client: "a", Filter: "x/#", QoS: 1}) // a replacement
	r.Subscribe(Subscription{Client: "a", Filter: "x/+", Group: "g"})
	r.Subscribe(Subscription{Client: "b", Filter: "x/+", Group: "g"})
	r.Unsubscribe("a", "x/#")
	r.Unsubscribe("a", "$share/g/x/+")
	r.Unsubscribe("c", "x/#") // not subscribed
	r.UnsubscribeAll("b")
	// UnsubscribeAll walks b's subscriptions in map order: the last two
	// calls may come either way round.
	if len(got) == 4 {
		slices.Sort(got[2:])
	}
	want := []string{"x/#||true", "x/+|g|true", "x/#||false", "x/+|g|false"}
	if !slices.Equal(got, want) {
		t.Fatalf("interest calls %q, want %q", got, want)
	}
}
