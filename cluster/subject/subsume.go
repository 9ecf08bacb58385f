package subject

import (
	"slices"
	"strings"
)

// Subsumes reports whether every subject that inner matches, outer matches
// too (both NATS subjects, wildcards allowed). nats-server refuses a
// consumer whose filter subjects subsume one another (10138 "consumer
// subject filters cannot overlap"), and a session subscribed to both "a/#"
// and "a/b" makes two such filters.
func Subsumes(outer, inner string) bool {
	for {
		o, orest, omore := strings.Cut(outer, ".")
		i, irest, imore := strings.Cut(inner, ".")
		switch {
		case o == ">":
			return true // what is left of inner is one token or more, as ">" needs
		case i == ">":
			return false // outer matches a fixed number of tokens here
		case o != "*" && o != i:
			return false // a literal outer token takes only itself ("*" too is not itself)
		}
		if !omore || !imore {
			return omore == imore
		}
		outer, inner = orest, irest
	}
}

// WithoutSubsumed returns subjects sorted, without repeats and without any
// that another of them subsumes: the same messages, under filters a
// consumer accepts.
func WithoutSubsumed(subjects []string) []string {
	out := make([]string, 0, len(subjects))
	for i, s := range subjects {
		covered := false
		for j, t := range subjects {
			if i != j && Subsumes(t, s) && (s != t || j < i) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}
