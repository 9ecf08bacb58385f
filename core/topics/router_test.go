package topics

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

// walkNodes counts the trie nodes below n by walking them, so that the test does not
// trust the router's own counter.
func walkNodes(n *node) int {
	count := 0
	for _, c := range n.children {
		count += 1 + walkNodes(c)
	}
	for _, c := range []*node{n.plus, n.hash} {
		if c != nil {
			count += 1 + walkNodes(c)
		}
	}
	return count
}

func walkRetained[T any](n *rnode[T]) int {
	count := 0
	for _, c := range n.children {
		count += 1 + walkRetained(c)
	}
	return count
}

func TestSubscribeReplacesTheSameClientFilterAndGroup(t *testing.T) {
	r := NewRouter()
	if r.Subscribe(Subscription{Client: "c", Filter: "a/b", QoS: 0}) {
		t.Fatal("first Subscribe: existed = true")
	}
	// [MQTT-3.8.4-3] A second SUBSCRIBE to the same filter replaces the first.
	if !r.Subscribe(Subscription{Client: "c", Filter: "a/b", QoS: 2, NoLocal: true}) {
		t.Fatal("second Subscribe: existed = false")
	}
	if r.Subscribe(Subscription{Client: "d", Filter: "a/b"}) {
		t.Fatal("another client: existed = true")
	}
	if r.Count() != 2 || r.Clients() != 2 {
		t.Fatalf("Count %d, Clients %d; want 2 and 2", r.Count(), r.Clients())
	}
	var m Matches
	r.Match("a/b", &m)
	for _, s := range m.Subs {
		if s.Client == "c" && (s.QoS != 2 || !s.NoLocal) {
			t.Fatalf("the replacement was not kept: %+v", s)
		}
	}
	if len(m.Subs) != 2 {
		t.Fatalf("Match gave %d subscriptions, want 2", len(m.Subs))
	}
}

func TestUnsubscribeRemovesOnlyThatSubscription(t *testing.T) {
	r := NewRouter()
	r.Subscribe(Subscription{Client: "c", Filter: "a/+"})
	r.Subscribe(Subscription{Client: "c", Filter: "a/#"})
	r.Subscribe(Subscription{Client: "d", Filter: "a/+"})
	for _, tc := range []struct {
		client, filter string
		want           bool
	}{
		{"c", "a/b", false},          // never subscribed
		{"c", "a", false},            // a prefix of a subscribed filter
		{"x", "a/+", false},          // another client
		{"c", "$share/g/a/+", false}, // not the shared one
		{"c", "$share//a/+", false},  // malformed
		{"c", "a/+", true},
		{"c", "a/+", false}, // already gone
	} {
		if got := r.Unsubscribe(tc.client, tc.filter); got != tc.want {
			t.Errorf("Unsubscribe(%q, %q) = %v, want %v", tc.client, tc.filter, got, tc.want)
		}
	}
	var m Matches
	r.Match("a/b", &m)
	if len(m.Subs) != 2 {
		t.Fatalf("Match gave %d subscriptions, want c's a/# and d's a/+", len(m.Subs))
	}
	if r.Count() != 2 {
		t.Fatalf("Count = %d, want 2", r.Count())
	}
}

func TestUnsubscribeAllRemovesEverySubscriptionOfTheClient(t *testing.T) {
	r := NewRouter()
	for _, f := range []string{"a", "a/+", "#", "b/c/d"} {
		r.Subscribe(Subscription{Client: "c", Filter: f})
		r.Subscribe(Subscription{Client: "keep", Filter: f})
	}
	r.Subscribe(Subscription{Client: "c", Filter: "a/+", Group: "g"})
	if n := r.UnsubscribeAll("c"); n != 5 {
		t.Fatalf("UnsubscribeAll = %d, want 5", n)
	}
	if n := r.UnsubscribeAll("c"); n != 0 {
		t.Fatalf("second UnsubscribeAll = %d, want 0", n)
	}
	if r.Count() != 4 || r.Clients() != 1 {
		t.Fatalf("Count %d, Clients %d; want 4 and 1", r.Count(), r.Clients())
	}
	var m Matches
	r.Match("a/x", &m)
	for _, s := range m.Subs {
		if s.Client == "c" {
			t.Fatalf("c still matched: %+v", s)
		}
	}
	if len(m.Groups) != 0 {
		t.Fatalf("c's group still matched")
	}
}

