package passwd

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startMosquitto runs Debian's mosquitto broker with password_file and
// returns its address; the broker stops when the test ends.
func startMosquitto(t *testing.T, passwordFile string) string {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/mosquitto"); err != nil {
			t.Skip("mosquitto not installed (Debian package mosquitto)")
		}
	}
	if _, err := exec.LookPath("mosquitto_pub"); err != nil {
		t.Skip("mosquitto_pub not installed (Debian package mosquitto-clients)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	// Run as root (a container's tests), mosquitto would switch to the
	// user mosquitto, who cannot read a test's temporary folder.
	body := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous false\npassword_file %s\n", port, passwordFile)
	if os.Geteuid() == 0 {
		body += "user root\n"
	}
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "-c", conf)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("mosquitto's log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("mosquitto exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto did not listen on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling a port that is not open yet
	}
}

// Mosquitto itself accepts the $6$ and $7$ hashes New writes, so a file
// that plume passwd writes with -H sha512 or sha512-pbkdf2 serves Mosquitto
// too; and it refuses a wrong password, so the acceptance means something.
func TestMosquittoAcceptsHashesWrittenHere(t *testing.T) {
	f, _ := ParseFile(nil)
	for user, kind := range map[string]Kind{"six": SHA512, "seven": PBKDF2} {
		h, err := New(kind, []byte("pw-"+user), 0, Argon2Params{})
		if err != nil {
			t.Fatal(err)
		}
		f.Set(user, h.String())
	}
	file := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(file, f.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := startMosquitto(t, file)
	host, port, _ := net.SplitHostPort(addr)
	for _, tc := range []struct {
		user, pass string
		ok         bool
	}{
		{"six", "pw-six", true}, {"seven", "pw-seven", true},
		{"six", "pw-seven", false}, {"seven", "pw-six", false}, {"nobody", "pw-six", false},
	} {
		out, err := exec.Command("mosquitto_pub", "-h", host, "-p", port, "-q", "1", "-t", "t", "-m", "m",
			"-u", tc.user, "-P", tc.pass, "-V", "mqttv311").CombinedOutput()
		if (err == nil) != tc.ok {
			t.Errorf("%s/%s: mosquitto_pub: %v %s; want success %v", tc.user, tc.pass, err, out, tc.ok)
		}
		if !tc.ok && !strings.Contains(string(out), "not authorised") {
			t.Errorf("%s/%s: refused for another reason: %s", tc.user, tc.pass, out)
		}
	}
}
