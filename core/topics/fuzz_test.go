package topics

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// referenceValidFilter is the split-based statement of the filter rules for a
// non-shared filter: every level is "+", "#" (last only), or free of wildcards.
func referenceValidFilter(f string) bool {
	if f == "" || len(f) > MaxLength || !utf8.ValidString(f) || strings.ContainsRune(f, 0) {
		return false
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		switch {
		case l == "+":
		case l == "#":
			if i != len(levels)-1 {
				return false
			}
		case strings.ContainsAny(l, "+#"):
			return false
		}
	}
	return true
}

func FuzzValidateFilter(f *testing.F) {
	for _, s := range []string{"a/b", "#", "+/+", "a/#/b", "a+", "$share/g/a/#", "$share//a", "$share/g", "/", "\x00", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, filter string) {
		err := ValidateFilter(filter)
		group, inner, shared, perr := ParseShared(filter)
		want := referenceValidFilter(filter)
		if shared {
			want = perr == nil && group != "" && !strings.ContainsAny(group, "+#/") &&
				referenceValidFilter(inner) && referenceValidFilter(filter)
		}
		if (err == nil) != want {
			t.Fatalf("ValidateFilter(%q) = %v, reference says valid = %v", filter, err, want)
		}
		if err == nil && !shared {
			// A valid filter without wildcards is a valid name, and the reverse.
			if hasWild := strings.ContainsAny(filter, "+#"); (ValidateName(filter) == nil) == hasWild {
				t.Fatalf("ValidateName(%q) disagrees with the filter's wildcards", filter)
			}
		}
	})
}

func FuzzMatch(f *testing.F) {
	for _, tc := range wildcardMatrix {
		f.Add(tc.filter, tc.topic)
	}
	f.Fuzz(func(t *testing.T, filter, topic string) {
		if ValidateFilter(filter) != nil || ValidateName(topic) != nil {
			return
		}
		if _, _, shared, _ := ParseShared(filter); shared {
			return
		}
		want := referenceMatch(filter, topic)

		r := NewRouter()
		r.Subscribe(Subscription{Client: "c", Filter: filter})
		r.Subscribe(Subscription{Client: "c", Filter: filter, Group: "g"})
		var m Matches
		r.Match(topic, &m)
		if got := len(m.Subs) == 1 && len(m.Groups) == 1; got != want {
			t.Fatalf("Router: %q matches %q = %v (%d subs, %d groups), reference %v",
				filter, topic, got, len(m.Subs), len(m.Groups), want)
		}
		if r.UnsubscribeAll("c") != 2 || r.nodes != 0 {
			t.Fatalf("UnsubscribeAll left %d nodes", r.nodes)
		}

		ret := NewRetained[bool]()
		ret.Set(topic, true)
		n := 0
		ret.Match(filter, func(got string, _ bool) bool {
			if got != topic {
				t.Fatalf("Retained.Match(%q) gave %q, only %q is set", filter, got, topic)
			}
			n++
			return true
		})
		if (n == 1) != want || n > 1 {
			t.Fatalf("Retained: %q matches %q %d times, reference %v", filter, topic, n, want)
		}
		if !ret.Delete(topic) || ret.nodes != 0 {
			t.Fatalf("Delete left %d nodes", ret.nodes)
		}
	})
}
