package acl

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/+", "a/b", true},
		{"a/+", "a", false},
		{"a/+", "a/", true},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"a/+/#", "a/b", true},
		{"#", "a", true},
		{"#", "$SYS/x", false},
		{"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/broker/uptime", true},
		{"$SYS/#", "$SYS", true},
		{"$SYS/+", "$other/x", false},
		{"a/b", "a/b/c", false},
		{"a/b/c", "a/b", false},
		{"+", "/", false},
		{"+/+", "/", true},
	} {
		if got := match(c.filter, c.topic); got != c.want {
			t.Errorf("match(%q, %q) = %v, want %v", c.filter, c.topic, got, c.want)
		}
	}
}

// covers and intersect agree with enumerating topics: over a universe built
// from the filters' own words plus one word they never use and one level
// deeper than any filter, a filter's set is represented faithfully.
func TestCoversAndIntersectAgreeWithEnumeration(t *testing.T) {
	words := []string{"a", "b", "$s", ""}
	levelsOf := []string{"a", "b", "$s", "", "z"}
	var universe []string
	var grow func(prefix []string)
	grow = func(prefix []string) {
		if len(prefix) > 0 && !(len(prefix) == 1 && prefix[0] == "") { // "" is no topic
			universe = append(universe, strings.Join(prefix, "/"))
		}
		if len(prefix) == 4 {
			return
		}
		for _, w := range levelsOf {
			grow(append(slices.Clip(prefix), w))
		}
	}
	grow(nil)
	rng := rand.New(rand.NewPCG(1, 2))
	filter := func() []string {
		n := 1 + rng.IntN(3)
		f := make([]string, n)
		for i := range f {
			switch r := rng.IntN(6); {
			case r == 0:
				f[i] = "+"
			case r == 1 && i == n-1:
				f[i] = "#"
			default:
				f[i] = words[rng.IntN(len(words))]
			}
		}
		if strings.Join(f, "/") == "" {
			f[0] = "a" // "" is no filter
		}
		return f
	}
	set := func(f []string) map[string]bool {
		s := map[string]bool{}
		for _, u := range universe {
			if match(strings.Join(f, "/"), u) {
				s[u] = true
			}
		}
		return s
	}
	for range 3000 {
		a, f := filter(), filter()
		sa, sf := set(a), set(f)
		subset, meet := true, map[string]bool{}
		for u := range sf {
			if !sa[u] {
				subset = false
			} else {
				meet[u] = true
			}
		}
		if got := covers(a, f); got != subset {
			t.Fatalf("covers(%q, %q) = %v, enumeration says %v", strings.Join(a, "/"), strings.Join(f, "/"), got, subset)
		}
		common, ok := intersect(a, f)
		if ok != (len(meet) > 0) {
			t.Fatalf("intersect(%q, %q) ok = %v, enumeration finds %d common topics", strings.Join(a, "/"), strings.Join(f, "/"), ok, len(meet))
		}
		if ok {
			if err := validFilter(strings.Join(common, "/")); err != nil {
				t.Fatalf("intersect(%q, %q) = %q: %v", strings.Join(a, "/"), strings.Join(f, "/"), strings.Join(common, "/"), err)
			}
			if sc := set(common); len(sc) != len(meet) {
				t.Fatalf("intersect(%q, %q) = %q: %d topics, enumeration %d", strings.Join(a, "/"), strings.Join(f, "/"), strings.Join(common, "/"), len(sc), len(meet))
			}
		}
	}
}

func TestSplitShare(t *testing.T) {
	for in, want := range map[string]string{
		"$share/g/a/#": "a/#",
		"$share/g":     "$share/g",
		"a/b":          "a/b",
		"$SYS/#":       "$SYS/#",
	} {
		if got := splitShare(in); got != want {
			t.Errorf("splitShare(%q) = %q, want %q", in, got, want)
		}
	}
}
