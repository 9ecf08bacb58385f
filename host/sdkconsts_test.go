package host

import (
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"go/types"
	"testing"
)

// constants returns the integer constants declared in a Go file, by name.
func constants(t *testing.T, path string) map[string]int64 {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	conf := types.Config{Importer: nil, Error: func(error) {}}
	pkg, _ := conf.Check(f.Name.Name, fset, []*ast.File{f}, nil)
	out := map[string]int64{}
	for _, name := range pkg.Scope().Names() {
		if c, ok := pkg.Scope().Lookup(name).(*types.Const); ok && c.Val().Kind() == constant.Int {
			if v, exact := constant.Int64Val(c.Val()); exact {
				out[name] = v
			}
		}
	}
	return out
}

// The Go SDK is its own module and cannot import the host, so the ABI's
// numbers are written twice; this keeps the two copies equal.
func TestGoSDKSpeaksTheHostsNumbers(t *testing.T) {
	host := constants(t, "abi.go")
	sdk := constants(t, "../plugin-sdk/go/abi.go")
	shared := 0
	for name, v := range sdk {
		if hv, ok := host[name]; ok {
			shared++
			if hv != v {
				t.Errorf("%s: host %d, Go SDK %d", name, hv, v)
			}
		}
	}
	if shared < 20 {
		t.Errorf("only %d constants in common: the files no longer name their numbers alike", shared)
	}
}
