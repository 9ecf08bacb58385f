// Command testsummary gives `make test` one summary of what ran. Each stage
// of the Makefile runs through it:
//
//	go run ./internal/testsummary run -stage NAME -file SUMMARY -- COMMAND...
//
// which runs COMMAND, passes its output on, and appends the stage's counts
// to SUMMARY. `go test -json` output is read event by event: a package's
// lines and a failing test's output are printed, passing tests are counted
// (as plain `go test` prints them); other lines are printed as they are and
// read for the conformance suite's count line ("N passed, N failed, N
// expected (known deviations, …), N skipped") and the churn suite's known
// deviations. At the end,
//
//	go run ./internal/testsummary print -file SUMMARY STAGE...
//
// prints one table and exits 1 if a stage failed or never reported.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: testsummary run -stage NAME [-file SUMMARY] -- COMMAND... | print -file SUMMARY STAGE...")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "run":
		os.Exit(runStage(os.Args[2:]))
	case "print":
		os.Exit(printSummary(os.Args[2:], os.Stdout))
	}
	fmt.Fprintf(os.Stderr, "testsummary: unknown command %q\n", os.Args[1])
	os.Exit(2)
}

// counts is what one stage ran.
type counts struct {
	Stage                             string
	Passed, Failed, Skipped, Expected int
	Exit                              int
}

func runStage(args []string) int {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	stage := fs.String("stage", "", "the stage's name")
	file := fs.String("file", os.Getenv("TEST_SUMMARY"), "append the counts to this file (none: only run)")
	_ = fs.Parse(args)
	cmdArgs := fs.Args()
	if len(cmdArgs) == 0 {
		fmt.Fprintln(os.Stderr, "testsummary run: no command")
		return 2
	}
	cmd := exec.Command(cmdArgs[0], cmdArgs[1:]...)
	cmd.Stdin, cmd.Stderr = os.Stdin, os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		return 2
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		return 2
	}
	c := summarize(out, os.Stdout)
	c.Stage = *stage
	if err := cmd.Wait(); err != nil {
		var ee *exec.ExitError
		c.Exit = 1
		if errors.As(err, &ee) {
			c.Exit = ee.ExitCode()
		}
	}
	if *file != "" {
		if err := appendCounts(*file, c); err != nil {
			fmt.Fprintln(os.Stderr, "testsummary:", err)
			return 2
		}
	}
	return c.Exit
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

var (
	conformanceCounts = regexp.MustCompile(`^(\d+) passed, (\d+) failed, (?:(\d+) expected .*, )?(\d+) skipped$`)
	transportCounts   = regexp.MustCompile(`: (\d+) tests passed, (\d+) skipped, (\d+) failed$`)
)

// summarize passes r's output on to w, shortened as plain `go test` prints
// it, and counts what ran.
func summarize(r io.Reader, w io.Writer) counts {
	var c counts
	held := map[string][]string{} // a running test's output, printed if it fails
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		var ev event
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &ev) == nil && ev.Action != "" {
			goTestEvent(&c, held, ev, w)
			continue
		}
		fmt.Fprintln(w, line)
		countLine(&c, line)
	}
	return c
}

func goTestEvent(c *counts, held map[string][]string, ev event, w io.Writer) {
	id := ev.Package + " " + ev.Test
	switch {
	case ev.Test == "" && ev.Action == "output":
		if o := strings.TrimSpace(ev.Output); o != "PASS" && o != "FAIL" && !strings.HasPrefix(o, "=== ") {
			fmt.Fprint(w, ev.Output)
		}
	case ev.Test == "" && ev.Action == "build-output":
		fmt.Fprint(w, ev.Output)
	case ev.Test == "" && ev.Action == "fail":
		// A package that fails with tests still running (the -timeout
		// panic, a crash) ends none of them: print what they wrote, the
		// panic's goroutine dump included, and count the package's failure.
		prefix := ev.Package + " "
		var running []string
		for id := range held {
			if strings.HasPrefix(id, prefix) {
				running = append(running, id)
			}
		}
		slices.Sort(running)
		for _, id := range running {
			fmt.Fprint(w, strings.Join(held[id], ""))
			delete(held, id)
		}
		if len(running) > 0 {
			c.Failed++
		}
	case ev.Test == "":
	case ev.Action == "output":
		held[id] = append(held[id], ev.Output)
		if strings.Contains(ev.Output, "known deviation of the reference broker") {
			c.Expected++
		}
	case ev.Action == "pass":
		c.Passed++
		delete(held, id)
	case ev.Action == "skip":
		c.Skipped++
		delete(held, id)
	case ev.Action == "fail":
		c.Failed++
		fmt.Fprint(w, strings.Join(held[id], ""))
		delete(held, id)
	}
}

// countLine reads the counts the conformance suite and the transports
// script print.
func countLine(c *counts, line string) {
	if m := conformanceCounts.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
		c.Passed += atoi(m[1])
		c.Failed += atoi(m[2])
		c.Expected += atoi(m[3])
		c.Skipped += atoi(m[4])
	}
	if m := transportCounts.FindStringSubmatch(line); m != nil {
		c.Passed += atoi(m[1])
		c.Skipped += atoi(m[2])
		c.Failed += atoi(m[3])
	}
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

func appendCounts(file string, c counts) error {
	f, err := os.OpenFile(file, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	b, err := json.Marshal(c)
	if err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// printSummary prints the table of the stages in file, in the order named,
// and returns 1 if one failed or is missing.
func printSummary(args []string, w io.Writer) int {
	fs := flag.NewFlagSet("print", flag.ExitOnError)
	file := fs.String("file", os.Getenv("TEST_SUMMARY"), "the file the stages appended to")
	_ = fs.Parse(args)
	got := map[string]counts{}
	if data, err := os.ReadFile(*file); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			var c counts
			if json.Unmarshal([]byte(line), &c) == nil { // a stage may run several commands
				g := got[c.Stage]
				g.Passed, g.Failed, g.Skipped, g.Expected = g.Passed+c.Passed, g.Failed+c.Failed, g.Skipped+c.Skipped, g.Expected+c.Expected
				g.Exit = max(g.Exit, c.Exit)
				got[c.Stage] = g
			}
		}
	}
	status := 0
	fmt.Fprintf(w, "\n== make test: summary ==\n%-26s %-8s %7s %7s %8s %9s\n", "stage", "result", "passed", "failed", "skipped", "expected")
	for _, stage := range fs.Args() {
		c, ok := got[stage]
		result := "ok"
		switch {
		case !ok:
			result, status = "NOT RUN", 1
		case c.Exit != 0:
			result, status = "FAIL", 1
		}
		fmt.Fprintf(w, "%-26s %-8s %7d %7d %8d %9d\n", stage, result, c.Passed, c.Failed, c.Skipped, c.Expected)
	}
	fmt.Fprintln(w, "expected: the reference broker's documented deviations (conformance/testdata/mosquitto-2.0.expect-fail, test/churn/reference_test.go)")
	if status != 0 {
		fmt.Fprintln(w, "make test: FAILED")
	} else {
		fmt.Fprintln(w, "make test: all stages passed")
	}
	return status
}
