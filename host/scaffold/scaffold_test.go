package scaffold

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/host/internal/wasmbuild"
	"github.com/plumemq/plume/host/plugintest"
)

var update = flag.Bool("update", false, "refresh the vendored SDK copies under templates/ from plugin-sdk/")

// sdkCopies maps each vendored SDK template tree to its source.
var sdkCopies = map[string]string{
	"templates/sdk-go":   "../../plugin-sdk/go",
	"templates/sdk-rust": "../../plugin-sdk/rust",
}

// The vendored SDKs must be the SDKs: run `go test ./host/scaffold -update`
// after changing plugin-sdk/.
func TestVendoredSDKMatchesSource(t *testing.T) {
	for tdir, src := range sdkCopies {
		err := filepath.WalkDir(tdir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(tdir, p)
			srcPath := filepath.Join(src, strings.TrimSuffix(rel, ".txt"))
			want, err := os.ReadFile(srcPath)
			if err != nil {
				t.Errorf("%s: %v", p, err)
				return nil
			}
			got, _ := os.ReadFile(p)
			if bytes.Equal(got, want) {
				return nil
			}
			if *update {
				return os.WriteFile(p, want, 0o644)
			}
			t.Errorf("%s differs from %s; run go test ./host/scaffold -update", p, srcPath)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestNewGoProjectBuildsAndPassesItsTest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "topic-guard")
	if err := New("go", "topic-guard", dir); err != nil {
		t.Fatal(err)
	}
	run(t, dir, nil, "go", "test", "./...")
	run(t, dir, []string{"GOOS=wasip1", "GOARCH=wasm"}, "go", "build", "-buildmode=c-shared", "-o", "topic-guard.wasm", ".")

	p := plugintest.Load(t, filepath.Join(dir, "topic-guard.wasm"), plugintest.Options{})
	res, err := p.Authorize(&hooks.AuthzRequest{Client: &hooks.Client{ID: "c"}, Topic: "private/x"})
	if err != nil || res.Verdict != hooks.Deny {
		t.Errorf("scaffolded plugin: %+v, %v; want deny", res, err)
	}
}

func TestNewRefusesBadInput(t *testing.T) {
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ lang, name, dir, want string }{
		{"cobol", "p", t.TempDir(), `language "cobol"`},
		{"go", "Bad Name", t.TempDir(), `name "Bad Name"`},
		{"go", "p", full, "not empty"},
	} {
		if err := New(tc.lang, tc.name, tc.dir); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%q, %q): %v, want %q", tc.lang, tc.name, err, tc.want)
		}
	}
}

func run(t *testing.T, dir string, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod"), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func TestNewRustProjectBuildsAndPassesItsTest(t *testing.T) {
	tc, err := wasmbuild.FindRust()
	if err != nil {
		t.Skip(err)
	}
	cargo, env := tc.Cargo, tc.Env
	dir := filepath.Join(t.TempDir(), "topic-guard")
	if err := New("rust", "topic-guard", dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".gitignore")); err != nil {
		t.Errorf("no .gitignore: %v", err)
	}
	env = append(env, "CARGO_TARGET_DIR="+filepath.Join(dir, "target"))
	run(t, dir, env, cargo, "test", "--offline")
	run(t, dir, env, cargo, "build", "--offline", "--release", "--target", tc.Target)

	wasm := filepath.Join(dir, "target", tc.Target, "release", "topic_guard.wasm")
	// The template's release profile strips the debug sections: 5.8 MB
	// with them, under 100 KB without.
	if fi, err := os.Stat(wasm); err != nil {
		t.Fatal(err)
	} else if fi.Size() > 500<<10 {
		t.Errorf("built plugin: %d bytes; want under 500 KiB (strip debuginfo in the release profile)", fi.Size())
	}
	p := plugintest.Load(t, wasm, plugintest.Options{})
	res, err := p.Authorize(&hooks.AuthzRequest{Client: &hooks.Client{ID: "c"}, Topic: "private/x"})
	if err != nil || res.Verdict != hooks.Deny {
		t.Errorf("scaffolded plugin: %+v, %v; want deny", res, err)
	}
}
