package acl

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// loadCases reads testdata/cases.txt, the table that plugins/e2e also runs
// against Mosquitto and Plume.
func loadCases(t *testing.T) [][]string {
	t.Helper()
	f, err := os.Open("../testdata/cases.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases [][]string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if l := strings.TrimSpace(s.Text()); l != "" && l[0] != '#' {
			cases = append(cases, strings.Fields(l))
		}
	}
	return cases
}

func loadPolicy(t *testing.T, config string) *Policy {
	t.Helper()
	c, err := ParseConfig([]byte(config))
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(c, readFile)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The table's answers, decided natively. Plume delivers a message on TOPIC
// to a subscriber of FILTER when the subscription was allowed and FILTER
// matches TOPIC, so that is what a sub case's EXPECT says here.
func TestCaseTable(t *testing.T) {
	p := loadPolicy(t, `{"file": "../testdata/acl"}`)
	cases := loadCases(t)
	if len(cases) < 30 {
		t.Fatalf("%d cases; the table must have at least 30", len(cases))
	}
	for _, c := range cases {
		user := c[0]
		if user == "-" {
			user = ""
		}
		cl := &Client{ID: c[1], Username: user}
		var got bool
		var d Decision
		switch c[2] {
		case "pub":
			d = p.Decide(cl, Publish, c[3])
			got = d.Verdict == Allow
		case "sub":
			d = p.Decide(cl, Subscribe, c[3])
			got = d.Verdict == Allow && match(c[3], c[4])
		default:
			t.Fatalf("case %v: action %q", c, c[2])
		}
		if want := c[len(c)-1] == "allow"; got != want {
			t.Errorf("%v: decision %+v", c, d)
		}
		if d.Verdict == Deny && !strings.HasPrefix(d.Reason, "acl: ") {
			t.Errorf("%v: reason %q", c, d.Reason)
		}
	}
}

func TestParseFileMosquittoQuirks(t *testing.T) {
	f, err := ParseFile("acl", []byte("# comment\n\n"+
		"topic read\n"+ // one word: the topic "read", readwrite
		"topic  write   a b  \r\n"+ // topic "a b", extra spaces
		"user  bob smith\n"+ // a username with a space
		"topic x/#\n"+
		"user bob smith\n"+ // sections of one name merge
		"topic deny x/y\n"+
		"pattern %c/%u\n"))
	if err != nil {
		t.Fatal(err)
	}
	if g := f.anonymous.grant; len(g) != 2 || g[0].topic != "read" || g[0].access != accessRead|accessWrite ||
		g[1].topic != "a b" || g[1].access != accessWrite || g[1].no != 4 {
		t.Errorf("anonymous lines %+v", g)
	}
	if s := f.users["bob smith"]; s == nil || len(s.grant) != 1 || len(s.deny) != 1 || s.deny[0].no != 8 {
		t.Errorf("user section %+v", s)
	}
	if len(f.patterns.grant) != 1 || !f.patterns.grant[0].user {
		t.Errorf("patterns %+v", f.patterns)
	}
}

func TestParseFileErrorsNameTheLine(t *testing.T) {
	for text, want := range map[string]string{
		"topic read a\ntopic rw a\n": `acl:2: access "rw" is none of`,
		"\n\ntopic\n":                "acl:3: topic without a topic",
		"user\n":                     "acl:1: user without a name",
		"topic read a/#/b\n":         `acl:1: invalid topic "a/#/b"`,
		"topic read a+\n":            `acl:1: invalid topic "a+"`,
		"  # indented comment\n":     `acl:1: "#" is none of topic, pattern, user`,
		"topic read a # comment\n":   `acl:1: invalid topic "a # comment"`,
		"topic\tread\ta\n":           `acl:1: "topic\tread\ta" is none of`,
		"Topic read a\n":             `acl:1: "Topic" is none of`,
		"pattern deny\n":             "", // a pattern on the topic "deny"
		"topic read " + strings.Repeat("a/", 201) + "a\n": "more than 200 levels",
	} {
		_, err := ParseFile("acl", []byte(text))
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: %v", text, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: err = %v, want %q", text, err, want)
		}
	}
}

func TestExpandAsMosquitto(t *testing.T) {
	for _, c := range []struct {
		pattern, id, user string
		hasUser           bool
		want              string
	}{
		{"d/%c/%u", "c1", "u1", true, "d/c1/u1"},
		{"d/%c/%u", "c1", "", false, "d/c1/%u"},
		{"%%c", "c1", "", false, "%c1"},
		{"a%", "c1", "", false, "a%"},
		{"x/%c%c", "c", "", false, "x/cc"},
	} {
		if got := expand(c.pattern, c.id, c.user, c.hasUser); got != c.want {
			t.Errorf("expand(%q) = %q, want %q", c.pattern, got, c.want)
		}
	}
}

var readFile = os.ReadFile
