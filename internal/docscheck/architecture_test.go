package docscheck

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	backticked = regexp.MustCompile("`([^`]+)`")
	// pathToken is a repository path: a file or, ending in /, a folder.
	pathToken = regexp.MustCompile(`^[A-Za-z0-9_.\-<>*]+(/[A-Za-z0-9_.\-<>*]+)*/?$`)
	// identToken is a Go name, alone or qualified by its type or package:
	// handlePublish, Broker.Serve, client.run(). Config keys (snake_case)
	// are not Go names here.
	identToken = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9]*\.)?[A-Za-z][A-Za-z0-9]*(\(\))?$`)
)

// declarations are the names a Go file declares: top-level funcs, types,
// vars and consts as "Name", and methods, struct fields and interface
// methods as "Type.Name" (and as "Name" too). pkg is the package's name.
type declarations struct {
	pkg   string
	names map[string]bool
}

func declared(t *testing.T, path string) declarations {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	d := declarations{pkg: f.Name.Name, names: map[string]bool{}}
	add := func(typ, name string) {
		d.names[name] = true
		if typ != "" {
			d.names[typ+"."+name] = true
		}
	}
	for _, decl := range f.Decls {
		switch decl := decl.(type) {
		case *ast.FuncDecl:
			typ := ""
			if decl.Recv != nil && len(decl.Recv.List) == 1 {
				typ = receiverType(decl.Recv.List[0].Type)
			}
			add(typ, decl.Name.Name)
		case *ast.GenDecl:
			for _, spec := range decl.Specs {
				switch spec := spec.(type) {
				case *ast.TypeSpec:
					add("", spec.Name.Name)
					var fields *ast.FieldList
					switch tt := spec.Type.(type) {
					case *ast.StructType:
						fields = tt.Fields
					case *ast.InterfaceType:
						fields = tt.Methods
					}
					if fields != nil {
						for _, fl := range fields.List {
							for _, n := range fl.Names {
								add(spec.Name.Name, n.Name)
							}
						}
					}
				case *ast.ValueSpec:
					for _, n := range spec.Names {
						add("", n.Name)
					}
				}
			}
		}
	}
	return d
}

// receiverType is T for receivers T, *T and *T[P].
func receiverType(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}

// has reports whether name (Name, Type.Name or pkg.Name) is declared.
func (d declarations) has(name string) bool {
	if d.names[name] {
		return true
	}
	if pkg, rest, ok := strings.Cut(name, "."); ok && pkg == d.pkg {
		return d.names[rest]
	}
	return false
}

// checkDocRefs checks the backticked references of a Markdown document:
// every path names a file or folder of the repository (a folder may be
// missing only on a line that says "planned"); on a table row that names Go
// files, every Go name is declared in one of them.
func checkDocRefs(t *testing.T, root, doc string, lines []string) (problems []string, files, names int) {
	cache := map[string]declarations{}
	for i, line := range lines {
		where := fmt.Sprintf("%s:%d", doc, i+1)
		planned := strings.Contains(line, "planned")
		var goFilesOfRow, idents []string
		for _, m := range backticked.FindAllStringSubmatch(line, -1) {
			tok := m[1]
			switch {
			case strings.Contains(tok, "/") && pathToken.MatchString(tok):
				if strings.ContainsAny(tok, "<>") {
					if !planned {
						problems = append(problems, fmt.Sprintf("%s: %s is a pattern, on a line that is not planned", where, tok))
					}
					continue
				}
				matches, _ := filepath.Glob(filepath.Join(root, filepath.FromSlash(strings.TrimSuffix(tok, "/"))))
				if len(matches) == 0 {
					if !(planned && strings.HasSuffix(tok, "/")) {
						problems = append(problems, fmt.Sprintf("%s: %s does not exist", where, tok))
					}
					continue
				}
				files++
				if strings.HasSuffix(tok, ".go") && !strings.Contains(tok, "*") {
					goFilesOfRow = append(goFilesOfRow, tok)
				}
			case strings.HasSuffix(tok, ".go"):
				problems = append(problems, fmt.Sprintf("%s: %s: name Go files by their path from the repository root", where, tok))
			case identToken.MatchString(tok):
				idents = append(idents, strings.TrimSuffix(tok, "()"))
			}
		}
		if !strings.HasPrefix(strings.TrimSpace(line), "|") || len(goFilesOfRow) == 0 {
			continue
		}
		for _, id := range idents {
			found := false
			for _, f := range goFilesOfRow {
				d, ok := cache[f]
				if !ok {
					d = declared(t, filepath.Join(root, filepath.FromSlash(f)))
					cache[f] = d
				}
				if d.has(id) {
					found = true
					break
				}
			}
			names++
			if !found {
				problems = append(problems, fmt.Sprintf("%s: %s is declared in none of %s", where, id, strings.Join(goFilesOfRow, ", ")))
			}
		}
	}
	return problems, files, names
}

// TestArchitectureNamesWhatExists keeps docs/ARCHITECTURE.md true to the
// code: the files it names exist, and each function, type or field a table
// row names is declared in a file of that row.
func TestArchitectureNamesWhatExists(t *testing.T) {
	root := repoRoot(t)
	const doc = "docs/ARCHITECTURE.md"
	problems, files, names := checkDocRefs(t, root, doc, readLines(t, root, doc))
	for _, p := range problems {
		t.Error(p)
	}
	// The page walks a PUBLISH and a connection through some fifty files
	// and a hundred names: far fewer means the parsing missed them.
	if files < 50 || names < 100 {
		t.Errorf("%s: checked only %d paths and %d names", doc, files, names)
	}
}

// TestDocRefCheckerCatchesDrift proves the checker fails on a missing file,
// a function not in its row's files, a bare file name and a missing folder.
func TestDocRefCheckerCatchesDrift(t *testing.T) {
	root := repoRoot(t)
	lines := []string{
		"| ok | `core/broker/route.go` | `Broker.publish`, `deliverMerged`, `client.SendPublish` |",
		"| ok | `core/broker/stats.go` | `broker.Stats`, `Stats.Dropped` |",
		"| gone | `core/broker/nothing.go` | `publish` |",
		"| moved | `core/broker/route.go` | `handlePublish` |",
		"| bare | `route.go` |",
		"| folder | `nowhere/` |",
		"| folder | `nowhere/` (planned) |",
	}
	problems, _, _ := checkDocRefs(t, root, "x.md", lines)
	want := []string{"x.md:3: core/broker/nothing.go", "x.md:4: handlePublish", "x.md:5: route.go", "x.md:6: nowhere/"}
	if len(problems) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(problems), len(want), strings.Join(problems, "\n"))
	}
	for i, w := range want {
		if !strings.HasPrefix(problems[i], w) {
			t.Errorf("problem %d = %q, want %q...", i, problems[i], w)
		}
	}
}

// TestReadmeLayoutCoversEveryPackage keeps the README's Layout table in step
// with `go list ./...`: every package of the module sits in a folder the
// table lists, and every folder it lists exists.
func TestReadmeLayoutCoversEveryPackage(t *testing.T) {
	root := repoRoot(t)
	var folders []string
	in := false
	for i, line := range readLines(t, root, "README.md") {
		switch {
		case strings.HasPrefix(line, "## "):
			in = line == "## Layout"
		case in && strings.HasPrefix(line, "| `"):
			m := backticked.FindStringSubmatch(line)
			f := strings.TrimSuffix(m[1], "/")
			if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(f))); err != nil {
				t.Errorf("README.md:%d: %s does not exist", i+1, f)
			}
			folders = append(folders, f)
		}
	}
	if len(folders) == 0 {
		t.Fatal("README.md has no Layout table")
	}
	for _, pkg := range listPackages(t, root) {
		rel := strings.TrimPrefix(strings.TrimPrefix(pkg, modulePath), "/")
		covered := false
		for _, f := range folders {
			if rel == f || strings.HasPrefix(rel, f+"/") {
				covered = true
			}
		}
		if !covered {
			t.Errorf("README.md: the Layout table has no row for %s", rel)
		}
	}
}
