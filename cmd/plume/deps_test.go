package main

import (
	"os/exec"
	"path"
	"strings"
	"testing"
)

// The broker binary links no test code: not package testing, nor a package
// made for tests (plugintest, conformancetest, net/http/httptest...).
// `plume conformance` runs the suite through package conformance and `plume
// plugin call` through host/plugincall; their testing glue lives in
// conformance/conformancetest and host/plugintest. Checked with and without
// the wasmtime engine, whose files differ.
func TestBinaryLinksNoTestCode(t *testing.T) {
	for _, tags := range []string{"", "wasmtime"} {
		out, err := exec.Command("go", "list", "-tags", tags, "-deps", "-f", "{{.ImportPath}} {{.Standard}}", ".").Output()
		if err != nil {
			t.Fatalf("go list -tags %q -deps: %v", tags, err)
		}
		n := 0
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			pkg, std, _ := strings.Cut(line, " ")
			n++
			if testCode(pkg, std == "true") {
				t.Errorf("-tags %q: ./cmd/plume depends on %s", tags, pkg)
			}
		}
		if n < 50 { // the check would pass vacuously on an empty list
			t.Fatalf("-tags %q: only %d dependencies listed:\n%s", tags, n, out)
		}
	}
}

// testCode reports whether pkg is test code: package testing and its
// children, or a package named for tests. The standard library's internal
// packages are exempt: os imports internal/testlog, and everything imports
// internal/synctest through sync.
func testCode(pkg string, std bool) bool {
	switch {
	case pkg == "testing" || strings.HasPrefix(pkg, "testing/"):
		return true
	case pkg == "github.com/cockroachdb/pebble/v2/internal/blobtest":
		// Pebble's, imported by its sstable package for real work; it links
		// no package testing (the first case would catch it if it did).
		return false
	case std && (strings.HasPrefix(pkg, "internal/") || strings.Contains(pkg, "/internal/")):
		return false
	}
	return strings.HasSuffix(path.Base(pkg), "test")
}

func TestTestCodeIsRecognised(t *testing.T) {
	for pkg, want := range map[string]bool{
		"testing": true, "testing/synctest": true, "net/http/httptest": true,
		"github.com/plumemq/plume/host/plugintest": true, "github.com/plumemq/plume/conformance/conformancetest": true,
		"internal/testlog": false, "internal/synctest": false, "github.com/plumemq/plume/host/plugincall": false, "os": false,
	} {
		std := !strings.Contains(pkg, ".")
		if got := testCode(pkg, std); got != want {
			t.Errorf("testCode(%s) = %v, want %v", pkg, got, want)
		}
	}
}
