package docscheck

import (
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// importRule says what the non-test files of the packages under a folder
// may import besides the standard library: folders of this module, and
// third-party module paths. docs/ARCHITECTURE.md states the same rule.
type importRule struct {
	folder     string
	ours       []string // folders of this module
	thirdParty []string // module paths
	anything   bool
}

var importRules = []importRule{
	{folder: "core", ours: []string{"core"}, thirdParty: []string{"github.com/rs/zerolog"}},
	{folder: "transport", ours: []string{"core", "transport"}, thirdParty: []string{"github.com/gorilla/websocket"}},
	{folder: "host", ours: []string{"core", "host"}, thirdParty: []string{"github.com/rs/zerolog",
		"github.com/tetratelabs/wazero", "github.com/bytecodealliance/wasmtime-go", "github.com/fsnotify/fsnotify"}},
	{folder: "conformance", ours: []string{"conformance"}},
	{folder: "store", ours: []string{"core", "store"}, thirdParty: []string{"github.com/rs/zerolog", "github.com/cockroachdb/pebble/v2",
		"github.com/nats-io/nats.go"}}, // nats.go: store/jetstream (decision 0054)
	{folder: "ops", ours: []string{"core", "ops", "plugins/passwd"}, // plugins/passwd: basic auth reads plume passwd files
		thirdParty: []string{"github.com/rs/zerolog", "github.com/prometheus/client_golang"}},
	// cluster/: Plume on NATS (issue 14); never host/, transport/, store/ or ops/.
	{folder: "cluster", ours: []string{"core", "cluster"}, thirdParty: []string{"github.com/rs/zerolog",
		"github.com/nats-io/nats.go", "github.com/nats-io/nats-server/v2"}},
	{folder: "cmd", anything: true},
	// plugins/builtin embeds Wasm; plugins/passwd is the password hashes
	// that the password-file plugin and plume passwd share (argon2 is in
	// x/crypto, decision 0024); the rest of plugins/ is tests, whose
	// non-test files are package documentation.
	{folder: "plugins", thirdParty: []string{"golang.org/x/crypto"}},
	{folder: "test"},
	{folder: "internal"},
}

// testImportRules bound the tests of a folder: core's tests use test-only
// modules (paho, goleak) but nothing of ours outside core, so that core
// builds and tests on its own.
var testImportRules = map[string][]string{"core": {"core"}}

func ruleFor(rel string) (importRule, bool) {
	top, _, _ := strings.Cut(rel, "/")
	for _, r := range importRules {
		if r.folder == top {
			return r, true
		}
	}
	return importRule{}, false
}

func underAny(path string, prefixes []string) bool {
	for _, p := range prefixes {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// listPackages is `go list ./...` at root.
func listPackages(t *testing.T, root string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list ./...: %v", err)
	}
	return strings.Fields(string(out))
}

// TestImportRule checks the one-way imports of docs/ARCHITECTURE.md on every
// Go file of the module, whatever its build tags: core imports nothing of
// ours outside core and no third-party module but zerolog; transport and
// host import core, never each other or cmd; nothing but cmd imports cmd.
func TestImportRule(t *testing.T) {
	root := repoRoot(t)
	checked := 0
	for _, pkg := range listPackages(t, root) {
		rel := strings.TrimPrefix(strings.TrimPrefix(pkg, modulePath), "/")
		rule, ok := ruleFor(rel)
		if !ok {
			t.Errorf("%s: no import rule for its folder; add one to importRules and docs/ARCHITECTURE.md", rel)
			continue
		}
		files, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(rel), "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range files {
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, file, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			name := rel + "/" + filepath.Base(file)
			test := strings.HasSuffix(file, "_test.go")
			for _, imp := range f.Imports {
				path, _ := strconv.Unquote(imp.Path.Value)
				checked++
				where := fset.Position(imp.Pos())
				loc := name + ":" + strconv.Itoa(where.Line)
				ourPath, ours := strings.CutPrefix(path, modulePath+"/")
				std := !ours && !strings.Contains(strings.SplitN(path, "/", 2)[0], ".")
				switch {
				case std:
				case test:
					if allowed, bounded := testImportRules[rule.folder]; bounded && ours && !underAny(ourPath, allowed) {
						t.Errorf("%s: a test of %s/ imports %s", loc, rule.folder, path)
					}
				case rule.anything:
				case ours && !underAny(ourPath, rule.ours):
					t.Errorf("%s: %s/ may not import %s", loc, rule.folder, path)
				case !ours && !underAny(path, rule.thirdParty):
					t.Errorf("%s: %s/ may not import the third-party %s", loc, rule.folder, path)
				}
			}
		}
	}
	if checked < 200 {
		t.Fatalf("checked only %d imports", checked)
	}
}
