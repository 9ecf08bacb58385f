package topics

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateNameRejectsWhatTheSpecForbids(t *testing.T) {
	tests := []struct {
		name  string
		topic string
		want  error // nil for a valid name
	}{
		{"plain", "a/b/c", nil},
		{"one level", "a", nil},
		{"separator only", "/", nil},
		{"leading and trailing separators", "/a/", nil},
		{"empty levels", "a//b", nil},
		{"dollar topic", "$SYS/broker/uptime", nil},
		{"spaces", "a b/ c", nil},
		{"non-ASCII", "日本/ü", nil},
		{"longest allowed [MQTT-4.7.3-3]", strings.Repeat("a", 65535), nil},
		{"empty [MQTT-4.7.3-1]", "", ErrEmpty},
		{"too long [MQTT-4.7.3-3]", strings.Repeat("a", 65536), ErrTooLong},
		{"null character [MQTT-4.7.3-2]", "a\x00b", ErrNullCharacter},
		{"ill-formed UTF-8 [MQTT-1.5.4-1]", "a\xffb", ErrInvalidUTF8},
		{"surrogate half [MQTT-1.5.4-1]", "a\xed\xa0\x80", ErrInvalidUTF8},
		{"plus [MQTT-3.3.2-2]", "a/+", ErrWildcardInName},
		{"hash [MQTT-3.3.2-2]", "a/#", ErrWildcardInName},
		{"wildcard inside a level [MQTT-4.7.0-1]", "a+b", ErrWildcardInName},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateName(tc.topic)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("ValidateName: %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("ValidateName: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestValidateFilterRejectsWhatTheSpecForbids(t *testing.T) {
	tests := []struct {
		name   string
		filter string
		want   error // nil for a valid filter
	}{
		{"plain", "a/b", nil},
		{"hash alone [MQTT-4.7.1-1]", "#", nil},
		{"hash last after separator [MQTT-4.7.1-1]", "sport/tennis/#", nil},
		{"hash after empty level", "/#", nil},
		{"plus alone [MQTT-4.7.1-2]", "+", nil},
		{"plus levels [MQTT-4.7.1-2]", "+/tennis/+", nil},
		{"plus then hash", "+/#", nil},
		{"plus with empty levels", "/+/", nil},
		{"separator only", "/", nil},
		{"dollar filter", "$SYS/#", nil},
		{"longest allowed", strings.Repeat("a", 65535), nil},
		{"empty [MQTT-4.7.3-1]", "", ErrEmpty},
		{"too long [MQTT-4.7.3-3]", strings.Repeat("a", 65536), ErrTooLong},
		{"null character [MQTT-4.7.3-2]", "a/\x00", ErrNullCharacter},
		{"ill-formed UTF-8 [MQTT-1.5.4-1]", "\xc3", ErrInvalidUTF8},
		{"hash not last [MQTT-4.7.1-1]", "sport/#/ranking", ErrMultiLevelWild},
		{"hash inside a level [MQTT-4.7.1-1]", "sport#", ErrMultiLevelWild},
		{"hash then separator [MQTT-4.7.1-1]", "#/", ErrMultiLevelWild},
		{"two hashes [MQTT-4.7.1-1]", "##", ErrMultiLevelWild},
		{"hash before a level [MQTT-4.7.1-1]", "a/#b", ErrMultiLevelWild},
		{"plus inside a level [MQTT-4.7.1-2]", "sport+", ErrSingleLevelWild},
		{"plus before text [MQTT-4.7.1-2]", "sport/+tennis", ErrSingleLevelWild},
		{"two pluses [MQTT-4.7.1-2]", "++", ErrSingleLevelWild},
		{"plus then hash in a level [MQTT-4.7.1-2]", "+#", ErrSingleLevelWild},
		{"shared [MQTT-4.8.2-1]", "$share/group/a/+", nil},
		{"shared hash", "$share/g/#", nil},
		{"shared dollar filter", "$share/g/$SYS/x", nil},
		{"shared empty share name [MQTT-4.8.2-1]", "$share//a", ErrShareName},
		{"shared name with plus [MQTT-4.8.2-2]", "$share/g+/a", ErrShareName},
		{"shared name with hash [MQTT-4.8.2-2]", "$share/#/a", ErrShareName},
		{"shared name alone [MQTT-4.8.2-2]", "$share/g", ErrSharedFilterMiss},
		{"shared name wildcard alone [MQTT-4.8.2-2]", "$share/#", ErrShareName},
		{"shared empty filter [MQTT-4.8.2-2]", "$share/g/", ErrSharedFilterMiss},
		{"shared bad inner filter [MQTT-4.7.1-1]", "$share/g/a/#/b", ErrMultiLevelWild},
		{"shared bad inner plus [MQTT-4.7.1-2]", "$share/g/a+", ErrSingleLevelWild},
		{"not shared without the slash", "$share", nil},
		{"not shared with another prefix", "$sharex/g/a", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateFilter(tc.filter)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("ValidateFilter(%q): %v, want nil", tc.filter, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("ValidateFilter(%q): %v, want %v", tc.filter, err, tc.want)
			}
		})
	}
}

func TestValidateErrorsNameTheStatement(t *testing.T) {
	for in, id := range map[string]string{
		"a/#/b": "[MQTT-4.7.1-1]",
		"a+":    "[MQTT-4.7.1-2]",
		"":      "[MQTT-4.7.3-1]",
		"a\x00": "[MQTT-4.7.3-2]",
	} {
		if err := ValidateFilter(in); err == nil || !strings.Contains(err.Error(), id) {
			t.Errorf("ValidateFilter(%q) = %v, want it to name %s", in, err, id)
		}
	}
}

func TestParseSharedSplitsGroupAndFilter(t *testing.T) {
	tests := []struct {
		filter        string
		group, inner  string
		shared, isErr bool
	}{
		{"a/b", "", "", false, false},
		{"#", "", "", false, false},
		{"$SYS/#", "", "", false, false},
		{"$share", "", "", false, false},
		{"$share/g/a/b", "g", "a/b", true, false},
		{"$share/g/#", "g", "#", true, false},
		{"$share/group-1/+/x/", "group-1", "+/x/", true, false},
		{"$share/g//", "g", "/", true, false},
		{"$share//a", "", "", true, true},   // [MQTT-4.8.2-1]
		{"$share/a+/b", "", "", true, true}, // [MQTT-4.8.2-2]
		{"$share/a#/b", "", "", true, true}, // [MQTT-4.8.2-2]
		{"$share/g", "", "", true, true},    // [MQTT-4.8.2-2]
		{"$share/", "", "", true, true},     // [MQTT-4.8.2-1]
	}
	for _, tc := range tests {
		group, inner, shared, err := ParseShared(tc.filter)
		if group != tc.group || inner != tc.inner || shared != tc.shared || (err != nil) != tc.isErr {
			t.Errorf("ParseShared(%q) = %q, %q, %v, %v; want %q, %q, %v, error %v",
				tc.filter, group, inner, shared, err, tc.group, tc.inner, tc.shared, tc.isErr)
		}
	}
}

func TestLevelsCountsSeparatorsPlusOne(t *testing.T) {
	for in, want := range map[string]int{"a": 1, "a/b": 2, "/": 2, "a/b/": 3, "//": 3, "#": 1, "": 1} {
		if got := Levels(in); got != want {
			t.Errorf("Levels(%q) = %d, want %d", in, got, want)
		}
	}
}
