package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/host/plugintest"
	"github.com/plumemq/plume/plugins/passwd"
)

const passwordFileDir = repoRoot + "/plugins/password-file"

func passwordFilePlugin(tb testing.TB) string { return plugintest.BuildGo(tb, passwordFileDir, ".") }

// mosquittoPasswdLine is the line Debian's mosquitto_passwd writes for
// user and password with extra flags (-H sha512 for $6$).
func mosquittoPasswdLine(t *testing.T, user, password string, flags ...string) string {
	t.Helper()
	bin, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Fatalf("mosquitto_passwd not installed (Debian package mosquitto): %v", err)
	}
	file := filepath.Join(t.TempDir(), "p")
	if out, err := exec.Command(bin, append(flags, "-c", "-b", file, user, password)...).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v\n%s", err, out)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// hashedLine is `user:HASH\n` as plume passwd writes it.
func hashedLine(tb testing.TB, user, password string, kind passwd.Kind) string {
	tb.Helper()
	h, err := passwd.New(kind, []byte(password), 0, passwd.DefaultArgon2)
	if err != nil {
		tb.Fatal(err)
	}
	return user + ":" + h.String() + "\n"
}

// writePasswordFile writes body to a fresh folder and returns the file's
// path and the plugin config that names it.
func writePasswordFile(tb testing.TB, body string) (path, config string) {
	tb.Helper()
	path = filepath.Join(tb.TempDir(), "passwd")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path, fmt.Sprintf(`{"file": %q}`, path)
}

// The plugin, built from its source, through the real host with the
// default memory (64 MiB) and a generous deadline (whether the default
// 100 ms suffices depends on the machine's load: a benchmark's question,
// decision 0024): a file holding Mosquitto's $7$ and $6$ lines as Debian's
// mosquitto_passwd writes them and an argon2id line with plume passwd's
// defaults.
func TestPasswordFileThroughTheHost(t *testing.T) {
	body := "# users\n" + mosquittoPasswdLine(t, "seven", "pw7") + mosquittoPasswdLine(t, "six", "pw6", "-H", "sha512") +
		hashedLine(t, "argon", "pwa", passwd.Argon2id)
	path, config := writePasswordFile(t, body)
	p := plugintest.Load(t, passwordFilePlugin(t), plugintest.Options{Config: []byte(config), AllowFS: []string{filepath.Dir(path)},
		CallTimeout: defaultCallTimeout})
	if !p.Provides(hooks.PointAuthenticate) || p.Provides(hooks.PointAuthorize) {
		t.Fatal("password-file should provide authenticate only")
	}
	for _, tc := range []struct {
		user, pass string
		verdict    hooks.Verdict
	}{
		{"seven", "pw7", hooks.Allow},
		{"six", "pw6", hooks.Allow},
		{"argon", "pwa", hooks.Allow},
		{"seven", "pw6", hooks.Deny},
		{"argon", "PWA", hooks.Deny},
		{"mallory", "pw7", hooks.Deny},
		{"", "", hooks.Pass},
	} {
		for _, version := range []byte{4, 5} {
			c := &hooks.Client{ID: "c", Username: tc.user, ProtocolVersion: version, Creds: &hooks.Credentials{Password: []byte(tc.pass)}}
			res, err := p.Authenticate(&hooks.AuthRequest{Client: c})
			if err != nil || res.Verdict != tc.verdict {
				t.Errorf("%s/%s v%d: %+v, %v; want %v", tc.user, tc.pass, version, res, err, tc.verdict)
				continue
			}
			if tc.verdict == hooks.Deny && (res.Reason != packets.BadUserNameOrPassword || res.ReasonString != "bad user name or password") {
				t.Errorf("%s/%s: deny %#x %q, want 0x86 with one reason for unknown user and wrong password", tc.user, tc.pass, res.Reason, res.ReasonString)
			}
		}
	}
	// A 5.0 client authenticating with a method is another plugin's.
	c := &hooks.Client{ID: "c", Username: "seven", ProtocolVersion: 5, Creds: &hooks.Credentials{Password: []byte("pw7")}}
	if res, err := p.Authenticate(&hooks.AuthRequest{Client: c, Method: "SCRAM-SHA-1"}); err != nil || res.Verdict != hooks.Pass {
		t.Errorf("with an auth method: %+v, %v; want pass", res, err)
	}
	if p.Traps() != 0 {
		t.Errorf("%d traps:\n%s", p.Traps(), p.Logs())
	}
}

// A bad file is refused at load with its path and line.
func TestPasswordFileRefusesABadFile(t *testing.T) {
	path, config := writePasswordFile(t, hashedLine(t, "a", "x", passwd.PBKDF2)+"b:not-a-hash\n")
	_, err := plugintest.Open(t.Context(), passwordFilePlugin(t), plugintest.Options{Config: []byte(config), AllowFS: []string{filepath.Dir(path)}})
	if err == nil || !strings.Contains(err.Error(), path+": line 2: user \"b\": not a password hash") {
		t.Fatalf("err = %v, want the file, line and user", err)
	}
	// Without access to the file's folder the plugin cannot read it.
	_, err = plugintest.Open(t.Context(), passwordFilePlugin(t), plugintest.Options{Config: []byte(config)})
	if err == nil || !strings.Contains(err.Error(), "password-file:") {
		t.Fatalf("without allow_fs: %v, want a read error", err)
	}
}

// BenchmarkPasswordFileAuthenticate is the cost of one CONNECT's
// authenticate through the host, for each hash format: the figures of
// decision 0024. An unknown user costs what a known one of the file's
// most common format does.
func BenchmarkPasswordFileAuthenticate(b *testing.B) {
	wasm := passwordFilePlugin(b)
	for _, tc := range []struct {
		name, body, user string
	}{
		{"sha512", hashedLine(b, "u", "pw", passwd.SHA512), "u"},
		{"pbkdf2-101", hashedLine(b, "u", "pw", passwd.PBKDF2), "u"},
		{"argon2id-default", hashedLine(b, "u", "pw", passwd.Argon2id), "u"},
		{"argon2id-default-unknown-user", hashedLine(b, "u", "pw", passwd.Argon2id), "nobody"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			path, config := writePasswordFile(b, tc.body)
			p := plugintest.Load(b, wasm, plugintest.Options{Config: []byte(config), AllowFS: []string{filepath.Dir(path)},
				CallTimeout: 10 * time.Second})
			req := &hooks.AuthRequest{Client: &hooks.Client{ID: "c", Username: tc.user, Creds: &hooks.Credentials{Password: []byte("pw")}}}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Authenticate(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
