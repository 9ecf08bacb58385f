package docscheck

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	statusLine = regexp.MustCompile(`^Status: (accepted|rejected|superseded by [0-9]{4})\b`)
	recordRef  = regexp.MustCompile(`(?:amended|superseded) by ([0-9]{4})`)
)

// checkRecord reports what is wrong with one decision record: a title
// without its number, no status right under the title, a status naming a
// record that does not exist, or a pointer to a design page outside the
// repository.
func checkRecord(name string, lines []string, exists func(num string) bool) []string {
	var bad []string
	num := filepath.Base(name)[:4]
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "# "+num+" ") {
		return []string{name + ":1: the title must begin with # " + num}
	}
	if lines[1] != "" || !statusLine.MatchString(lines[2]) {
		bad = append(bad, name+":3: right under the title: Status: accepted | rejected | superseded by NNNN (and amended by NNNN)")
	}
	for _, m := range recordRef.FindAllStringSubmatch(lines[2], -1) {
		if !exists(m[1]) {
			bad = append(bad, fmt.Sprintf("%s:3: record %s does not exist", name, m[1]))
		}
	}
	for i, l := range lines {
		if strings.Contains(l, "DESIGN.md") {
			bad = append(bad, fmt.Sprintf("%s:%d: DESIGN.md is not in the repository; point to docs/ARCHITECTURE.md", name, i+1))
		}
	}
	return bad
}

// TestDecisionRecordsCarryAStatus: every record says right under its title
// whether it still holds, and cites only documents of the repository.
func TestDecisionRecordsCarryAStatus(t *testing.T) {
	root := repoRoot(t)
	paths, err := filepath.Glob(filepath.Join(root, "docs", "decisions", "[0-9][0-9][0-9][0-9]-*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 13 {
		t.Fatalf("found only %d decision records", len(paths))
	}
	nums := map[string]bool{}
	for _, p := range paths {
		nums[filepath.Base(p)[:4]] = true
	}
	exists := func(n string) bool { return nums[n] }
	for _, p := range paths {
		name := filepath.Base(p)
		for _, msg := range checkRecord("docs/decisions/"+name, readLines(t, root, "docs/decisions/"+name), exists) {
			t.Error(msg)
		}
	}
	arch, err := os.ReadFile(filepath.Join(root, "docs", "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(arch), "DESIGN.md") {
		t.Error("docs/ARCHITECTURE.md cites DESIGN.md, which is not in the repository")
	}
}

// TestRecordCheckerCatchesMissingStatus proves checkRecord fails on each
// fault it looks for.
func TestRecordCheckerCatchesMissingStatus(t *testing.T) {
	exists := func(n string) bool { return n == "0003" }
	cases := map[string][]string{
		"no status":     {"# 0007 — X", "", "## Context"},
		"capital":       {"# 0007 — X", "", "Status: Accepted"},
		"unknown ref":   {"# 0007 — X", "", "Status: accepted, amended by 0099"},
		"design page":   {"# 0007 — X", "", "Status: accepted", "as DESIGN.md says"},
		"wrong number":  {"# 0008 — X", "", "Status: accepted"},
		"not under it":  {"# 0007 — X", "## Context", "Status: accepted"},
		"superseded ok": {"# 0007 — X", "", "Status: superseded by 0003"},
		"rejected ok":   {"# 0007 — X", "", "Status: rejected (tried and measured)"},
		"proposed":      {"# 0007 — X", "", "Status: proposed"},
	}
	for name, lines := range cases {
		bad := checkRecord("0007-x.md", lines, exists)
		if (len(bad) == 0) != strings.HasSuffix(name, " ok") {
			t.Errorf("%s: %q", name, bad)
		}
	}
}
