package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// go test -json output is counted per test and printed as plain go test
// would (a failing test's output, the package lines); the conformance
// suite's count line, known deviations included, is read as counts; the
// table ends the run and fails it when a stage failed or never reported.
func TestSummaryCountsAndFailsOnlyOnTheUnexpected(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}`,
		`{"Action":"pass","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:3: broken\n"}`,
		`{"Action":"fail","Package":"p","Test":"TestB"}`,
		`{"Action":"skip","Package":"p","Test":"TestC"}`,
		`{"Action":"output","Package":"p","Output":"FAIL\tp\t0.1s\n"}`,
		`EXPECTED 5.0 MQTT-3.3.4-9 a deviation`,
		`300 passed, 0 failed, 11 expected (known deviations, x.expect-fail), 69 skipped`,
	}, "\n")
	var out bytes.Buffer
	c := summarize(strings.NewReader(in), &out)
	if c.Passed != 301 || c.Failed != 1 || c.Skipped != 70 || c.Expected != 11 {
		t.Errorf("counts %+v", c)
	}
	if got := out.String(); strings.Contains(got, "=== RUN") || !strings.Contains(got, "broken") || !strings.Contains(got, "FAIL\tp") {
		t.Errorf("output:\n%s", got)
	}

	file := filepath.Join(t.TempDir(), "summary.jsonl")
	for _, c := range []counts{{Stage: "unit", Passed: 3}, {Stage: "unit", Passed: 2, Skipped: 1}, {Stage: "mosquitto", Passed: 300, Expected: 11}} {
		if err := appendCounts(file, c); err != nil {
			t.Fatal(err)
		}
	}
	var table bytes.Buffer
	if code := printSummary([]string{"-file", file, "unit", "mosquitto"}, &table); code != 0 || !strings.Contains(table.String(), "unit                       ok             5       0        1         0") {
		t.Errorf("exit %d, table:\n%s", code, table.String())
	}
	if strings.Contains(table.String(), "FAIL") {
		t.Errorf("a FAIL in a passing summary:\n%s", table.String())
	}
	table.Reset()
	if code := printSummary([]string{"-file", file, "unit", "race"}, &table); code != 1 || !strings.Contains(table.String(), "race                       NOT RUN") {
		t.Errorf("a stage that never reported: exit %d, table:\n%s", code, table.String())
	}
	_ = appendCounts(file, counts{Stage: "unit", Failed: 1, Exit: 1})
	table.Reset()
	if code := printSummary([]string{"-file", file, "unit"}, &table); code != 1 {
		t.Errorf("a failed stage: exit %d, table:\n%s", code, table.String())
	}
	_ = os.Remove(file)
}

// A package that times out ends no test: the output of the tests still
// running (where go test puts the timeout panic) is printed, and the
// package counts as a failure.
func TestATimedOutPackageShowsItsPanicAndFails(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"run","Package":"p","Test":"TestSlow"}`,
		`{"Action":"output","Package":"p","Test":"TestSlow","Output":"=== RUN   TestSlow\n"}`,
		`{"Action":"output","Package":"p","Test":"TestSlow","Output":"panic: test timed out after 10m0s\n"}`,
		`{"Action":"output","Package":"p","Output":"FAIL\tp\t600.1s\n"}`,
		`{"Action":"fail","Package":"p","Elapsed":600.1}`,
	}, "\n")
	var out bytes.Buffer
	c := summarize(strings.NewReader(in), &out)
	if c.Failed != 1 {
		t.Errorf("counts %+v, want the package's failure", c)
	}
	if !strings.Contains(out.String(), "panic: test timed out") {
		t.Errorf("output without the panic:\n%s", out.String())
	}
}
