package docscheck

import (
	"regexp"
	"strings"
	"testing"
)

// durField is a zerolog duration field: Dur("name", and Durs, chained
// on the line before or not.
var durField = regexp.MustCompile(`\bDurs?\("([^"]*)"`)

// zerolog writes a duration as a number of milliseconds (its
// DurationFieldUnit, which Plume leaves as it is), so every duration field
// says so in its name: connected_for_ms, not connected_for (issue 12).
func TestDurationLogFieldsNameTheirUnit(t *testing.T) {
	root := repoRoot(t)
	for _, dir := range []string{"core", "host", "transport", "store", "ops", "cmd", "plugins", "conformance"} {
		for _, f := range goFiles(t, root, dir) {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			for i, line := range readLines(t, root, f) {
				for _, m := range durField.FindAllStringSubmatch(line, -1) {
					if !strings.HasSuffix(m[1], "_ms") {
						t.Errorf("%s:%d: duration field %q: name it %s_ms (zerolog writes milliseconds)", f, i+1, m[1], m[1])
					}
				}
			}
		}
	}
}
