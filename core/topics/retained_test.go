package topics

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

func TestRetainedSetGetDelete(t *testing.T) {
	r := NewRetained[string]()
	r.Set("a/b", "one")
	r.Set("a/b", "two") // [MQTT-3.3.1-5] a new retained message replaces the old
	r.Set("a", "parent")
	if v, ok := r.Get("a/b"); !ok || v != "two" {
		t.Fatalf("Get(a/b) = %q, %v; want two", v, ok)
	}
	if _, ok := r.Get("a/b/c"); ok {
		t.Fatal("Get of a topic never set: ok")
	}
	if r.Len() != 2 {
		t.Fatalf("Len = %d, want 2", r.Len())
	}
	if r.Delete("a/c") {
		t.Fatal("Delete of a topic never set: true")
	}
	if !r.Delete("a") {
		t.Fatal("Delete(a): false")
	}
	if _, ok := r.Get("a"); ok {
		t.Fatal("a still retained after Delete")
	}
	if v, ok := r.Get("a/b"); !ok || v != "two" {
		t.Fatal("deleting the parent removed the child")
	}
	if !r.Delete("a/b") || r.Len() != 0 {
		t.Fatalf("Delete(a/b) then Len = %d", r.Len())
	}
}

func TestRetainedDeletingEverythingEmptiesTheTrie(t *testing.T) {
	r := NewRetained[int]()
	var topics []string
	for i := range 10_000 {
		topics = append(topics, fmt.Sprintf("site/%d/dev/%d/", i%31, i), fmt.Sprintf("$SYS/%d", i))
	}
	for i, topic := range topics {
		r.Set(topic, i)
	}
	if r.nodes != walkRetained(&r.root) {
		t.Fatalf("node counter %d, walk %d", r.nodes, walkRetained(&r.root))
	}
	for _, topic := range topics {
		if !r.Delete(topic) {
			t.Fatalf("Delete(%q): false", topic)
		}
	}
	if r.Len() != 0 || r.nodes != 0 || walkRetained(&r.root) != 0 || r.root.children != nil {
		t.Fatalf("after deleting everything: Len %d, nodes %d", r.Len(), r.nodes)
	}
}

func TestRetainedMatchWalksOnlyMatchingTopics(t *testing.T) {
	r := NewRetained[int]()
	for i, topic := range []string{"a", "a/b", "a/b/c", "a/c", "b", "$SYS/up", "/a", "a/"} {
		r.Set(topic, i)
	}
	tests := []struct {
		filter string
		want   []string
	}{
		{"#", []string{"/a", "a", "a/", "a/b", "a/b/c", "a/c", "b"}},
		{"a/#", []string{"a", "a/", "a/b", "a/b/c", "a/c"}},
		{"a/+", []string{"a/", "a/b", "a/c"}},
		{"+", []string{"a", "b"}},
		{"+/+", []string{"/a", "a/", "a/b", "a/c"}},
		{"$SYS/#", []string{"$SYS/up"}},
		{"+/up", nil},
		{"a/b/c", []string{"a/b/c"}},
		{"x/#", nil},
	}
	for _, tc := range tests {
		var got []string
		r.Match(tc.filter, func(topic string, _ int) bool {
			got = append(got, topic)
			return true
		})
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("Match(%q) = %q, want %q", tc.filter, got, tc.want)
		}
	}
}

func TestRetainedIsSafeForConcurrentUse(t *testing.T) {
	r := NewRetained[int]()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				topic := fmt.Sprintf("w%d/%d", w, i%20)
				r.Set(topic, i)
				if i%3 == 0 {
					r.Delete(topic)
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range 500 {
				r.Match("+/#", func(string, int) bool { return true })
				r.Get("w0/1")
				r.Len()
			}
		}()
	}
	wg.Wait()
	if walkRetained(&r.root) != r.nodes {
		t.Fatalf("node counter %d, walk %d", r.nodes, walkRetained(&r.root))
	}
}
