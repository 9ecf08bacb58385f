package conformance

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMainWithoutBrokerIsAUsageError checks the exit status people script
// against.
func TestMainWithoutBrokerIsAUsageError(t *testing.T) {
	var out, errb strings.Builder
	if code := Main(nil, &out, &errb); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if !strings.Contains(errb.String(), "--broker") {
		t.Errorf("usage does not mention --broker: %q", errb.String())
	}
}

// TestListPrintsCoverage checks the catalogue listing and its counts.
func TestListPrintsCoverage(t *testing.T) {
	var out strings.Builder
	if code := Main([]string{"list"}, &out, &out); code != 0 {
		t.Fatalf("exit %d", code)
	}
	s := out.String()
	for _, want := range []string{"MQTT-3.1.0-1", "MQTT 5.0: ", "MQTT 3.1.1: ", "not testable"} {
		if !strings.Contains(s, want) {
			t.Errorf("list output lacks %q", want)
		}
	}
}

// TestReportHasARowPerStatementAndAColumnPerBroker merges a results file
// into the markdown report.
func TestReportHasARowPerStatementAndAColumnPerBroker(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "m.json")
	rf := RunFile{Results: []Result{
		{Statement: "MQTT-3.1.0-1", Version: 5, Test: "FirstPacketMustBeConnect", Status: Pass},
		{Statement: "MQTT-3.3.1-4", Version: 5, Test: "QoS3PublishRefused", Status: Fail, Detail: "still open | oops"},
	}}
	b, _ := json.Marshal(rf)
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "report.md")
	var errb strings.Builder
	if code := Main([]string{"report", "--out", out, "Plume=", "Mosquitto=" + file}, &errb, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	md, _ := os.ReadFile(out)
	s := string(md)
	rows := 0
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "| MQTT-") {
			rows++
		}
	}
	if rows != len(Statements()) {
		t.Errorf("%d statement rows, want %d", rows, len(Statements()))
	}
	for _, want := range []string{"| Plume | Mosquitto |", "| MQTT-3.1.0-1 | the first packet from the Client is CONNECT |  | pass |",
		"**fail**: QoS3PublishRefused: still open \\| oops"} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}