func TestUnsubscribingEverythingEmptiesTheTrie(t *testing.T) {
	r := NewRouter()
	rng := rand.New(rand.NewPCG(1, 2))
	filters := make([]string, 10_000)
	for i := range filters {
		switch i % 5 {
		case 0:
			filters[i] = fmt.Sprintf("site/%d/sensor/%d", i%97, i)
		case 1:
			filters[i] = fmt.Sprintf("site/+/sensor/%d/#", i)
		case 2:
			filters[i] = fmt.Sprintf("+/%d/+", i)
		case 3:
			filters[i] = fmt.Sprintf("/%d//#", i%13)
		default:
			filters[i] = fmt.Sprintf("$SYS/%d/+", i)
		}
	}
	for i, f := range filters {
		r.Subscribe(Subscription{Client: fmt.Sprint("c", i%50), Filter: f})
		if i%7 == 0 {
			r.Subscribe(Subscription{Client: fmt.Sprint("c", i%50), Filter: f, Group: "g"})
		}
	}
	if r.nodes == 0 || r.nodes != walkNodes(&r.root) {
		t.Fatalf("node counter %d, walk %d", r.nodes, walkNodes(&r.root))
	}
	rng.Shuffle(len(filters), func(i, j int) { filters[i], filters[j] = filters[j], filters[i] })
	for _, f := range filters {
		r.Unsubscribe("c0", f) // some of these are not c0's; that is fine
	}
	for i := range 50 {
		r.UnsubscribeAll(fmt.Sprint("c", i))
	}
	if r.nodes != 0 || walkNodes(&r.root) != 0 {
		t.Fatalf("after unsubscribing everything: counter %d, walk %d nodes; want 0", r.nodes, walkNodes(&r.root))
	}
	if r.Count() != 0 || r.Clients() != 0 || r.root.children != nil {
		t.Fatalf("Count %d, Clients %d, root children %v; want empty", r.Count(), r.Clients(), r.root.children)
	}
}

func TestRouterIsSafeForConcurrentUse(t *testing.T) {
	r := NewRouter()
	filters := []string{"a/b", "a/+", "a/#", "#", "+/b", "$SYS/#", "a/b/c"}
	topics := []string{"a/b", "a/b/c", "x/b", "$SYS/x", "a"}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := fmt.Sprint("c", w)
			for i := range 500 {
				f := filters[i%len(filters)]
				group := ""
				if i%3 == 0 {
					group = "g"
				}
				r.Subscribe(Subscription{Client: client, Filter: f, Group: group})
				if i%2 == 0 {
					r.Unsubscribe(client, f)
				}
				if i%100 == 99 {
					r.UnsubscribeAll(client)
				}
			}
			r.UnsubscribeAll(client)
		}()
	}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var m Matches
			for i := range 2000 {
				m.Reset()
				r.Match(topics[i%len(topics)], &m)
				for _, g := range m.Groups {
					g.Pick(func(string) bool { return true })
				}
				_ = r.Count()
			}
		}()
	}
	wg.Wait()
	if r.Count() != 0 || r.nodes != 0 {
		t.Fatalf("after every client left: Count %d, nodes %d", r.Count(), r.nodes)
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	r := NewRouter()
	for i := range 100 {
		r.Subscribe(Subscription{Client: fmt.Sprint("c", i), Filter: "a/+/c"})
	}
	r.Subscribe(Subscription{Client: "c", Filter: "#"})
	r.Subscribe(Subscription{Client: "c", Filter: "a/b/#", Group: "g"})
	m := Matches{Subs: make([]Subscription, 0, 200), Groups: make([]*Group, 0, 8)}
	allocs := testing.AllocsPerRun(100, func() {
		m.Reset()
		r.Match("a/b/c", &m)
	})
	if allocs != 0 {
		t.Fatalf("Match allocated %v times per call", allocs)
	}
	if len(m.Subs) != 101 || len(m.Groups) != 1 {
		t.Fatalf("Match gave %d subscriptions and %d groups, want 101 and 1", len(m.Subs), len(m.Groups))
	}
}

func TestCrowdedFilterKeepsTrackOfEachClient(t *testing.T) {
	// Enough subscribers to switch the node to its client index and back.
	r := NewRouter()
	want := map[string]bool{}
	for i := range 3 * indexFrom {
		c := fmt.Sprint("c", i)
		r.Subscribe(Subscription{Client: c, Filter: "a/b"})
		want[c] = true
	}
	rng := rand.New(rand.NewPCG(3, 4))
	order := rng.Perm(3 * indexFrom)
	var m Matches
	for step, i := range order {
		c := fmt.Sprint("c", i)
		if step%5 == 0 { // a replacement in between must not duplicate anyone
			for other := range want {
				if r.Subscribe(Subscription{Client: other, Filter: "a/b", QoS: 1}) != true {
					t.Fatalf("re-subscribing %s: existed = false", other)
				}
				break
			}
		}
		if !r.Unsubscribe(c, "a/b") {
			t.Fatalf("Unsubscribe(%s): false", c)
		}
		delete(want, c)
		m.Reset()
		r.Match("a/b", &m)
		got := map[string]bool{}
		for _, s := range m.Subs {
			if got[s.Client] {
				t.Fatalf("%s matched twice", s.Client)
			}
			got[s.Client] = true
		}
		if len(got) != len(want) {
			t.Fatalf("after removing %d clients: %d matched, want %d", step+1, len(got), len(want))
		}
		for c := range want {
			if !got[c] {
				t.Fatalf("%s no longer matched", c)
			}
		}
	}
	if r.nodes != 0 {
		t.Fatalf("%d nodes left", r.nodes)
	}
}
