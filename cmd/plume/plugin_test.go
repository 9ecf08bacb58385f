package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plumemq/plume/host/plugintest"
)

func TestPluginCallRunsABuiltPluginWithoutABroker(t *testing.T) {
	wasm := plugintest.BuildGo(t, "../../examples/plugins/auth-go", ".")
	cfg := filepath.Join(t.TempDir(), "auth.json")
	if err := os.WriteFile(cfg, []byte(`{"users":{"alice":{"password":"s3cret","attributes":{"role":"admin"}}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		password, verdict string
	}{{"s3cret", "allow"}, {"wrong", "deny"}} {
		var out, errOut bytes.Buffer
		code := run([]string{"plugin", "call", wasm, "--config", cfg, "--event",
			`{"point":"authenticate","client":{"id":"c1","username":"alice","password":"` + tc.password + `"}}`}, &out, &errOut)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
		var res map[string]any
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("output is not JSON: %q", out.String())
		}
		if res["verdict"] != tc.verdict {
			t.Errorf("password %q: verdict %v, want %s", tc.password, res["verdict"], tc.verdict)
		}
	}
}

// An authorize denial's reason string is printed, as the broker would send
// it to the client; --files gives the plugin its data file, relative to the
// --config file's folder.
func TestPluginCallShowsADenialsReasonStringAndReadsDataFiles(t *testing.T) {
	wasm := plugintest.BuildGo(t, "../../host/testdata/plugins", "./filereader")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "reader.json")
	if err := os.WriteFile(cfg, []byte(`{"file": "passwd"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte("no access for you\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run([]string{"plugin", "call", wasm, "--config", cfg, "--files", "file", "--event",
		`{"point":"authorize","client":{"id":"c1"},"topic":"a/b"}`}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var res map[string]any
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output is not JSON: %q", out.String())
	}
	if res["verdict"] != "deny" || res["reason_string"] != "no access for you" {
		t.Errorf("output %s, want a deny with reason_string \"no access for you\"", out.String())
	}
}

func TestPluginCallRefusesABadEvent(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"plugin", "call", "x.wasm", "--event", `{"point":"authorize","colour":"red"}`}, &out, &errOut); code != 2 {
		t.Errorf("exit %d, want 2 (%s)", code, errOut.String())
	}
	if !strings.Contains(errOut.String(), "colour") {
		t.Errorf("error does not name the unknown key: %s", errOut.String())
	}
}

func TestPluginNewScaffoldsAProjectThatPassesItsOwnTest(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "quota")
	var out, errOut bytes.Buffer
	if code := run([]string{"plugin", "new", "--lang", "go", "quota", "--dir", dir}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	cmd := exec.Command("go", "test", "./...")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the new project's own test fails: %v\n%s", err, b)
	}
}
