package acl

import (
	"bytes"
	"fmt"
	"strings"
)

// Access bits, as Mosquitto numbers them: a line grants read, write, both, or
// (0) denies.
const (
	accessDeny  uint8 = 0
	accessRead  uint8 = 1
	accessWrite uint8 = 2
)

// line is one topic or pattern line of the file.
type line struct {
	topic  string
	access uint8
	no     int  // line number, for reasons and errors
	user   bool // a pattern with %u: skipped for clients without a username
}

// section is an ordered list of lines: Mosquitto checks every deny of a list
// before any grant of it, so they are kept apart.
type section struct {
	deny, grant []line
}

func (s *section) add(l line) {
	if l.access == accessDeny {
		s.deny = append(s.deny, l)
	} else {
		s.grant = append(s.grant, l)
	}
}

// File is a parsed Mosquitto acl_file.
type File struct {
	// anonymous holds the topic lines before any user line: Mosquitto applies
	// them to clients without a username, and only to those.
	anonymous section
	users     map[string]*section
	patterns  section
}

// maxLevels is Mosquitto's TOPIC_HIERARCHY_LIMIT: an ACL topic with more
// levels is refused.
const maxLevels = 200

// ParseFile parses data as Mosquitto's acl_file (mosquitto.conf(5), "acl_file")
// with its exact tokenizing: a line whose first byte is '#' is a comment;
// trailing white space is dropped; words are separated by spaces (not tabs);
// `topic [read|write|readwrite|deny] TOPIC` before any `user` line applies to
// anonymous clients, after one to that user; `user NAME` (the rest of the
// line) starts a user's section (two sections of one name merge); `pattern
// [ACCESS] TOPIC` applies to every client, with %c and %u replaced by its
// client id and username. An access word left out means readwrite, and a
// line of one word after `topic` names the topic ("topic read" grants
// readwrite on the topic "read", as in Mosquitto). name is the file's name
// for errors, which carry the line number.
func ParseFile(name string, data []byte) (*File, error) {
	f := &File{users: map[string]*section{}}
	cur := &f.anonymous
	no := 0
	for len(data) > 0 {
		var raw []byte
		raw, data, _ = bytes.Cut(data, []byte{'\n'})
		no++
		text := strings.TrimRightFunc(string(raw), isSpace)
		if text == "" || text[0] == '#' {
			continue
		}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%s:%d: %s", name, no, fmt.Sprintf(format, args...))
		}
		word, rest := nextWord(text)
		switch word {
		case "":
			continue
		case "topic", "pattern":
			access, after := nextWord(rest)
			if access == "" {
				return nil, bad("%s without a topic", word)
			}
			topic := strings.TrimFunc(after, isSpace)
			if after == "" {
				topic, access = access, "readwrite"
			}
			a, ok := accessWords[access]
			if !ok {
				return nil, bad("access %q is none of read, write, readwrite, deny", access)
			}
			if err := validFilter(topic); err != nil {
				return nil, bad("invalid topic %q: %v", topic, err)
			}
			if strings.Count(topic, "/") > maxLevels {
				return nil, bad("invalid topic %q: more than %d levels", topic, maxLevels)
			}
			l := line{topic: topic, access: a, no: no}
			if word == "topic" {
				cur.add(l)
				continue
			}
			l.user = strings.Contains(topic, "%u")
			f.patterns.add(l)
		case "user":
			user := strings.TrimFunc(rest, isSpace)
			if rest == "" || user == "" {
				return nil, bad("user without a name")
			}
			if f.users[user] == nil {
				f.users[user] = &section{}
			}
			cur = f.users[user]
		default:
			return nil, bad("%q is none of topic, pattern, user (or a comment: '#' in the first column)", word)
		}
	}
	return f, nil
}

var accessWords = map[string]uint8{
	"read": accessRead, "write": accessWrite, "readwrite": accessRead | accessWrite, "deny": accessDeny,
}

// nextWord splits s as C's strtok_r(s, " ") then strtok_r(NULL, "") do:
// spaces before the word are skipped, and the rest starts after the one
// space that ended it ("" if nothing follows).
func nextWord(s string) (word, rest string) {
	s = strings.TrimLeft(s, " ")
	word, rest, _ = strings.Cut(s, " ")
	return word, rest
}

// isSpace is C's isspace in the "C" locale.
func isSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}

// expand returns a pattern's topic for a client as Mosquitto builds it: each
// "%c" becomes the client id and, for a client with a username, each "%u" the
// username, scanning left to right ("%%c" is "%" and the id).
func expand(pattern, id, user string, hasUser bool) string {
	if !strings.Contains(pattern, "%") {
		return pattern
	}
	var b strings.Builder
	b.Grow(len(pattern) + len(id) + len(user))
	for i := 0; i < len(pattern); i++ {
		if pattern[i] == '%' && i+1 < len(pattern) {
			switch {
			case pattern[i+1] == 'c':
				b.WriteString(id)
				i++
				continue
			case pattern[i+1] == 'u' && hasUser:
				b.WriteString(user)
				i++
				continue
			}
		}
		b.WriteByte(pattern[i])
	}
	return b.String()
}
