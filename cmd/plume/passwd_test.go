package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plumemq/plume/plugins/passwd"
)

// plumePasswd runs `plume passwd args` with stdin and returns its exit code
// and stderr.
func plumePasswd(t *testing.T, stdin string, args ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if stdin == "" { // through main's dispatch
		return run(append([]string{"passwd"}, args...), &out, &errOut), errOut.String()
	}
	return runPasswd(args, strings.NewReader(stdin), &out, &errOut), errOut.String()
}

// entries reads file and returns each user's parsed hash.
func entries(t *testing.T, file string) map[string]passwd.Hash {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	f, err := passwd.ParseFile(b)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]passwd.Hash{}
	for _, e := range f.Entries() {
		h, err := passwd.Parse(e.Field)
		if err != nil {
			t.Fatalf("%s: %v", e.User, err)
		}
		m[e.User] = h
	}
	return m
}

func TestPasswdBatchCreatesUpdatesAndDeletes(t *testing.T) {
	file := filepath.Join(t.TempDir(), "passwd")
	if code, msg := plumePasswd(t, "", "-b", file, "alice", "pw"); code != 1 || !strings.Contains(msg, "-c creates it") {
		t.Fatalf("without -c on a missing file: %d %s", code, msg)
	}
	if code, msg := plumePasswd(t, "", "-c", "-b", file, "alice", "pw-a"); code != 0 {
		t.Fatalf("-c -b: %d %s", code, msg)
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("new file: %v, mode %v; want 0600", err, st.Mode())
	}
	if code, msg := plumePasswd(t, "", "-H", "sha512-pbkdf2", "-b", file, "bob", "pw-b"); code != 0 {
		t.Fatalf("-b: %d %s", code, msg)
	}
	if err := os.Chmod(file, 0o640); err != nil {
		t.Fatal(err)
	}
	if code, msg := plumePasswd(t, "", "-H", "sha512", "-b", file, "alice", "pw-a2"); code != 0 {
		t.Fatalf("-b over alice: %d %s", code, msg)
	}
	es := entries(t, file)
	if len(es) != 2 || es["alice"].Kind != passwd.SHA512 || !es["alice"].Verify([]byte("pw-a2")) ||
		es["bob"].Kind != passwd.PBKDF2 || !es["bob"].Verify([]byte("pw-b")) {
		t.Fatalf("file holds %+v", es)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v after an update, want the file's 0640 kept", st.Mode())
	}
	if code, msg := plumePasswd(t, "", "-D", file, "carol"); code != 1 || !strings.Contains(msg, `user "carol" not in`) {
		t.Fatalf("-D unknown: %d %s", code, msg)
	}
	if code, msg := plumePasswd(t, "", "-D", file, "alice"); code != 0 {
		t.Fatalf("-D: %d %s", code, msg)
	}
	if es := entries(t, file); len(es) != 1 || es["bob"].Kind != passwd.PBKDF2 {
		t.Fatalf("after -D: %+v", es)
	}
	if code, _ := plumePasswd(t, "", "-c", "-b", file, "dave", "pw-d"); code != 0 {
		t.Fatal("-c over an existing file")
	}
	if es := entries(t, file); len(es) != 1 || es["dave"].Kind != passwd.Argon2id {
		t.Fatalf("-c should leave dave alone, with argon2id by default: %+v", es)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(file), ".*tmp*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left behind: %v", left)
	}
}

// Comments and other users' lines are kept byte for byte, and a link is
// followed to the file it names.
func TestPasswdKeepsOtherLinesAndFollowsALink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	const kept = "# operators\nbob:$7$101$AAAAAAAAAAAAAAAA$" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" + "\n\n"
	if err := os.WriteFile(real, []byte(kept), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if code, msg := plumePasswd(t, "", "-b", link, "alice", "pw"); code != 0 {
		t.Fatalf("%d %s", code, msg)
	}
	b, _ := os.ReadFile(real)
	if !strings.HasPrefix(string(b), kept+"alice:$argon2id$") {
		t.Fatalf("file now:\n%s", b)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v", err)
	}
}

// Without a terminal the password is read as two lines (the terminal path,
// term.ReadPassword without echo, is not tested: no pty package here).
func TestPasswdPromptsTwice(t *testing.T) {
	file := filepath.Join(t.TempDir(), "passwd")
	if code, msg := plumePasswd(t, "s3cret\ns3cret\n", "-c", file, "alice"); code != 0 || !strings.Contains(msg, "Reenter password: ") {
		t.Fatalf("%d %s", code, msg)
	}
	if !entries(t, file)["alice"].Verify([]byte("s3cret")) {
		t.Fatal("the prompted password does not verify")
	}
	before, _ := os.ReadFile(file)
	if code, msg := plumePasswd(t, "one\ntwo\n", file, "alice"); code != 1 || !strings.Contains(msg, "do not match") {
		t.Fatalf("mismatch: %d %s", code, msg)
	}
	if code, msg := plumePasswd(t, "\n\n", file, "alice"); code != 1 || !strings.Contains(msg, "empty password") {
		t.Fatalf("empty: %d %s", code, msg)
	}
	if after, _ := os.ReadFile(file); !bytes.Equal(before, after) {
		t.Fatal("a refused prompt changed the file")
	}
}

func TestPasswdUpdateHashesAPlainTextFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(file, []byte("# plain\nalice:pw a\nbob: pw-b \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, msg := plumePasswd(t, "", "-H", "sha512-pbkdf2", "-U", file); code != 0 {
		t.Fatalf("%d %s", code, msg)
	}
	es := entries(t, file)
	if !es["alice"].Verify([]byte("pw a")) || !es["bob"].Verify([]byte("pw-b")) || es["bob"].Kind != passwd.PBKDF2 {
		t.Fatalf("%+v", es)
	}
	// Again: every line now holds a hash, which -U would hash in turn.
	before, _ := os.ReadFile(file)
	if code, msg := plumePasswd(t, "", "-U", file); code != 1 || !strings.Contains(msg, `line 2: user "alice" already holds a hash`) {
		t.Fatalf("-U on a hashed file: %d %s", code, msg)
	}
	if after, _ := os.ReadFile(file); !bytes.Equal(before, after) {
		t.Fatal("a refused -U changed the file")
	}
}

func TestPasswdRefusesBadArguments(t *testing.T) {
	file := filepath.Join(t.TempDir(), "passwd")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-c", "-D", file, "a"}, "go alone"},
		{[]string{"-b", "-D", file, "a"}, "cannot go together"},
		{[]string{"-H", "md5", "-b", file, "a", "p"}, "unknown hash type"},
		{[]string{"-c", "-b", file, "a:b", "p"}, "contains ':'"},
		{[]string{"-c", "-b", file, "#a", "p"}, "starts with '#'"},
		{[]string{"-c", "-b", file, "a"}, "usage:"},
		{[]string{"-m", "4", "-c", "-b", file, "a", "p"}, "out of range"},
	} {
		if code, msg := plumePasswd(t, "", tc.args...); code == 0 || !strings.Contains(msg, tc.want) {
			t.Errorf("%v: %d %s; want %q", tc.args, code, msg, tc.want)
		}
	}
	if _, err := os.Stat(file); err == nil {
		t.Fatal("a refused command wrote the file")
	}
}
