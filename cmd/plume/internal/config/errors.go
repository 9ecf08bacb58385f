package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is one problem in the file: where (its line, 0 when unknown, and
// the key path as the user wrote it) and what. Parse returns them joined
// (errors.Join), every one it found; Errors splits them again.
type Error struct {
	File string // set by Load
	Line int
	Key  string // "plugins.chain[0].call_timeout"; "" for the file's syntax
	Err  error
}

// Error reads "FILE:LINE: KEY: message" (the form compilers use, which
// editors jump to), or "line LINE: KEY: message" without a file.
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		b.WriteString(e.File + ": ")
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Errors is every problem err holds, in order: the joined errors of
// Parse, Load or Validate one by one.
func Errors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var all []error
		for _, e := range j.Unwrap() {
			all = append(all, Errors(e)...)
		}
		return all
	}
	return []error{err}
}

// errorf is an *Error at line about key.
func errorf(line int, key, format string, args ...any) *Error {
	return &Error{Line: line, Key: key, Err: fmt.Errorf(format, args...)}
}

// unknownKey is the error for key, not one of known, at path: with "did
// you mean" the nearest known key when it is within two edits.
func unknownKey(line int, path, key string, known map[string]bool) *Error {
	names := make([]string, 0, len(known))
	for k := range known {
		names = append(names, k)
	}
	sort.Strings(names) // ties go to the first in order, every time
	best, bestDist := "", 3
	for _, k := range names {
		if d := EditDistance(key, k); d < bestDist {
			best, bestDist = k, d
		}
	}
	msg := fmt.Sprintf("unknown key %q", key)
	if best != "" {
		msg += "; did you mean " + best + "?"
	}
	return errorf(line, path, "%s", msg)
}

// EditDistance is the Levenshtein distance between a and b (bytes): how
// near a misspelt key, command or flag is to a known one.
func EditDistance(a, b string) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// parserProblems are the messages of yaml.v3's parser (parserc.go), as
// opposed to its scanner's (scannerc.go): the two count lines differently.
var parserProblems = []string{
	"did not find expected ',' or ']'", "did not find expected ',' or '}'",
	"did not find expected <document start>", "did not find expected <stream-start>",
	"did not find expected key", "did not find expected node content",
	"did not find expected '-' indicator", "found duplicate %YAML directive",
	"found duplicate %TAG directive", "found incompatible YAML document", "found undefined tag handle",
}

var (
	yamlLine      = regexp.MustCompile(`^line (\d+): (.*)$`)
	unknownAnchor = regexp.MustCompile(`^unknown anchor '([^']*)' referenced$`)
)

// syntaxError words a yaml.v3 syntax error with the right line. yaml.v3's
// marks count lines from 0; its message adds 1 for a scanner error but not
// for a parser error, which it so reports a line early ("did not find
// expected key" on line 16 read "line 15"). A mark on the first line prints
// no line at all, and an unknown anchor never has one.
func syntaxError(err error, data []byte) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	isParser := false
	for _, p := range parserProblems {
		if msg == p {
			isParser = true
		}
	}
	switch {
	case isParser:
		// The mark printed is the enclosing mapping's or list's start, or
		// else the problem's; the problem's own line is the first that
		// makes the file break so.
		line = problemLine(data, msg, line+1)
	case line == 0 && unknownAnchor.MatchString(msg):
		line = lineOfAlias(data, unknownAnchor.FindStringSubmatch(msg)[1])
	case line == 0 && !strings.Contains(msg, "\n") && !strings.HasPrefix(msg, "unmarshal errors"):
		if isScannerProblem(msg) {
			line = 1
		}
	}
	return &Error{Line: line, Err: errors.New(msg)}
}

// maxProbedLines bounds the lines problemLine reparses the file for.
const maxProbedLines = 5000

// problemLine is the first line at which data, cut after it, fails to parse
// with msg: where the parser met the problem. yaml.v3 keeps the mark of
// the problem to itself. Without one, it is fallback.
func problemLine(data []byte, msg string, fallback int) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) > maxProbedLines {
		return fallback
	}
	var prefix []byte
	for i, l := range lines {
		prefix = append(prefix, l...)
		var n yaml.Node
		err := yaml.Unmarshal(prefix, &n)
		if err == nil {
			continue
		}
		got := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLine.FindStringSubmatch(got); m != nil {
			got = m[2]
		}
		if got == msg {
			return i + 1
		}
	}
	return fallback
}

// isScannerProblem reports whether msg is one of the scanner's, whose line
// is printed unless it is the first.
func isScannerProblem(msg string) bool {
	for _, p := range []string{"found ", "did not find ", "could not find ", "mapping ", "block sequence ", "exceeded max depth"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// lineOfAlias is the line of the first "*name" in data, or 0.
func lineOfAlias(data []byte, name string) int {
	re := regexp.MustCompile(`\*` + regexp.QuoteMeta(name) + `(?:[\s,\]}]|$)`)
	loc := re.FindIndex(data)
	if loc == nil {
		return 0
	}
	return 1 + strings.Count(string(data[:loc[0]]), "\n")
}

// At is err about key (a path like plugins.chain[0]) of the file at path,
// as an *Error with the line the key is written on: for what only running
// the config finds (a module that does not load, a port taken).
func At(path, key string, err error) error {
	e := &Error{File: path, Key: key, Err: err}
	data, rerr := os.ReadFile(path)
	if rerr != nil {
		return e
	}
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return e
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		doc = doc.Content[0]
	}
	e.Line = lineOf(doc, key)
	return e
}
