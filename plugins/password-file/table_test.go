package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	plume "github.com/plumemq/plume/plugin-sdk/go"
	"github.com/plumemq/plume/plugins/passwd"
)

// These tests run natively (go test); through the real host and a real
// broker the plugin is tested in plugins/e2e (password_file_test.go).

var cheap = passwd.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}

func hashLine(t *testing.T, user, password string, kind passwd.Kind) string {
	t.Helper()
	h, err := passwd.New(kind, []byte(password), 0, cheap)
	if err != nil {
		t.Fatal(err)
	}
	return user + ":" + h.String() + "\n"
}

func TestAuthenticateEveryFormat(t *testing.T) {
	file := "# a comment\n\n" + hashLine(t, "six", "p6", passwd.SHA512) +
		hashLine(t, "seven", "p7", passwd.PBKDF2) + hashLine(t, "argon", "pa", passwd.Argon2id)
	tab, err := parse([]byte(file), defaultMaxArgon2MemoryKiB)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, user, pass string
		verdict            plume.Verdict
	}{
		{"", "six", "p6", plume.VerdictAllow},
		{"", "seven", "p7", plume.VerdictAllow},
		{"", "argon", "pa", plume.VerdictAllow},
		{"", "six", "p7", plume.VerdictDeny},
		{"", "argon", "", plume.VerdictDeny},
		{"", "nobody", "p6", plume.VerdictDeny},
		{"", "", "p6", plume.VerdictPass},
		{"JWT", "six", "p6", plume.VerdictPass},
	} {
		d := tab.authenticate(tc.method, tc.user, []byte(tc.pass))
		if d.Verdict != tc.verdict {
			t.Errorf("%s/%s/%s: %v, want %v", tc.method, tc.user, tc.pass, d.Verdict, tc.verdict)
		}
		if d.Verdict == plume.VerdictDeny && (d.Reason != plume.BadUsernameOrPassword || d.ReasonString != "bad user name or password") {
			t.Errorf("%s/%s: deny %#x %q, want 0x86 and one reason for both cases", tc.user, tc.pass, d.Reason, d.ReasonString)
		}
	}
}

// An unknown user is checked against a decoy of the file's most common
// shape, so that it costs what a known user costs.
func TestDecoyHasTheMostCommonShape(t *testing.T) {
	file := hashLine(t, "a", "x", passwd.Argon2id) + hashLine(t, "b", "x", passwd.PBKDF2) + hashLine(t, "c", "x", passwd.PBKDF2)
	tab, err := parse([]byte(file), defaultMaxArgon2MemoryKiB)
	if err != nil {
		t.Fatal(err)
	}
	if tab.decoy.Kind != passwd.PBKDF2 || tab.decoy.Iterations != passwd.DefaultIterations {
		t.Fatalf("decoy %+v, want the $7$ shape of two users in three", tab.decoy)
	}
	empty, err := parse([]byte("# nobody yet\n"), defaultMaxArgon2MemoryKiB)
	if err != nil || empty.decoy.Kind != passwd.Argon2id {
		t.Fatalf("empty file: %v, decoy %+v", err, empty.decoy)
	}
	if d := empty.authenticate("", "x", nil); d.Verdict != plume.VerdictDeny {
		t.Fatalf("empty file: %v", d.Verdict)
	}
}

func TestBadFilesNameTheLine(t *testing.T) {
	good := hashLine(t, "a", "x", passwd.PBKDF2)
	big, _ := passwd.New(passwd.Argon2id, []byte("x"), 0, passwd.Argon2Params{MemoryKiB: 40 * 1024, Time: 1, Threads: 1})
	for file, want := range map[string]string{
		good + "b:plaintext\n":   `line 2: user "b": not a password hash`,
		good + "\nb\n":           "line 3: no ':'",
		good + good:              `line 2: user "a" again`,
		"#\nbig:" + big.String(): "line 2: user \"big\": argon2id needs m=40960 KiB per verification, over max_argon2_memory_kib 19456",
		"c:$7$101$short$AAAA\n":  "line 1: user \"c\": not a password hash: salt",
	} {
		_, err := parse([]byte(file), defaultMaxArgon2MemoryKiB)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", file, err, want)
		}
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(path, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := load(Config{File: path, MaxArgon2MemoryKiB: 1}); err == nil || !strings.Contains(err.Error(), path+": line 1") {
		t.Fatalf("err = %v, want the path and line", err)
	}
	if _, err := load(Config{File: path + ".missing"}); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for cfg, want := range map[string]string{
		`{}`:             "file: required",
		`{"files": "x"}`: "unknown field",
		`{"file": 1}`:    "cannot unmarshal",
	} {
		if _, err := parseConfig([]byte(cfg)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", cfg, err, want)
		}
	}
	c, err := parseConfig([]byte(`{"file": "p"}`))
	if err != nil || c.MaxArgon2MemoryKiB != defaultMaxArgon2MemoryKiB {
		t.Fatalf("%+v, %v", c, err)
	}
}
