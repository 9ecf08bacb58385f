package main

import (
	"bufio"
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The password-file built-in in a real broker, with Debian's
// mosquitto_pub and mosquitto_sub: a file holding a line that Debian's
// mosquitto_passwd wrote ($7$) and one that plume passwd wrote (argon2id),
// both protocol versions, and the file changed under live traffic.
func TestPasswordFileBuiltinWithMosquittoClients(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "passwd")
	if out, err := runTool(t, "mosquitto_passwd", "-c", "-b", file, "alice", "pw-alice"); err != nil {
		t.Fatalf("mosquitto_passwd: %v\n%s", err, out)
	}
	if code, msg := plumePasswd(t, "", "-b", file, "bob", "pw-bob"); code != 0 {
		t.Fatalf("plume passwd: %s", msg)
	}
	srv, logs := startFromYAML(t, dir, `log: {level: info, format: json}
listeners: [{name: a, address: '127.0.0.1:0'}]
allow_anonymous: false
plugins:
  chain:
    - name: passwords
      builtin: password-file
      call_timeout: 2s   # generous: the tests share two cores with others
      config: {file: passwd}
`)
	_, port, _ := net.SplitHostPort(srv.listeners[0].Address())
	pub := func(version, user, password string) (string, error) {
		return runTool(t, "mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-V", version, "-q", "1",
			"-t", "news", "-m", "from "+user, "-u", user, "-P", password)
	}
	for _, version := range []string{"mqttv311", "mqttv5"} {
		for _, tc := range []struct {
			user, password, refusal string
		}{
			{"alice", "pw-alice", ""},
			{"bob", "pw-bob", ""},
			{"alice", "pw-bob", "bad user name or password"},
			{"mallory", "pw-alice", "bad user name or password"},
		} {
			out, err := pub(version, tc.user, tc.password)
			if tc.refusal == "" && err != nil {
				t.Errorf("%s %s/%s: %v %s; want success", version, tc.user, tc.password, err, out)
			}
			if tc.refusal != "" && (err == nil || !strings.Contains(strings.ToLower(out), tc.refusal)) {
				t.Errorf("%s %s/%s: %v %q; want refused with %q", version, tc.user, tc.password, err, out, tc.refusal)
			}
		}
	}
	// No username: the plugin passes, allow_anonymous: false refuses.
	if out, err := runTool(t, "mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-V", "mqttv311", "-t", "news", "-m", "x"); err == nil ||
		!strings.Contains(out, "not authorised") {
		t.Errorf("anonymous: %v %q; want not authorised", err, out)
	}

	// alice subscribes and stays connected while bob's password changes.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub := exec.CommandContext(ctx, "mosquitto_sub", "-h", "127.0.0.1", "-p", port, "-V", "mqttv5", "-q", "1",
		"-t", "news", "-u", "alice", "-P", "pw-alice", "-i", "alice-sub")
	stdout, err := sub.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Start(); err != nil {
		t.Fatalf("mosquitto_sub: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- sub.Wait() }()
	t.Cleanup(func() { cancel(); <-exited })
	lines := make(chan string, 100)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	// Publish until the subscription is in place and a message arrives.
	received := func(want string) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			if out, err := pub("mqttv5", "bob", want); err != nil && want != "" {
				t.Fatalf("bob: %v %s", err, out)
			}
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("mosquitto_sub ended: %v", <-exited)
				}
				if l == "from bob" {
					return
				}
			case <-deadline:
				t.Fatal("alice's subscriber received nothing in 30 s")
			case <-time.After(500 * time.Millisecond): // publish again: the SUBSCRIBE may not be in yet
			}
		}
	}
	received("pw-bob")

	if code, msg := plumePasswd(t, "", "-b", file, "bob", "pw-bob-2"); code != 0 {
		t.Fatalf("plume passwd: %s", msg)
	}
	// The host recompiles the module on a data file's change (without a
	// cache_dir): a few seconds for this 4 MB module on a shared machine.
	changed := time.Now()
	deadline := changed.Add(60 * time.Second)
	for {
		if _, err := pub("mqttv5", "bob", "pw-bob-2"); err == nil {
			t.Logf("the new password works %v after the file changed", time.Since(changed).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob's new password still refused 60 s after the file changed; plugin logs:\n%s", pluginLogs(logs))
		}
		time.Sleep(50 * time.Millisecond) // polling for the reload; no verdict rests on the interval
	}
	if out, err := pub("mqttv5", "bob", "pw-bob"); err == nil || !strings.Contains(strings.ToLower(out), "bad user name or password") {
		t.Fatalf("bob's old password after the reload: %v %q; want refused", err, out)
	}
	// alice's connection survived the reload: her subscriber is running and
	// still receives.
	for drained := false; !drained; {
		select {
		case <-lines:
		default:
			drained = true
		}
	}
	received("pw-bob-2")
	select {
	case err := <-exited:
		t.Fatalf("mosquitto_sub exited across the reload: %v", err)
	default:
	}
	// mosquitto_sub reconnects on its own: the log shows it connected once.
	n := 0
	for _, e := range logged(logs, "client connected") {
		if e["client_id"] == "alice-sub" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("alice-sub connected %d times, want once: the reload dropped her", n)
	}
}

// pluginLogs is the log lines about plugins, for a failure's message.
func pluginLogs(logs *lockedBuffer) string {
	var b strings.Builder
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `"plugin"`) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
