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
	"github.com/plumemq/plume/host/plugintest"
)

var update = flag.Bool("update", false, "refresh the vendored SDK copies under templates/ from plugin-sdk/")

// sdkCopies maps each vendored SDK template tree to its source.
var sdkCopies = map[string]string{
	"templates/sdk-go": "../../plugin-sdk/go",
}

// The vendored SDKs must be the SDKs: run `go test ./host/scaffold -update`
// after changing plugin-sdk/.
func TestVendoredSDKMatchesSource(t *testing.T) {
	for tdir, src := range sdkCopies {
		entries, err := os.ReadDir(tdir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			name := strings.TrimSuffix(e.Name(), ".txt")
			want, err := os.ReadFile(filepath.Join(src, name))
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			got, _ := os.ReadFile(filepath.Join(tdir, e.Name()))
			if !bytes.Equal(got, want) {
				if *update {
					if err := os.WriteFile(filepath.Join(tdir, e.Name()), want, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				t.Errorf("%s/%s differs from %s/%s; run go test ./host/scaffold -update", tdir, e.Name(), src, name)
			}
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
		{"cobol", "p", t.TempDir(), `--lang "cobol"`},
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
