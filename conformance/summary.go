package conformance

import (
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// Verdict is the outcome for one statement of one version, merged over the
// tests that check it: a failure anywhere fails it, else a pass passes it,
// else it is skipped. Statements without a test are skipped with the
// catalogue's reason.
type Verdict struct {
	Statement Statement
	Status    Status
	Detail    string
	Tests     []string
}

// Verdicts merges results into one verdict per catalogued statement of the
// given versions (all when empty) whose id or tests match only (all when
// nil). Results for statements missing from the catalogue are kept too.
func Verdicts(rs []Result, versions []byte, only *regexp.Regexp) []Verdict {
	idx := statementIndex()
	byKey := map[string]*Verdict{}
	var order []string
	add := func(s Statement) *Verdict {
		k := key(s.Version, s.ID)
		if v, ok := byKey[k]; ok {
			return v
		}
		v := &Verdict{Statement: s, Status: Skip}
		byKey[k] = v
		order = append(order, k)
		return v
	}
	for _, s := range Statements() {
		if len(versions) > 0 && !slices.Contains(versions, s.Version) {
			continue
		}
		v := add(s)
		if !s.Testable {
			v.Detail = "not testable from the wire: " + s.WhyNot
		} else {
			v.Detail = "not run"
		}
	}
	seen := map[string]bool{}
	for _, r := range rs {
		s, ok := idx[key(r.Version, r.Statement)]
		if !ok {
			s = Statement{ID: r.Statement, Version: r.Version, Section: r.Section, Summary: "(not in the catalogue)", Testable: true}
		}
		if len(versions) > 0 && !slices.Contains(versions, s.Version) {
			continue
		}
		v := add(s)
		k := key(r.Version, r.Statement)
		v.Tests = append(v.Tests, r.Test)
		switch {
		case r.Status == Fail && v.Status != Fail:
			v.Status, v.Detail = Fail, r.Test+": "+r.Detail
		case r.Status == Pass && v.Status == Skip:
			v.Status, v.Detail = Pass, ""
		case r.Status == Skip && v.Status == Skip && !seen[k]:
			v.Detail = r.Test + ": " + r.Detail
		}
		seen[k] = true
	}
	var out []Verdict
	for _, k := range order {
		v := byKey[k]
		if only != nil && !only.MatchString(v.Statement.ID) && !slices.ContainsFunc(v.Tests, only.MatchString) {
			continue
		}
		out = append(out, *v)
	}
	slices.SortStableFunc(out, func(a, b Verdict) int {
		if a.Statement.Version != b.Statement.Version {
			return int(b.Statement.Version) - int(a.Statement.Version)
		}
		if lessStatement(a.Statement.ID, b.Statement.ID) {
			return -1
		}
		if lessStatement(b.Statement.ID, a.Statement.ID) {
			return 1
		}
		return 0
	})
	return out
}

// WriteVerdicts prints one line per statement.
func WriteVerdicts(w io.Writer, vs []Verdict) { writeVerdicts(w, vs, nil) }

// writeVerdicts prints one line per statement; a failure that known lists
// (a broker's documented deviation) reads EXPECTED, not FAIL, so that a
// run's FAIL lines are the unexpected ones only.
func writeVerdicts(w io.Writer, vs []Verdict, known map[string]bool) {
	for _, v := range vs {
		word := strings.ToUpper(v.Status.String())
		if v.Status == Fail && known[key(v.Statement.Version, v.Statement.ID)] {
			word = "EXPECTED"
		}
		line := fmt.Sprintf("%s %-5s %-16s", word, VersionName(v.Statement.Version), v.Statement.ID)
		switch v.Status {
		case Pass:
			line += " " + strings.Join(dedup(v.Tests), ", ")
		default:
			line += " " + v.Detail
		}
		fmt.Fprintln(w, line)
	}
}

// WriteSummary prints the "N passed, N failed, N skipped" line for results:
// one count per statement and version, merged as in Verdicts.
func WriteSummary(w io.Writer, rs []Result) {
	var pass, fail, skip int
	seen := map[string]Status{}
	for _, r := range rs {
		k := key(r.Version, r.Statement)
		old, ok := seen[k]
		switch {
		case !ok, r.Status == Fail, r.Status == Pass && old == Skip:
			seen[k] = r.Status
		}
	}
	for _, s := range seen {
		switch s {
		case Pass:
			pass++
		case Fail:
			fail++
		default:
			skip++
		}
	}
	fmt.Fprintf(w, "%d passed, %d failed, %d skipped\n", pass, fail, skip)
}

// countVerdicts counts verdicts by status.
func countVerdicts(vs []Verdict) (pass, fail, skip int) {
	for _, v := range vs {
		switch v.Status {
		case Pass:
			pass++
		case Fail:
			fail++
		default:
			skip++
		}
	}
	return
}

func dedup(s []string) []string {
	var out []string
	for _, x := range s {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
