package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// buildPlume compiles the binary once per test run.
func buildPlume(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "plume")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startPlume runs the binary with args and returns it with the log lines it
// prints (JSON) and the address of its first listener.
func startPlume(t *testing.T, bin string, args ...string) (*exec.Cmd, <-chan map[string]any, string) {
	t.Helper()
	cmd := exec.Command(bin, append(args, "--log-format", "json")...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan map[string]any, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
	}()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-lines:
			if !ok {
				t.Fatal("plume exited before listening")
			}
			if m["message"] == "listening" {
				return cmd, lines, m["address"].(string)
			}
		case <-deadline:
			t.Fatal("plume did not start listening within 10s")
		}
	}
}

func TestStartupSaysWhoIsAdmittedOnLoopback(t *testing.T) {
	bin := buildPlume(t)
	cmd := exec.Command(bin, "--listen", "127.0.0.1:0", "--log-format", "json")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	r := bufio.NewReader(stderr)
	for i := 0; i < 5; i++ {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line is not JSON: %q", line)
		}
		if i == 0 && !strings.HasPrefix(m["message"].(string), "plume starting on 127.0.0.1:0") {
			t.Errorf("first line = %v", m)
		}
		if msg := m["message"].(string); strings.Contains(msg, "admitted") {
			if msg != "no plugin authenticates clients: every client is admitted on default (127.0.0.1:0)" {
				t.Errorf("admission line = %v", m)
			}
			return
		}
	}
	t.Fatal("no line says who is admitted")
}

func TestSIGTERMDisconnectsV5ClientsWith0x8BAndExitsZero(t *testing.T) {
	bin := buildPlume(t)
	cmd, _, addr := startPlume(t, bin, "--listen", "127.0.0.1:0")

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan byte, 1)
	c := paho.NewClient(paho.ClientConfig{
		Conn:               conn,
		OnServerDisconnect: func(d *paho.Disconnect) { got <- d.ReasonCode },
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: "sigterm", KeepAlive: 30, CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case rc := <-got:
		if rc != 0x8B {
			t.Errorf("DISCONNECT reason = %#x, want 0x8B (server shutting down)", rc)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no DISCONNECT from the server")
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("plume exited with %v, want 0", err)
	}
}

func TestBadConfigIsRefusedNamingTheLine(t *testing.T) {
	bin := buildPlume(t)
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("limits:\n  max_inflight: 10\n  max_inflite: 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--config", path).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("exit = %v, want status 2; output %s", err, out)
	}
	if !strings.Contains(string(out), "bad.yaml:3: ") || !strings.Contains(string(out), "max_inflite") {
		t.Errorf("error output does not name line 3 and the key: %s", out)
	}
}
