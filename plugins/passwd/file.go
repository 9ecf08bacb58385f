package passwd

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
)

// File is a password file: `user:field` lines, comments (# first) and blank
// lines. It keeps every line, so that rewriting it changes only the lines
// an edit touches, as mosquitto_passwd does.
type File struct {
	lines []line
}

type line struct {
	text  string // the line as read, without its end of line, for kept lines
	user  string // "" for a comment or blank line
	field string // what follows the first ':', trimmed: a hash or, before -U, a password
}

// Entry is one user's line.
type Entry struct {
	// Line is the 1-based line number in the data parsed.
	Line int
	User string
	// Field is what follows the first ':' with blanks trimmed: a hash, or
	// in a plain-text file a password.
	Field string
}

// LineError is a malformed line.
type LineError struct {
	Line int
	Msg  string
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// ParseFile reads a password file's lines. It checks the shape of each
// line (a user name, a ':', a non-empty field; no user twice), not what
// the field holds: Entries' fields go to Parse, or are passwords in a
// plain-text file. Mosquitto skips a line without ':' and trims blanks
// around the name and the field; here such a line is an error, since a
// broken line that silently locks a user out is worse to debug.
func ParseFile(data []byte) (*File, error) {
	f := &File{}
	seen := map[string]int{}
	text := string(data)
	if text != "" && !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	n := 0
	for text != "" {
		var raw string
		raw, text, _ = strings.Cut(text, "\n")
		n++
		raw = strings.TrimSuffix(raw, "\r")
		trimmed := strings.TrimSpace(raw)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			f.lines = append(f.lines, line{text: raw})
			continue
		}
		user, field, ok := strings.Cut(trimmed, ":")
		user, field = strings.TrimSpace(user), strings.TrimSpace(field)
		switch {
		case !ok:
			return nil, &LineError{n, "no ':' between user name and password hash"}
		case user == "":
			return nil, &LineError{n, "empty user name"}
		case field == "":
			return nil, &LineError{n, fmt.Sprintf("user %q: empty password hash", user)}
		}
		if err := CheckUser(user); err != nil {
			return nil, &LineError{n, err.Error()}
		}
		if first, dup := seen[user]; dup {
			return nil, &LineError{n, fmt.Sprintf("user %q again (first on line %d)", user, first)}
		}
		seen[user] = n
		f.lines = append(f.lines, line{text: raw, user: user, field: field})
	}
	return f, nil
}

// CheckUser refuses a user name that cannot be written to a password file:
// empty, with a ':' or a control character (mosquitto_passwd's rules), or
// with blanks at either end (Mosquitto trims them when reading), or
// starting with '#' (a comment line).
func CheckUser(user string) error {
	switch {
	case user == "":
		return fmt.Errorf("empty user name")
	case len(user) > 65535:
		return fmt.Errorf("user name longer than 65535 bytes")
	case strings.ContainsRune(user, ':'):
		return fmt.Errorf("user name %q contains ':'", user)
	case strings.IndexFunc(user, unicode.IsControl) >= 0:
		return fmt.Errorf("user name %q contains a control character", user)
	case strings.TrimSpace(user) != user:
		return fmt.Errorf("user name %q starts or ends with a blank", user)
	case strings.HasPrefix(user, "#"):
		// Its line would read as a comment.
		return fmt.Errorf("user name %q starts with '#'", user)
	}
	return nil
}

// Entries lists the user lines in file order.
func (f *File) Entries() []Entry {
	var es []Entry
	for i, l := range f.lines {
		if l.user != "" {
			es = append(es, Entry{Line: i + 1, User: l.user, Field: l.field})
		}
	}
	return es
}

// Set gives user the field (an encoded hash), replacing their line in place
// or appending one.
func (f *File) Set(user, field string) {
	for i, l := range f.lines {
		if l.user == user {
			f.lines[i] = line{user: user, field: field}
			return
		}
	}
	f.lines = append(f.lines, line{user: user, field: field})
}

// Delete removes user's line and reports whether there was one.
func (f *File) Delete(user string) bool {
	for i, l := range f.lines {
		if l.user == user {
			f.lines = append(f.lines[:i], f.lines[i+1:]...)
			return true
		}
	}
	return false
}

// Bytes is the file's text: lines not edited as read, edited ones as
// `user:field`, each ending in "\n".
func (f *File) Bytes() []byte {
	var b bytes.Buffer
	for _, l := range f.lines {
		if l.text != "" {
			b.WriteString(l.text)
		} else if l.user != "" {
			b.WriteString(l.user + ":" + l.field)
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}
