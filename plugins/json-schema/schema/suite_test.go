package schema

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The official JSON-Schema-Test-Suite (github.com/json-schema-org/
// JSON-Schema-Test-Suite, tests/draft2020-12), when JSON_SCHEMA_TEST_SUITE
// names a folder holding its files: not vendored here. Groups whose schema
// this package refuses (a keyword outside the subset) are counted as refused,
// not run; every group that compiles must pass whole. docs/decisions/0027
// records a run.

func TestOfficialSuite(t *testing.T) {
	dir := os.Getenv("JSON_SCHEMA_TEST_SUITE")
	if dir == "" {
		t.Skip("JSON_SCHEMA_TEST_SUITE not set (a folder with the suite's tests/draft2020-12/*.json)")
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no suite files in %s: %v", dir, err)
	}
	sort.Strings(files)
	var totalPass, totalFail, totalRefused int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var groups []struct {
			Description string
			Schema      json.RawMessage
			Tests       []struct {
				Description string
				Data        json.RawMessage
				Valid       bool
			}
		}
		if err := json.Unmarshal(b, &groups); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		pass, fail, refused := 0, 0, 0
		for _, g := range groups {
			s, err := Compile(g.Schema)
			if err != nil {
				refused += len(g.Tests)
				continue
			}
			for _, tc := range g.Tests {
				got := s.Validate(tc.Data) == nil
				id := name + ": " + g.Description + ": " + tc.Description
				if got == tc.Valid {
					pass++
					continue
				}
				fail++
				t.Errorf("%s: valid = %v, want %v", id, got, tc.Valid)
			}
		}
		t.Logf("%-24s %3d pass %3d fail %3d refused", name, pass, fail, refused)
		totalPass, totalFail, totalRefused = totalPass+pass, totalFail+fail, totalRefused+refused
	}
	t.Logf("total: %d pass, %d fail, %d refused (schema outside the subset)", totalPass, totalFail, totalRefused)
}
