// Package subject is Plume's reversible encoding of MQTT topic names and
// filters as NATS subjects (decision 0052).
//
// An MQTT topic level may be empty and may hold any UTF-8 but U+0000: '.',
// '*', '>', spaces, '$'. A NATS token may be none of that: it is not empty
// and holds no '.', '*', '>' or whitespace, and '*' and '>' as whole tokens
// are wildcards. So each level becomes one token: the printable ASCII bytes
// other than '.', '*', '>' and '%' are kept, every other byte is written
// "%XX" (two upper-case hex digits), and an empty level is the token "%".
// Decoding is strict (upper-case hex, only the bytes that must be escaped),
// so that the encoding is a bijection between topics and the subjects it
// makes: two topics are equal exactly when their subjects are.
//
// Topics sit under prefix + ".t" and topics that start with '$' under
// prefix + ".s": a filter whose first level is a wildcard becomes a subject
// under ".t" only, so that it never matches a '$' topic, as in MQTT
// [MQTT-4.7.2-1]. A filter becomes one subject, or two when it ends in "#"
// after a level: "a/#" matches "a" as well as what lies below it
// [MQTT-4.7.1-1], so it is "P.t.a" and "P.t.a.>". The two never match the
// same subject, so a message matches each filter's subjects at most once.
package subject

import (
	"errors"
	"fmt"
	"strings"
)

// MaxLength is the longest subject this package makes, in bytes. nats-server
// reads a protocol line of at most 4096 bytes by default (max_control_line),
// and the line holds more than the subject (sid, reply, size; an account and
// queue names between servers). A topic whose subject would be longer cannot
// cross between nodes (ErrTooLong).
const MaxLength = 2048

// Errors that callers may test with errors.Is.
var (
	ErrTooLong   = errors.New("subject longer than subject.MaxLength")
	ErrNotOurs   = errors.New("subject is not under the prefix")
	ErrMalformed = errors.New("malformed subject token")
	ErrPrefix    = errors.New("invalid subject prefix")
)

// The namespaces under the prefix: ordinary topics, and topics starting with '$'.
const (
	nsTopic  = "t"
	nsDollar = "s"
)

// Codec encodes under one prefix. The zero value is not usable; call New.
type Codec struct {
	prefix string // as given, e.g. "plume.m"
	topic  string // prefix + ".t."
	dollar string // prefix + ".s."
}

// New returns a Codec for prefix, a literal NATS subject of one or more
// tokens (no wildcards, no empty tokens, no whitespace).
func New(prefix string) (*Codec, error) {
	if prefix == "" {
		return nil, fmt.Errorf("%w: empty", ErrPrefix)
	}
	for _, tok := range strings.Split(prefix, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n*>") {
			return nil, fmt.Errorf("%w: %q", ErrPrefix, prefix)
		}
	}
	return &Codec{prefix: prefix, topic: prefix + "." + nsTopic + ".", dollar: prefix + "." + nsDollar + "."}, nil
}

// Prefix returns the prefix the Codec was made with.
func (c *Codec) Prefix() string { return c.prefix }

// All returns the subject that matches every topic the Codec encodes, '$'
// topics included.
func (c *Codec) All() string { return c.prefix + ".>" }

// keep reports whether byte b stands for itself in a token.
func keep(b byte) bool {
	return b > ' ' && b < 0x7f && b != '.' && b != '*' && b != '>' && b != '%'
}

const hexDigits = "0123456789ABCDEF"

// appendToken appends level as one token.
func appendToken(dst []byte, level string) []byte {
	if level == "" {
		return append(dst, '%')
	}
	for i := 0; i < len(level); i++ {
		b := level[i]
		if keep(b) {
			dst = append(dst, b)
		} else {
			dst = append(dst, '%', hexDigits[b>>4], hexDigits[b&15])
		}
	}
	return dst
}

// Topic returns the subject of topic, a valid MQTT topic name.
func (c *Codec) Topic(topic string) (string, error) {
	buf, err := c.AppendTopic(make([]byte, 0, len(c.topic)+len(topic)+8), topic)
	if err != nil {
		return "", err
	}
	return string(buf), nil
}

// AppendTopic appends the subject of topic to dst.
func (c *Codec) AppendTopic(dst []byte, topic string) ([]byte, error) {
	start := len(dst)
	if strings.HasPrefix(topic, "$") {
		dst = append(dst, c.dollar...)
	} else {
		dst = append(dst, c.topic...)
	}
	for i := 0; ; {
		j := strings.IndexByte(topic[i:], '/')
		if j < 0 {
			dst = appendToken(dst, topic[i:])
			break
		}
		dst = appendToken(dst, topic[i:i+j])
		dst = append(dst, '.')
		i += j + 1
	}
	if len(dst)-start > MaxLength {
		return dst[:start], fmt.Errorf("%w: topic of %d bytes", ErrTooLong, len(topic))
	}
	return dst, nil
}

