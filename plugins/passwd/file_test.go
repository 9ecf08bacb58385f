package passwd

import (
	"errors"
	"strings"
	"testing"
)

func TestParseFileKeepsCommentsAndBlankLines(t *testing.T) {
	in := "# users\n\nalice:$7$x\r\n  bob : $6$y  \n#carol:$6$z\n"
	f, err := ParseFile([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	es := f.Entries()
	if len(es) != 2 || es[0] != (Entry{3, "alice", "$7$x"}) || es[1] != (Entry{4, "bob", "$6$y"}) {
		t.Fatalf("entries %+v", es)
	}
	if got := string(f.Bytes()); got != strings.ReplaceAll(in, "\r", "") {
		t.Fatalf("rewritten unchanged file differs:\n%q\nwant\n%q", got, in)
	}
	f.Set("bob", "$argon2id$new")
	f.Set("dave", "$7$d")
	if !f.Delete("alice") || f.Delete("alice") {
		t.Fatal("Delete")
	}
	if got, want := string(f.Bytes()), "# users\n\nbob:$argon2id$new\n#carol:$6$z\ndave:$7$d\n"; got != want {
		t.Fatalf("after edits:\n%q\nwant\n%q", got, want)
	}
}

func TestParseFileNoFinalNewline(t *testing.T) {
	f, err := ParseFile([]byte("a:x\nb:y"))
	if err != nil || len(f.Entries()) != 2 || string(f.Bytes()) != "a:x\nb:y\n" {
		t.Fatalf("%v %+v", err, f)
	}
	if f, err := ParseFile(nil); err != nil || len(f.Entries()) != 0 || len(f.Bytes()) != 0 {
		t.Fatalf("empty file: %v", err)
	}
}

func TestParseFileNamesTheBadLine(t *testing.T) {
	for in, want := range map[string]string{
		"a:x\nnocolon\n":  "line 2: no ':'",
		"# c\n:x\n":       "line 2: empty user name",
		"a:x\n\nb:\n":     `line 3: user "b": empty password hash`,
		"a:x\nb:y\na:z\n": `line 3: user "a" again (first on line 1)`,
		"a\x01b:x\n":      "line 1: user name \"a\\x01b\" contains a control character",
	} {
		_, err := ParseFile([]byte(in))
		var le *LineError
		if !errors.As(err, &le) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}

func TestCheckUser(t *testing.T) {
	for _, bad := range []string{"", "a:b", "a\nb", " a", "a\t", "#x", strings.Repeat("x", 65536)} {
		if CheckUser(bad) == nil {
			t.Errorf("CheckUser(%q) accepted", bad)
		}
	}
	for _, good := range []string{"a", "a b", "ünï", "user@example.com", "x#"} {
		if err := CheckUser(good); err != nil {
			t.Errorf("CheckUser(%q): %v", good, err)
		}
	}
}
