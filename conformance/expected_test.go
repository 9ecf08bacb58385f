package conformance

import (
	"bytes"
	"strings"
	"testing"
)

// A failure the broker's expect-fail list names is a documented deviation:
// it prints EXPECTED, so that `make test` shows no FAIL line for
// Mosquitto's known deviations (issue 12), and an unlisted one still FAIL.
func TestKnownDeviationsPrintAsExpected(t *testing.T) {
	vs := []Verdict{
		{Statement: Statement{ID: "MQTT-1", Version: 5}, Status: Fail, Detail: "listed"},
		{Statement: Statement{ID: "MQTT-2", Version: 5}, Status: Fail, Detail: "not listed"},
		{Statement: Statement{ID: "MQTT-3", Version: 5}, Status: Pass},
	}
	var b bytes.Buffer
	writeVerdicts(&b, vs, map[string]bool{key(5, "MQTT-1"): true})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "EXPECTED 5.0") || !strings.HasPrefix(lines[1], "FAIL 5.0") || !strings.HasPrefix(lines[2], "PASS") {
		t.Fatalf("verdict lines:\n%s", b.String())
	}
}
