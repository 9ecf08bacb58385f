package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// runFor runs the binary's run in-process with args and returns its exit
// status and output; a command that starts a broker instead of answering
// (as `plume help` did) fails the test rather than hanging it.
func runFor(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(args, &out, &errOut) }()
	select {
	case code = <-done:
	case <-time.After(time.Minute):
		t.Fatalf("plume %s: still running after a minute (a broker started?)", strings.Join(args, " "))
	}
	return code, out.String(), errOut.String()
}

// `plume help`, `plume --help` and `plume -h` answer at once, exit 0, and
// list every subcommand and every flag of run with its help. Before, `plume
// help` started a broker, and --help listed the flags alone, on stderr,
// with exit status 2.
func TestHelpListsEveryCommandAndFlag(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}, {"run", "--help"}} {
		code, out, errOut := runFor(t, args...)
		if code != 0 {
			t.Errorf("plume %s: exit %d, want 0; stderr %s", strings.Join(args, " "), code, errOut)
		}
		for _, want := range []string{"run ", "check --config FILE", "plugin new|call|promote", "passwd ", "conformance ", "version ", "help [COMMAND]",
			"--config FILE", "--listen", "--log-level", "--log-format", "--ops", "--data-dir", "--version"} {
			if !strings.Contains(out, "\n  "+want) {
				t.Errorf("plume %s: no line for %q in\n%s", strings.Join(args, " "), want, out)
			}
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if strings.HasPrefix(line, "  -") && len(strings.Fields(line)) < 2 {
				t.Errorf("plume %s: a flag without help: %q", strings.Join(args, " "), line)
			}
		}
	}
}

// `plume help COMMAND` prints that command's usage.
func TestHelpOfOneCommand(t *testing.T) {
	for cmd, want := range map[string]string{
		"plugin": "plume plugin new --lang", "check": "usage: plume check --config FILE",
		"passwd": "plume passwd [-H TYPE]", "conformance": "-broker", "version": "plume version", "run": "--data-dir",
	} {
		code, out, _ := runFor(t, "help", cmd)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("plume help %s: exit %d, %q not in\n%s", cmd, code, want, out)
		}
	}
}

// `plume version` and `plume --version` print the version and the Go
// toolchain (--version was an unknown flag).
func TestVersion(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		code, out, errOut := runFor(t, arg)
		if code != 0 || !strings.HasPrefix(out, "plume "+version) || !strings.Contains(out, runtime.Version()) {
			t.Errorf("plume %s: exit %d, out %q, stderr %q", arg, code, out, errOut)
		}
	}
}

// An unknown command or flag is named, with the nearest known one, and
// exits 2. Before, `plume hepl` started a broker (the word was ignored).
func TestUnknownCommandOrFlagIsNamed(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"hepl"}, `plume: unknown command "hepl" (did you mean help?)`},
		{[]string{"chek", "--config", "x"}, `plume: unknown command "chek" (did you mean check?)`},
		{[]string{"--confg", "x.yaml"}, "plume: unknown flag --confg (did you mean --config?)"},
		{[]string{"-data-dri", "d"}, "plume: unknown flag --data-dri (did you mean --data-dir?)"},
		{[]string{"--log-level", "info", "stray"}, `plume: unknown command "stray"`},
		{[]string{"help", "plugn"}, `plume: unknown command "plugn" (did you mean plugin?)`},
		{[]string{"plugin", "nwe"}, `plume plugin: unknown command "nwe" (did you mean new?)`},
	} {
		code, _, errOut := runFor(t, tc.args...)
		if code != 2 || !strings.HasPrefix(errOut, tc.want+"\n") {
			t.Errorf("plume %s: exit %d, stderr %q; want 2 and %q", strings.Join(tc.args, " "), code, errOut, tc.want)
		}
	}
}

// No error message repeats a prefix ("plume plugin new: plugin new: …",
// "listen tcp A: listen tcp A: …"): each failure path of each command,
// every line of what it prints.
func TestNoMessageRepeatsItsPrefix(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	taken := takenAddress(t)
	bad := write("bad.yaml", "log:\n  level: info\n format: json\n")
	unknownKey := write("key.yaml", "plugins:\n  chain:\n    - {name: a, path: a.wasm, call_timout: 1s}\n")
	tlsMissing := write("tls.yaml", "listeners:\n  - {name: s, type: tls, address: '127.0.0.1:0', cert_file: no.pem, key_file: no.key}\n")
	missingPlugin := write("plugin.yaml", "plugins:\n  chain:\n    - {name: a, path: missing.wasm}\n")
	for _, args := range [][]string{
		{"--config", filepath.Join(dir, "none.yaml")}, {"--config", bad}, {"--config", unknownKey},
		{"--config", tlsMissing}, {"--config", missingPlugin}, {"--listen", taken},
		{"check", "--config", bad}, {"check", "--config", unknownKey}, {"check", "--config", tlsMissing}, {"check", "--config", missingPlugin},
		{"plugin", "new", "--lang", "cobol", "x"}, {"plugin", "new", "Bad Name"},
		{"plugin", "new", "--dir", dir, "x"}, // not empty
		{"plugin", "call", filepath.Join(dir, "none.wasm"), "--event", `{"point":"authenticate"}`},
		{"plugin", "call", filepath.Join(dir, "none.wasm"), "--event", `{"point":"nowhere"}`},
		{"plugin", "promote", "a", "--config", unknownKey}, {"plugin", "promote", "nosuch", "--config", missingPlugin},
		{"passwd", "-b", filepath.Join(dir, "none", "f"), "u", "p"}, {"passwd", "-H", "md5", "f", "u"},
		{"passwd", "-D", filepath.Join(dir, "none"), "u"},
	} {
		code, _, errOut := runFor(t, args...)
		if code == 0 {
			t.Errorf("plume %s: exit 0, want a failure", strings.Join(args, " "))
		}
		for _, line := range strings.Split(strings.TrimSpace(errOut), "\n") {
			if p := repeatedPrefix(line); p != "" {
				t.Errorf("plume %s: %q repeats %q", strings.Join(args, " "), line, p)
			}
		}
	}
}

// repeatedPrefix is a part of line, between ": ", that ends an earlier
// part (or equals it), or "".
func repeatedPrefix(line string) string {
	parts := strings.Split(line, ": ")
	for i, p := range parts {
		if len(p) < 4 || strings.HasPrefix(p, "{") {
			continue
		}
		for _, q := range parts[:i] {
			if q == p || strings.HasSuffix(q, " "+p) {
				return p
			}
		}
	}
	return ""
}

// The check itself: what it flags and what it lets pass.
func TestRepeatedPrefixCheck(t *testing.T) {
	for line, want := range map[string]string{
		"plume plugin new: plugin new: name":                                       "plugin new",
		"listen tcp 1.2.3.4:5: listen tcp 1.2.3.4:5: bind: address already in use": "listen tcp 1.2.3.4:5",
		`plume: listener "s": listener "s": cert_file: open`:                       `listener "s"`,
		"plume: config: a.yaml:3: limits.max_qos: must be":                         "",
	} {
		if got := repeatedPrefix(line); got != want {
			t.Errorf("%q: %q, want %q", line, got, want)
		}
	}
}

// takenAddress is a loopback address a listener of the test holds until
// it ends.
func takenAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}
