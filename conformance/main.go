package conformance

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"time"

	"github.com/plumemq/plume/conformance/wire"
)

const usage = `usage:
  conformance --broker tcp://HOST:PORT [--version 3|5] [--only PATTERN] [flags]
      (or tls://HOST:PORT, ws://HOST:PORT/PATH, wss://HOST:PORT/PATH; --cafile for a private CA)
      check a broker; one line per statement, then "N passed, N failed, N skipped"
  conformance report [--out FILE] NAME=RESULTS.json[,MORE.json] ...
      merge --json outputs into the markdown report, one column per NAME
  conformance list
      print the statement catalogue and the coverage counts

flags:
`

// RunFile is what --json writes: the options that matter and every result.
type RunFile struct {
	Broker   string
	Versions []byte
	Started  time.Time
	Results  []Result
}

// Main is the conformance command. It returns the exit status: 0 when no
// statement failed, or every failure is a known deviation listed in
// --expect-fail; 1 on other failures; 2 on usage errors.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "report":
			return mainReport(args[1:], stdout, stderr)
		case "list":
			return mainList(stdout)
		}
	}
	fs := flag.NewFlagSet("conformance", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	broker := fs.String("broker", "", "broker address: tcp://, tls://, ws:// or wss://HOST:PORT, ws and wss with a path (default /mqtt) (required)")
	caFile := fs.String("cafile", "", "PEM CA certificates to verify a tls:// or wss:// broker with, instead of the system's roots")
	version := fs.String("version", "", "3 (3.1.1) or 5; both when empty")
	only := fs.String("only", "", "regular expression on statement id or test name")
	timeout := fs.Duration("timeout", 5*time.Second, "deadline of each test")
	parallel := fs.Int("parallel", 6, "tests run at once")
	denied := fs.String("denied-topic", "", "a topic the broker refuses to let clients publish to (tests needing one are skipped without it)")
	keepAlive := fs.Int("server-keep-alive", -1, "the largest keep alive (s) the broker allows, returned as Server Keep Alive to a client asking more; -1 if unknown")
	aliases := fs.Bool("sends-topic-aliases", false, "the broker sends topic aliases to clients that allow them")
	refusedID := fs.String("refused-client-id", "", "a client identifier the broker refuses")
	refusedUser := fs.String("refused-username", "", "a user name the broker refuses with a wrong password")
	user := fs.String("username", "", "user name sent on every CONNECT")
	pass := fs.String("password", "", "password sent on every CONNECT")
	jsonOut := fs.String("json", "", "also write every result to this JSON file")
	expect := fs.String("expect-fail", "", "file listing statements (\"5 MQTT-x\" per line) known to fail on this broker")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *broker == "" {
		fs.Usage()
		return 2
	}
	o := Options{Broker: *broker, Only: *only, Timeout: *timeout, Parallel: *parallel,
		DeniedTopic: *denied, ServerKeepAlive: *keepAlive, SendsTopicAliases: *aliases,
		RefusedClientID: *refusedID, RefusedUsername: *refusedUser, Username: *user, Password: *pass}
	if *caFile != "" {
		conf, err := wire.LoadCA(*caFile)
		if err != nil {
			fmt.Fprintf(stderr, "--cafile: %v\n", err)
			return 2
		}
		o.TLS = conf
	}
	switch *version {
	case "":
	case "3", "4", "3.1.1":
		o.Versions = []byte{4}
	case "5", "5.0":
		o.Versions = []byte{5}
	default:
		fmt.Fprintf(stderr, "--version %q: want 3 or 5\n", *version)
		return 2
	}
	var onlyRE *regexp.Regexp
	if *only != "" {
		var err error
		if onlyRE, err = regexp.Compile(*only); err != nil {
			fmt.Fprintf(stderr, "--only: %v\n", err)
			return 2
		}
	}
	known, err := readExpected(*expect)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	started := time.Now()
	rs := Run(ctx, o, nil)
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(RunFile{Broker: o.Broker, Versions: o.Versions, Started: started, Results: rs}, "", " ")
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
	}
	vs := Verdicts(rs, o.Versions, onlyRE)
	writeVerdicts(stdout, vs, known)
	p, f, s := countVerdicts(vs)
	var unexpected, fixed []string
	for _, v := range vs {
		k := key(v.Statement.Version, v.Statement.ID)
		switch {
		case v.Status == Fail && !known[k]:
			unexpected = append(unexpected, k)
		case v.Status != Fail && known[k] && v.Status == Pass:
			fixed = append(fixed, k)
		}
	}
	if len(fixed) > 0 {
		// Timing-dependent deviations pass now and then: note, not fail.
		fmt.Fprintf(stdout, "listed as known deviations but passed this time: %s\n", strings.Join(fixed, ", "))
	}
	if len(known) > 0 {
		fmt.Fprintf(stdout, "%d passed, %d failed, %d expected (known deviations, %s), %d skipped\n",
			p, len(unexpected), f-len(unexpected), *expect, s)
	} else {
		fmt.Fprintf(stdout, "%d passed, %d failed, %d skipped\n", p, f, s)
	}
	if len(unexpected) > 0 {
		return 1
	}
	return 0
}

// ReadExpected reads a list of known failures: lines of "VERSION ID" (the
// version as 5, 5.0, 4, 3 or 3.1.1), '#' starting a comment. An empty path
// gives an empty list.
func ReadExpected(path string) (map[string]bool, error) { return readExpected(path) }

// readExpected reads a list of "VERSION ID" lines (version 4 or 5, or 3.1.1
// and 5.0); '#' starts a comment.
func readExpected(path string) (map[string]bool, error) {
	m := map[string]bool{}
	if path == "" {
		return m, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--expect-fail: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fs := strings.Fields(line)
		if len(fs) < 2 {
			continue
		}
		v := fs[0]
		switch v {
		case "3.1.1", "3":
			v = "4"
		case "5.0":
			v = "5"
		}
		m[v+" "+fs[1]] = true
	}
	return m, sc.Err()
}

func mainList(stdout io.Writer) int {
	counts := map[byte][2]int{}
	for _, s := range Statements() {
		c := counts[s.Version]
		c[1]++
		why := ""
		if s.Testable {
			c[0]++
		} else {
			why = " — not testable: " + s.WhyNot
		}
		counts[s.Version] = c
		fmt.Fprintf(stdout, "%-5s %-16s %s%s\n", VersionName(s.Version), s.ID, s.Summary, why)
	}
	for _, v := range []byte{5, 4} {
		fmt.Fprintf(stdout, "MQTT %s: %d of %d statements have a test\n", VersionName(v), counts[v][0], counts[v][1])
	}
	return 0
}

func mainReport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("conformance report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "write the report here instead of standard output")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	columns := map[string][]Result{}
	for _, a := range fs.Args() {
		name, file, ok := strings.Cut(a, "=")
		if !ok {
			fmt.Fprintf(stderr, "report: %q: want NAME=FILE.json\n", a)
			return 2
		}
		var results []Result
		for _, f := range strings.Split(file, ",") {
			if f == "" {
				continue
			}
			var rf RunFile
			b, err := os.ReadFile(f)
			if err == nil {
				err = json.Unmarshal(b, &rf)
			}
			if err != nil {
				fmt.Fprintf(stderr, "report: %s: %v\n", f, err)
				return 2
			}
			results = append(results, rf.Results...)
		}
		columns[name] = results
	}
	w := stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		defer f.Close()
		w = f
	}
	WriteReport(w, columns)
	return 0
}
