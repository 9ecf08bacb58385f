package topics

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxLength is the longest topic name or filter in bytes [MQTT-4.7.3-3].
const MaxLength = 65535

// sharePrefix starts every shared-subscription filter [MQTT-4.8.2-1].
const sharePrefix = "$share/"

// Sentinel errors that callers may branch on with errors.Is. The errors returned by
// the validators wrap one of these and name the statement broken.
var (
	ErrEmpty            = errors.New("topic is empty")
	ErrTooLong          = errors.New("topic is longer than 65535 bytes")
	ErrInvalidUTF8      = errors.New("topic is not valid UTF-8")
	ErrNullCharacter    = errors.New("topic contains U+0000")
	ErrWildcardInName   = errors.New("topic name contains a wildcard")
	ErrMultiLevelWild   = errors.New("'#' must be the whole last level")
	ErrSingleLevelWild  = errors.New("'+' must be a whole level")
	ErrShareName        = errors.New("invalid shared subscription name")
	ErrSharedFilterMiss = errors.New("shared subscription has no topic filter")
)

// ValidateName reports whether topic may be used as the topic name of a PUBLISH (or a
// will). It returns nil, or an error that wraps one of the sentinel errors.
func ValidateName(topic string) error {
	if err := validateString(topic); err != nil {
		return err
	}
	// [MQTT-4.7.0-1] [MQTT-3.3.2-2] Wildcards are for filters only.
	if i := strings.IndexAny(topic, "+#"); i >= 0 {
		return fmt.Errorf("%w: %q at byte %d [MQTT-3.3.2-2]", ErrWildcardInName, topic[i], i)
	}
	return nil
}

// ValidateFilter reports whether filter may be subscribed to, shared-subscription
// syntax included. It returns nil, or an error that wraps one of the sentinel errors.
func ValidateFilter(filter string) error {
	if err := validateString(filter); err != nil {
		return err
	}
	_, inner, shared, err := ParseShared(filter)
	if err != nil {
		return err
	}
	if shared {
		if inner == "" {
			return fmt.Errorf("%w: %q [MQTT-4.8.2-2]", ErrSharedFilterMiss, filter)
		}
		filter = inner
	}
	return validateWildcards(filter)
}

// validateString checks the rules common to names and filters.
func validateString(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w [MQTT-4.7.3-1]", ErrEmpty)
	case len(s) > MaxLength:
		return fmt.Errorf("%w: %d bytes [MQTT-4.7.3-3]", ErrTooLong, len(s))
	case !utf8.ValidString(s):
		// utf8.ValidString also rejects the surrogates U+D800..U+DFFF [MQTT-1.5.4-1].
		return fmt.Errorf("%w [MQTT-1.5.4-1]", ErrInvalidUTF8)
	}
	if i := strings.IndexByte(s, 0); i >= 0 {
		return fmt.Errorf("%w at byte %d [MQTT-4.7.3-2]", ErrNullCharacter, i)
	}
	return nil
}

// validateWildcards checks where '+' and '#' stand in a (non-shared) filter.
func validateWildcards(filter string) error {
	for i := 0; i < len(filter); i++ {
		switch filter[i] {
		case '#':
			// [MQTT-4.7.1-1] '#' stands alone or after a '/', and is the last character.
			if (i > 0 && filter[i-1] != '/') || i != len(filter)-1 {
				return fmt.Errorf("%w: %q at byte %d [MQTT-4.7.1-1]", ErrMultiLevelWild, filter, i)
			}
		case '+':
			// [MQTT-4.7.1-2] '+' occupies an entire level.
			if (i > 0 && filter[i-1] != '/') || (i < len(filter)-1 && filter[i+1] != '/') {
				return fmt.Errorf("%w: %q at byte %d [MQTT-4.7.1-2]", ErrSingleLevelWild, filter, i)
			}
		}
	}
	return nil
}

// ParseShared splits a shared-subscription filter "$share/{group}/{filter}" into its
// group name and inner filter. For a filter that does not start with "$share/", ok is
// false and the filter is not otherwise checked. For a shared filter, err is set when
// the share name is empty [MQTT-4.8.2-1], contains '+' or '#', or is not followed by
// "/" [MQTT-4.8.2-2]. The inner filter is returned as is; ValidateFilter checks it.
func ParseShared(filter string) (group, inner string, ok bool, err error) {
	if !strings.HasPrefix(filter, sharePrefix) {
		return "", "", false, nil
	}
	rest := filter[len(sharePrefix):]
	slash := strings.IndexByte(rest, '/')
	if slash < 0 {
		// "$share/name" with no filter: the share name cannot be told from a filter.
		if i := strings.IndexAny(rest, "+#"); i >= 0 {
			return "", "", true, fmt.Errorf("%w: %q contains %q [MQTT-4.8.2-2]", ErrShareName, rest, rest[i])
		}
		// [MQTT-4.8.2-2] The share name must be followed by "/" and a topic filter.
		return "", "", true, fmt.Errorf("%w: %q [MQTT-4.8.2-2]", ErrSharedFilterMiss, filter)
	}
	group, inner = rest[:slash], rest[slash+1:]
	if group == "" {
		return "", "", true, fmt.Errorf("%w: empty share name in %q [MQTT-4.8.2-1]", ErrShareName, filter)
	}
	if i := strings.IndexAny(group, "+#"); i >= 0 {
		return "", "", true, fmt.Errorf("%w: %q contains %q [MQTT-4.8.2-2]", ErrShareName, group, group[i])
	}
	return group, inner, true, nil
}

// Levels returns the number of levels in a topic name or filter: one more than the
// number of '/' separators. The broker compares it with its maximum-levels limit; for a
// shared filter, pass the inner filter to count only the topic levels.
func Levels(s string) int {
	return strings.Count(s, "/") + 1
}
