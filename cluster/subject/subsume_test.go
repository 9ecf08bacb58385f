package subject

import (
	"slices"
	"testing"
)

func TestSubsumes(t *testing.T) {
	for _, c := range []struct {
		outer, inner string
		want         bool
	}{
		{"p.t.a.>", "p.t.a.b", true},
		{"p.t.a.>", "p.t.a.b.c", true},
		{"p.t.a.>", "p.t.a.*", true},
		{"p.t.a.>", "p.t.a.>", true},
		{"p.t.a.>", "p.t.a", false}, // ">" needs a token
		{"p.t.>", "p.t.a.>", true},
		{"p.t.a.b", "p.t.a.>", false},
		{"p.t.*.b", "p.t.a.b", true},
		{"p.t.*.b", "p.t.*.b", true},
		{"p.t.a.b", "p.t.*.b", false},
		{"p.t.*", "p.t.a.b", false},
		{"p.t.a.b", "p.t.a", false},
		{"p.t.a", "p.t.a.b", false},
		{"p.t.*.>", "p.t.a", false},
		{"p.t.*.>", "p.t.a.b", true},
		{"p.t.a", "p.t.a", true},
		{"p.t.a.*", "p.t.a.>", false},
		{"p.t.*.c", "p.t.a.*", false}, // they overlap on p.t.a.c, neither holds the other
		{"p.t.ab", "p.t.a", false},
	} {
		if got := Subsumes(c.outer, c.inner); got != c.want {
			t.Errorf("Subsumes(%q, %q) = %v, want %v", c.outer, c.inner, got, c.want)
		}
	}
}

// The subjects of "a/#" and "a/b" (and a batch subject, and a repeat)
// become filters nats-server accepts: none subsumes another.
func TestWithoutSubsumedKeepsTheWidestOfOverlappingFilters(t *testing.T) {
	got := WithoutSubsumed([]string{"p.t.a.>", "p.t.a", "p.t.a.b", "p.b", "p.t.a.b", "p.t.*.c", "p.t.a.*"})
	want := []string{"p.b", "p.t.*.c", "p.t.a", "p.t.a.>"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := WithoutSubsumed([]string{"p.x", "p.x"}); !slices.Equal(got, []string{"p.x"}) {
		t.Fatalf("a repeat: got %q, want one", got)
	}
}
