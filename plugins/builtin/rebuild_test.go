package builtin_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/plumemq/plume/plugins/builtin"
)

// update makes TestEmbeddedModulesAreCleanRebuilds write what it built:
// `make builtins` runs it so.
var update = flag.Bool("update", false, "rebuild wasm/NAME.wasm from plugins/NAME for every built-in (make builtins)")

// Each embedded module is byte for byte what a clean build of its source
// makes, so that what the binary runs can be read in plugins/. With -update
// it writes the builds instead.
func TestEmbeddedModulesAreCleanRebuilds(t *testing.T) {
	toolchain, err := goToolchain("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range builtin.Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := buildBuiltin(filepath.Join("..", name), t.TempDir(), toolchain)
			if errors.Is(err, errNoWat2wasm) {
				t.Skip(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if *update {
				if err := os.WriteFile(filepath.Join("wasm", name+".wasm"), got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			p, _ := builtin.Lookup(name)
			if !bytes.Equal(got, p.Wasm) {
				t.Errorf("the embedded wasm/%s.wasm (%d bytes) is not what plugins/%s builds to (%d bytes): run make builtins and commit the result",
					name, len(p.Wasm), name, len(got))
			}
		})
	}
}

var errNoWat2wasm = errors.New("wat2wasm not installed (Debian package wabt)")

// buildBuiltin builds the plugin whose source is in dir, in a fresh folder
// out, and returns the module. A folder with Go files is a Go plugin
// (main package, its own module or not); one with a .wat file a text module.
//
// Reproducible: -trimpath drops the folders the build ran in, -buildvcs=false
// the commit (which changes with every commit, the source or not), an empty
// build id the hash of the build's inputs' paths; the toolchain is the one
// go.mod names, whichever go runs the test, and GOFLAGS from the
// environment are ignored.
func buildBuiltin(dir, out, toolchain string) ([]byte, error) {
	wasm := filepath.Join(out, "plugin.wasm")
	if gos, _ := filepath.Glob(filepath.Join(dir, "*.go")); len(gos) > 0 {
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-buildvcs=false", "-ldflags=-buildid=", "-o", wasm, ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=", "GOTOOLCHAIN="+toolchain)
		if msg, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build in %s: %w\n%s", dir, err, msg)
		}
		return os.ReadFile(wasm)
	}
	wats, _ := filepath.Glob(filepath.Join(dir, "*.wat"))
	if len(wats) != 1 {
		return nil, fmt.Errorf("%s holds neither Go files nor one .wat file (%d .wat files)", dir, len(wats))
	}
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		return nil, errNoWat2wasm
	}
	if msg, err := exec.Command("wat2wasm", wats[0], "-o", wasm).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("wat2wasm %s: %w\n%s", wats[0], err, msg)
	}
	return os.ReadFile(wasm)
}

var goLine = regexp.MustCompile(`(?m)^go\s+(\S+)\s*$`)

// goToolchain is the toolchain that builds the built-ins: "go" and the
// version of go.mod's go line, which CI runs with.
func goToolchain(gomod string) (string, error) {
	b, err := os.ReadFile(gomod)
	if err != nil {
		return "", err
	}
	m := goLine.FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("%s has no go line", gomod)
	}
	return "go" + string(m[1]), nil
}
