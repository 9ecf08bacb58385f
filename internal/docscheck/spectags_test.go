package docscheck

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The trees whose spec tags must name real statements.
var taggedTrees = []string{"core", "host", "cmd", "transport"}

var (
	// bracketTag is a tag as the code writes it: [MQTT-3.1.2-22].
	bracketTag = regexp.MustCompile(`\[MQTT-[^\]]*\]`)
	// idToken is anything that starts like a statement id, in brackets or not.
	idToken = regexp.MustCompile("MQTT-[0-9][^\\s\\]\\[)(}{,;:\"'`]*")
	// fullID is the only form a statement id takes.
	fullID = regexp.MustCompile(`^MQTT-[0-9]+(\.[0-9]+)+-[0-9]+$`)
)

// statementIDs reads the ids of conformance/statements.txt, both versions.
func statementIDs(t *testing.T, root string) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	for i, line := range readLines(t, root, "conformance/statements.txt") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "|")
		if len(f) < 3 {
			t.Fatalf("conformance/statements.txt:%d: not version|id|summary", i+1)
		}
		ids["MQTT-"+f[1]] = true
	}
	if len(ids) < 250 {
		t.Fatalf("conformance/statements.txt has only %d distinct ids", len(ids))
	}
	return ids
}

// checkSpecTags reports, as file:line messages, every tag in src that is not
// exactly one statement id of known: placeholders ([MQTT-4.3.3-?]), ranges
// ([MQTT-3.3.1-5, -6]), bare sections ([MQTT-4.12]) and unknown ids.
func checkSpecTags(file string, src string, known map[string]bool) []string {
	var bad []string
	for n, line := range strings.Split(src, "\n") {
		where := fmt.Sprintf("%s:%d", file, n+1)
		for _, tag := range bracketTag.FindAllString(line, -1) {
			id := tag[1 : len(tag)-1]
			if !fullID.MatchString(id) {
				bad = append(bad, fmt.Sprintf("%s: %s is not one statement id: write [MQTT-x.y.z-n] per statement, or name the section in words, e.g. (MQTT 5.0 §4.8.2)", where, tag))
			}
		}
		for _, tok := range idToken.FindAllString(line, -1) {
			id := strings.TrimRight(tok, ".")
			if fullID.MatchString(id) && !known[id] {
				bad = append(bad, fmt.Sprintf("%s: %s is not a statement of conformance/statements.txt", where, id))
			}
		}
	}
	return bad
}

// TestSpecTagsNameRealStatements keeps every [MQTT-x.y.z-n] in core/, host/,
// cmd/ and transport/ a statement id that conformance/statements.txt lists,
// so a reader can look each one up.
func TestSpecTagsNameRealStatements(t *testing.T) {
	root := repoRoot(t)
	known := statementIDs(t, root)
	tags := 0
	for _, dir := range taggedTrees {
		for _, file := range goFiles(t, root, dir) {
			src, err := os.ReadFile(filepath.Join(root, file))
			if err != nil {
				t.Fatal(err)
			}
			tags += len(bracketTag.FindAllIndex(src, -1))
			for _, msg := range checkSpecTags(file, string(src), known) {
				t.Error(msg)
			}
		}
	}
	if tags < 100 {
		// The code carries well over a hundred tags: far fewer means the
		// walk missed the trees, and the test would pass on nothing.
		t.Fatalf("found only %d tags", tags)
	}
}

// TestSpecTagCheckerCatchesPlaceholders proves the checker above fails on
// each form of tag that cannot be looked up.
func TestSpecTagCheckerCatchesPlaceholders(t *testing.T) {
	known := map[string]bool{"MQTT-3.3.1-5": true, "MQTT-4.8.2-4": true}
	src := strings.Join([]string{
		"// fine [MQTT-3.3.1-5] and [MQTT-4.8.2-4].",
		"// [MQTT-4.3.3-?] a placeholder",
		"// [MQTT-3.3.2-*] a wildcard",
		"// [MQTT-4.12] a section",
		"// [MQTT-3.3.1-5, -6] a range",
		"// [MQTT-9.9.9-9] unknown",
		"// MQTT-9.9.9-8 unknown outside brackets",
	}, "\n")
	bad := checkSpecTags("x.go", src, known)
	want := []string{"x.go:2:", "x.go:3:", "x.go:4:", "x.go:5:", "x.go:6:", "x.go:7:"}
	if len(bad) != len(want) {
		t.Fatalf("got %d complaints, want %d:\n%s", len(bad), len(want), strings.Join(bad, "\n"))
	}
	for i, w := range want {
		if !strings.HasPrefix(bad[i], w) {
			t.Errorf("complaint %d = %q, want it at %s", i, bad[i], w)
		}
	}
}
