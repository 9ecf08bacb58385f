package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `plume check` reports every error of a file, each as FILE:LINE: KEY:
// MESSAGE, and exits 1: the file's own (several, across sections), and,
// for a file that reads right, what only trying it finds: a module that
// does not load, a certificate missing, a port taken, a host unknown.
func TestCheckReportsEveryError(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plume.yaml")
	write := func(text string) {
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("log:\n  levle: info\nlimits:\n  max_qos: 3\nplugins:\n  chain:\n    - {name: a, path: a.wasm, call_timout: 1s}\n")
	code, out, errOut := runFor(t, "check", "--config", file)
	want := []string{
		file + `:2: log: unknown key "levle"; did you mean level?`,
		file + `:7: plugins.chain[0]: unknown key "call_timout"; did you mean call_timeout?`,
		file + ":4: limits.max_qos: 3 is not a QoS (0, 1 or 2)",
	}
	if code != 1 || strings.TrimSpace(out) != strings.Join(want, "\n") {
		t.Errorf("exit %d, out\n%s\nwant exit 1 and\n%s\nstderr %s", code, out, strings.Join(want, "\n"), errOut)
	}

	taken := takenAddress(t)
	write(fmt.Sprintf(`listeners:
  - name: taken
    address: %q
  - name: unknown-host
    address: no-such-host.invalid:1883
  - name: secure
    type: tls
    address: 127.0.0.1:0
    cert_file: missing.pem
    key_file: missing.key
  - name: fine
    address: 127.0.0.1:0
plugins:
  chain:
    - name: gone
      path: gone.wasm
    - name: fine
      builtin: deny-all
`, taken))
	code, out, errOut = runFor(t, "check", "--config", file)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i, want := range []string{
		file + `:15: plugins.chain[0]: load plugin "gone"`,
		file + ":2: listeners[0]: listen tcp " + taken + ": bind: address already in use",
		file + ":4: listeners[1]: listen tcp: lookup no-such-host.invalid",
		file + ":9: listeners[2].cert_file: open " + filepath.Join(dir, "missing.pem") + ": no such file or directory",
	} {
		if i >= len(lines) || !strings.HasPrefix(lines[i], want) {
			t.Errorf("line %d of\n%s\nwant it to start %q", i+1, out, want)
		}
	}
	if code != 1 || len(lines) != 4 || !strings.Contains(errOut, "4 error(s)") {
		t.Errorf("exit %d, %d lines, stderr %q; want 1, 4 and a count", code, len(lines), errOut)
	}
}

// A good file passes with one line and exit 0, and nothing is left bound.
func TestCheckPassesAGoodFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plume.yaml")
	addr := takenAddress(t)
	text := "listeners:\n  - address: 127.0.0.1:0\nplugins:\n  chain:\n    - {name: d, builtin: deny-all}\n"
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runFor(t, "check", "--config", file)
	if code != 0 || out != file+": ok: 1 listener(s), 1 plugin(s) loaded, addresses free\n" {
		t.Errorf("exit %d, out %q, stderr %q", code, out, errOut)
	}
	_ = addr
	if code, _, _ := runFor(t, "check"); code != 2 {
		t.Errorf("check without --config: exit %d, want 2", code)
	}
}
