package topics

import (
	"fmt"
	"sync"
	"testing"
)

func sharedRouter(t *testing.T, clients ...string) (*Router, *Group) {
	t.Helper()
	r := NewRouter()
	for _, c := range clients {
		r.Subscribe(Subscription{Client: c, Filter: "jobs/+", Group: "workers"})
	}
	var m Matches
	r.Match("jobs/1", &m)
	if len(m.Groups) != 1 {
		t.Fatalf("Match gave %d groups, want 1", len(m.Groups))
	}
	return r, m.Groups[0]
}

func TestGroupPickGoesRoundRobin(t *testing.T) {
	_, g := sharedRouter(t, "a", "b", "c")
	if g.Name() != "workers" || g.Filter() != "jobs/+" {
		t.Fatalf("group is %q %q", g.Name(), g.Filter())
	}
	counts := map[string]int{}
	var prev string
	for range 30 {
		s, ok := g.Pick(func(string) bool { return true })
		if !ok {
			t.Fatal("Pick on a group of three: ok = false")
		}
		if s.Client == prev {
			t.Fatalf("%q picked twice in a row", s.Client)
		}
		prev = s.Client
		counts[s.Client]++
	}
	for _, c := range []string{"a", "b", "c"} {
		if counts[c] != 10 {
			t.Errorf("%q picked %d times of 30, want 10 (%v)", c, counts[c], counts)
		}
	}
}

func TestGroupPickSkipsIneligibleMembers(t *testing.T) {
	_, g := sharedRouter(t, "a", "b", "c", "d")
	online := map[string]bool{"b": true, "d": true}
	counts := map[string]int{}
	for range 20 {
		s, ok := g.Pick(func(c string) bool { return online[c] })
		if !ok {
			t.Fatal("ok = false")
		}
		counts[s.Client]++
	}
	if counts["a"] != 0 || counts["c"] != 0 {
		t.Fatalf("ineligible members picked: %v", counts)
	}
	if counts["b"] != 10 || counts["d"] != 10 {
		t.Fatalf("eligible members not picked in turn: %v", counts)
	}
}

func TestGroupPickFallsBackWhenNoneEligible(t *testing.T) {
	_, g := sharedRouter(t, "a", "b")
	s, ok := g.Pick(func(string) bool { return false })
	if !ok || (s.Client != "a" && s.Client != "b") {
		t.Fatalf("Pick with no eligible member = %+v, %v; want some member", s, ok)
	}
	if _, ok := (&Group{}).Pick(nil); ok {
		t.Fatal("Pick on a group never filled: ok = true")
	}
}

func TestGroupPickReturnsTheMembersSubscription(t *testing.T) {
	r := NewRouter()
	r.Subscribe(Subscription{Client: "a", Filter: "x", Group: "g", QoS: 2, Identifier: 7})
	if existed := r.Subscribe(Subscription{Client: "a", Filter: "x", Group: "g", QoS: 1, Identifier: 8}); !existed {
		t.Fatal("re-subscribing to the same group: existed = false")
	}
	var m Matches
	r.Match("x", &m)
	s, _ := m.Groups[0].Pick(nil)
	if s.QoS != 1 || s.Identifier != 8 || s.Group != "g" || s.Filter != "x" {
		t.Fatalf("Pick = %+v, want the replacement subscription", s)
	}
	if r.Count() != 1 || m.Groups[0].Len() != 1 {
		t.Fatalf("Count %d, members %d after a replacement; want 1 and 1", r.Count(), m.Groups[0].Len())
	}
}

func TestGroupRemovedWhenItsLastMemberLeaves(t *testing.T) {
	r, g := sharedRouter(t, "a", "b")
	if !r.Unsubscribe("a", "$share/workers/jobs/+") {
		t.Fatal("Unsubscribe a: false")
	}
	if g.Len() != 1 {
		t.Fatalf("group has %d members, want 1", g.Len())
	}
	if r.Unsubscribe("a", "$share/workers/jobs/+") {
		t.Fatal("second Unsubscribe of a: true")
	}
	if r.Unsubscribe("b", "jobs/+") {
		t.Fatal("Unsubscribe without the $share prefix removed the shared subscription")
	}
	if r.UnsubscribeAll("b") != 1 {
		t.Fatal("UnsubscribeAll b did not remove one subscription")
	}
	var m Matches
	r.Match("jobs/1", &m)
	if len(m.Groups) != 0 {
		t.Fatalf("empty group still matched: %d groups", len(m.Groups))
	}
	if r.nodes != 0 || r.Count() != 0 {
		t.Fatalf("after the last member left: %d nodes, %d subscriptions; want 0 and 0", r.nodes, r.Count())
	}
	if _, ok := g.Pick(nil); ok {
		t.Fatal("Pick on an emptied group: ok = true")
	}
}

func TestGroupsAndPlainSubscriptionsOfOneClientAreSeparate(t *testing.T) {
	r := NewRouter()
	r.Subscribe(Subscription{Client: "c", Filter: "a/+"})
	r.Subscribe(Subscription{Client: "c", Filter: "a/+", Group: "g1"})
	r.Subscribe(Subscription{Client: "c", Filter: "a/+", Group: "g2"})
	r.Subscribe(Subscription{Client: "d", Filter: "a/#", Group: "g1"}) // same name, other filter
	if r.Count() != 4 {
		t.Fatalf("Count = %d, want 4", r.Count())
	}
	var m Matches
	r.Match("a/b", &m)
	if len(m.Subs) != 1 || len(m.Groups) != 3 {
		t.Fatalf("Match: %d subscriptions and %d groups, want 1 and 3", len(m.Subs), len(m.Groups))
	}
	if !r.Unsubscribe("c", "$share/g1/a/+") {
		t.Fatal("Unsubscribe $share/g1/a/+: false")
	}
	m.Reset()
	r.Match("a/b", &m)
	if len(m.Subs) != 1 || len(m.Groups) != 2 {
		t.Fatalf("after leaving g1: %d subscriptions and %d groups, want 1 and 2", len(m.Subs), len(m.Groups))
	}
	if !r.Unsubscribe("c", "a/+") {
		t.Fatal("Unsubscribe a/+: false")
	}
	m.Reset()
	r.Match("a/b", &m)
	if len(m.Subs) != 0 || len(m.Groups) != 2 {
		t.Fatalf("after the plain unsubscribe: %d subscriptions and %d groups, want 0 and 2", len(m.Subs), len(m.Groups))
	}
	if n := r.UnsubscribeAll("c"); n != 1 {
		t.Fatalf("UnsubscribeAll(c) = %d, want 1", n)
	}
}

func TestGroupPickIsSafeForConcurrentUse(t *testing.T) {
	r, g := sharedRouter(t, "a", "b", "c", "d")
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range 1000 {
				if _, ok := g.Pick(func(c string) bool { return c != "a" }); !ok {
					t.Error("Pick: ok = false while the group has members")
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			c := fmt.Sprint("extra", i)
			for range 200 {
				r.Subscribe(Subscription{Client: c, Filter: "jobs/+", Group: "workers"})
				r.Unsubscribe(c, "$share/workers/jobs/+")
			}
		}()
	}
	wg.Wait()
	if g.Len() != 4 {
		t.Fatalf("group has %d members, want 4", g.Len())
	}
}
