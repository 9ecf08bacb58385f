package config

import (
	"strings"
	"testing"
)

// yaml.v3 counts lines from 0 in its marks and adds 1 only for its
// scanner's errors, so each parser error read one line early ("a YAML error
// on line 16 is reported as 15", issue 12); on the first line, and for an
// unknown anchor, it printed no line at all. Each kind of error is here
// with the line a reader would point at.
func TestSyntaxErrorsNameTheRightLine(t *testing.T) {
	comments := strings.Repeat("# a comment\n", 13) // the error below lands on line 16
	for _, tc := range []struct{ name, yaml, want string }{
		{"parser: a key indented out of its mapping", comments + "log:\n  level: info\n format: json\n", "line 16: did not find expected key"},
		{"parser: deep in a chain entry", "plugins:\n  chain:\n    - name: a\n      path: a.wasm\n     call_timeout: 1s\n", "line 5: did not find expected '-' indicator"},
		{"parser: a key in a list", "listeners:\n  - address: :1883\n  type: tcp\n", "line 3: did not find expected '-' indicator"},
		{"parser: a flow list not closed (its line)", "log: {level: info}\nlisteners: [a, b\nstore: {}\n", "line 2: did not find expected ',' or ']'"},
		{"parser: on the first line", "log: {level: info\n", "line 1: did not find expected ',' or '}'"},
		{"parser: undefined tag handle", "log: !x!y info\n", "line 1: found undefined tag handle"},
		{"scanner: a tab", "log:\n\tlevel: info\n", "line 2: found character that cannot start any token"},
		{"scanner: a value after a value", "log:\n  level: info: debug\n", "line 2: mapping values are not allowed in this context"},
		{"scanner: on the first line", "log: @x\n", "line 1: found character that cannot start any token"},
		{"scanner: a quote not closed", "log:\n  level: \"info\n", "line 2: found unexpected end of stream"},
		{"an unknown anchor", "log: {level: info}\nlimits: *nope\n", "line 2: unknown anchor 'nope' referenced"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.yaml))
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error\n  %v\nwant\n  %s", err, tc.want)
			}
		})
	}
}

// Parse reports every problem, not only the first: unknown keys and bad
// values across sections, and the rules of every listener and chain entry,
// each with its own line.
func TestParseReportsEveryError(t *testing.T) {
	const yaml = `log:
  levle: info
limits:
  max_qos: two
listeners:
  - name: a
    address: :1883
    path: /mqtt
  - name: b
    type: tls
    address: :8883
plugins:
  chain:
    - name: x
      path: x.wasm
      call_timout: 1s
    - name: y
      path: y.wasm
      call_timeout: -1s
`
	_, err := Parse(strings.NewReader(yaml))
	want := []string{
		`line 2: log: unknown key "levle"; did you mean level?`,
		`line 4: limits.max_qos: "two" is not a whole number from 0 to 255`,
		`line 16: plugins.chain[0]: unknown key "call_timout"; did you mean call_timeout?`,
		`line 8: listeners[0].path: only for types ws and wss (this listener is tcp)`,
		`line 9: listeners[1].cert_file: required for type tls`,
		`line 19: plugins.chain[1].call_timeout: must not be negative (use 0 for the default)`,
	}
	if err == nil {
		t.Fatal("no error")
	}
	got := strings.Split(err.Error(), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("errors\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// A misspelt key gets the nearest key of its own level when it is within
// two edits, and no guess when none is.
func TestUnknownKeySuggestsTheNearest(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"plugins:\n  chain:\n    - {name: a, path: a.wasm, call_timout: 1s}\n", "did you mean call_timeout?"},
		{"limits:\n  max_inflihgt: 3\n", "did you mean max_inflight?"},
		{"sys_intervall: 5s\n", "did you mean sys_interval?"},
		{"listeners:\n  - {adress: ':1883'}\n", "did you mean address?"},
		{"log:\n  colour: true\n", `unknown key "colour"`},
	} {
		_, err := Parse(strings.NewReader(tc.yaml))
		if err == nil || !strings.HasSuffix(err.Error(), tc.want) {
			t.Errorf("%q: %v, want it to end %q", tc.yaml, err, tc.want)
		}
		if strings.Contains(tc.want, "colour") && strings.Contains(err.Error(), "did you mean") {
			t.Errorf("%q: %v guesses a key three edits away", tc.yaml, err)
		}
	}
}
