package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readmeSection returns the fenced code blocks, in order, of the README
// section headed title, each as its info string ("sh", "yaml") and body.
func readmeSection(t *testing.T, title string) [][2]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## "+title+"\n")
	if !ok {
		t.Fatalf("README.md has no section %q", title)
	}
	if i := strings.Index(sec, "\n## "); i >= 0 {
		sec = sec[:i]
	}
	var blocks [][2]string
	for {
		_, rest, ok := strings.Cut(sec, "```")
		if !ok {
			return blocks
		}
		info, rest, _ := strings.Cut(rest, "\n")
		body, after, ok := strings.Cut(rest, "```")
		if !ok {
			t.Fatalf("README section %q: unclosed code block", title)
		}
		blocks = append(blocks, [2]string{info, body})
		sec = after
	}
}

// commandLines joins backslash-continued lines and drops blank ones.
func commandLines(block string) []string {
	var out []string
	var cur strings.Builder
	for _, l := range strings.Split(block, "\n") {
		if s, ok := strings.CutSuffix(l, "\\"); ok {
			cur.WriteString(s)
			continue
		}
		cur.WriteString(l)
		if s := strings.TrimSpace(cur.String()); s != "" {
			out = append(out, s)
		}
		cur.Reset()
	}
	return out
}

// freePort is a loopback port nothing listened on a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, p, _ := net.SplitHostPort(l.Addr().String())
	return p
}

// The README's TLS quick start works as written: its openssl commands make
// the certificates, its YAML starts plume with a TLS and a mutual-TLS
// listener, and each client command does what its comment says (`# prints:
// X` prints X, `# refused` fails, the others succeed). Only the ports are
// changed, to free ones.
func TestREADMETLSQuickStart(t *testing.T) {
	for _, tool := range []string{"openssl", "mosquitto_pub", "mosquitto_sub", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install openssl mosquitto-clients)", tool)
		}
	}
	blocks := readmeSection(t, "TLS quick start")
	if len(blocks) != 4 || blocks[0][0] != "sh" || blocks[1][0] != "yaml" || blocks[2][0] != "sh" || blocks[3][0] != "sh" {
		t.Fatalf("want the blocks sh (certificates), yaml (config), sh (start), sh (clients); got %d blocks", len(blocks))
	}
	ports := strings.NewReplacer("8883", freePort(t), "8884", freePort(t))
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sh := func(script string) (string, error) {
		cmd := exec.CommandContext(ctx, "bash", "-e", "-c", script)
		cmd.Dir = dir
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}

	if out, err := sh(blocks[0][1]); err != nil {
		t.Fatalf("the certificate commands failed: %v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "tls-demo", "plume.yaml")
	if err := os.WriteFile(cfg, []byte(ports.Replace(blocks[1][1])), 0o644); err != nil {
		t.Fatal(err)
	}

	start := strings.Fields(strings.TrimSpace(blocks[2][1]))
	if len(start) < 1 || start[0] != "bin/plume" {
		t.Fatalf("the start command %q does not run bin/plume", blocks[2][1])
	}
	args := start[1:]
	for i, a := range args {
		if !strings.HasPrefix(a, "-") {
			args[i] = filepath.Join(dir, a) // the config's path, from the folder the README runs in
		}
	}
	_, logs, _ := startPlume(t, buildPlume(t), args...)
	// startPlume returns at the first listener; wait for the second.
	deadline := time.After(10 * time.Second)
	for waiting := true; waiting; {
		select {
		case m, ok := <-logs:
			if !ok {
				t.Fatal("plume exited before its second listener was up")
			}
			waiting = m["message"] != "listening"
		case <-deadline:
			t.Fatal("the second listener was not up within 10s")
		}
	}
	go func() {
		for range logs { // keep the log pipe drained
		}
	}()

	lines := commandLines(blocks[3][1])
	if len(lines) < 3 {
		t.Fatalf("only %d client commands", len(lines))
	}
	for _, line := range lines {
		command, comment, _ := strings.Cut(line, " # ") // not a topic's '#'

		comment = strings.TrimSpace(comment)
		out, err := sh(ports.Replace(command))
		switch want, prints := strings.CutPrefix(comment, "prints: "); {
		case comment == "refused":
			if err == nil {
				t.Errorf("%s\nsucceeded; the README says it is refused (output %q)", command, out)
			}
		case err != nil:
			t.Errorf("%s\nfailed: %v\n%s", command, err, out)
		case prints && strings.TrimSpace(out) != want:
			t.Errorf("%s\nprinted %q; the README says %q", command, strings.TrimSpace(out), want)
		case !prints && comment != "":
			t.Errorf("%s\nhas the comment %q, which the test does not know how to check", command, comment)
		}
	}
}