// Filter returns the subjects that together match what filter matches; filter
// is a valid MQTT topic filter without "$share/{name}/". It returns one subject,
// or two for a filter ending in "/#".
func (c *Codec) Filter(filter string) ([]string, error) {
	ns := c.topic
	if strings.HasPrefix(filter, "$") {
		ns = c.dollar
	}
	if filter == "#" {
		return []string{ns + ">"}, nil
	}
	buf := make([]byte, 0, len(ns)+len(filter)+8)
	buf = append(buf, ns...)
	for i := 0; ; {
		j := strings.IndexByte(filter[i:], '/')
		level := filter[i:]
		if j >= 0 {
			level = filter[i : i+j]
		}
		switch level {
		case "+":
			buf = append(buf, '*')
		case "#":
			// "a/#": "a" itself and everything below it [MQTT-4.7.1-1].
			parent := buf[:len(buf)-1] // without the '.' before "#"
			if len(buf) > MaxLength {
				return nil, fmt.Errorf("%w: filter of %d bytes", ErrTooLong, len(filter))
			}
			return []string{string(parent), string(buf) + ">"}, nil
		default:
			buf = appendToken(buf, level)
		}
		if j < 0 {
			break
		}
		buf = append(buf, '.')
		i += j + 1
	}
	if len(buf) > MaxLength {
		return nil, fmt.Errorf("%w: filter of %d bytes", ErrTooLong, len(filter))
	}
	return []string{string(buf)}, nil
}

// Decode returns the topic whose subject is s. It fails for a subject that
// Topic would not have made: another prefix, a wildcard, a malformed token.
func (c *Codec) Decode(s string) (string, error) {
	var rest string
	var dollar bool
	switch {
	case strings.HasPrefix(s, c.topic):
		rest = s[len(c.topic):]
	case strings.HasPrefix(s, c.dollar):
		rest, dollar = s[len(c.dollar):], true
	default:
		return "", fmt.Errorf("%w: %q", ErrNotOurs, s)
	}
	out := make([]byte, 0, len(rest))
	for i := 0; ; {
		j := strings.IndexByte(rest[i:], '.')
		tok := rest[i:]
		if j >= 0 {
			tok = rest[i : i+j]
		}
		var err error
		if out, err = appendLevel(out, tok); err != nil {
			return "", err
		}
		if j < 0 {
			break
		}
		out = append(out, '/')
		i += j + 1
	}
	if (len(out) > 0 && out[0] == '$') != dollar {
		return "", fmt.Errorf("%w: namespace does not match %q", ErrMalformed, s)
	}
	return string(out), nil
}

// appendLevel appends the level that tok encodes.
func appendLevel(dst []byte, tok string) ([]byte, error) {
	if tok == "%" {
		return dst, nil
	}
	if tok == "" {
		return nil, fmt.Errorf("%w: empty token", ErrMalformed)
	}
	for i := 0; i < len(tok); i++ {
		b := tok[i]
		if b != '%' {
			if !keep(b) {
				return nil, fmt.Errorf("%w: byte %#x in %q", ErrMalformed, b, tok)
			}
			dst = append(dst, b)
			continue
		}
		if i+2 >= len(tok) {
			return nil, fmt.Errorf("%w: short escape in %q", ErrMalformed, tok)
		}
		h, l := unhex(tok[i+1]), unhex(tok[i+2])
		v := byte(h<<4 | l)
		if h < 0 || l < 0 || keep(v) || v == 0 {
			// Only the bytes that must be escaped are, and U+0000 is no topic's [MQTT-4.7.3-2].
			return nil, fmt.Errorf("%w: escape %q in %q", ErrMalformed, tok[i:i+3], tok)
		}
		dst = append(dst, v)
		i += 2
	}
	return dst, nil
}

func unhex(b byte) int {
	switch {
	case b >= '0' && b <= '9':
		return int(b - '0')
	case b >= 'A' && b <= 'F':
		return int(b-'A') + 10
	}
	return -1
}

// Token returns s as one NATS token, encoded as a topic level is: for names
// that are not topics, such as a shared subscription's group.
func Token(s string) string { return string(appendToken(nil, s)) }

// Queue returns the NATS queue group name of the shared subscription
// "$share/{name}/{filter}": the name and every level of the filter as tokens
// ('+' and '#' are kept: in a queue name they are not wildcards). Two shared
// subscriptions with one name and different filters are different groups
// (MQTT 5.0 §4.8.2), and NATS merges queue subscriptions by name alone.
func Queue(name, filter string) string {
	buf := appendToken(make([]byte, 0, len(name)+len(filter)+8), name)
	for i := 0; ; {
		buf = append(buf, '.')
		j := strings.IndexByte(filter[i:], '/')
		if j < 0 {
			return string(appendToken(buf, filter[i:]))
		}
		buf = appendToken(buf, filter[i:i+j])
		i += j + 1
	}
}
