// Package conformance checks an MQTT broker, over the network, against the
// normative statements of the OASIS MQTT 3.1.1 and 5.0 specifications. It
// speaks through its own raw client (package wire) and so works against any
// broker address.
package conformance

import (
	"context"
	"crypto/tls"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/plumemq/plume/conformance/wire"
)

// Options configures a run. Broker-specific set-ups that the specification
// leaves open are given here and never guessed; a test whose set-up is
// unknown is skipped with the reason.
type Options struct {
	Broker   string        // tcp://, tls://, ws:// or wss://host:port (wire.Dialer)
	Versions []byte        // 4 (3.1.1) and/or 5; empty means both
	Only     string        // regular expression on statement id or test name
	Timeout  time.Duration // per test deadline; 0 means 5 s
	Parallel int           // tests run at once; 0 means 6

	// DeniedTopic is a topic the broker refuses to let clients publish to or
	// subscribe to; "" skips the tests that need one.
	DeniedTopic string
	// ServerKeepAlive is the largest keep alive, in seconds, that the broker
	// allows: a 5.0 client asking for more gets it back as Server Keep Alive.
	// 0 or -1 means unknown (the tests then use what the CONNACK says).
	ServerKeepAlive int
	// SendsTopicAliases says the broker uses topic aliases towards clients
	// that allow them; without it, tests of the aliases a broker sends skip
	// when it sends none.
	SendsTopicAliases bool
	// RefusedClientID is a client identifier the broker refuses; "" skips
	// the tests that need one.
	RefusedClientID string
	// RefusedUsername is a user name whose CONNECT the broker refuses when
	// it comes with a wrong password; "" skips the tests that need one.
	RefusedUsername string
	// Username and Password are sent on every CONNECT when set.
	Username string
	Password string
	// TLS configures tls:// and wss:// brokers; nil trusts the system's
	// roots (wire.LoadCA reads a CA file).
	TLS *tls.Config
}

// dial opens a raw connection to the broker.
func (o *Options) dial(ctx context.Context, version byte) (*wire.Conn, error) {
	return wire.Dialer{TLS: o.TLS}.Dial(ctx, o.Broker, version)
}

func (o *Options) defaults() {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Parallel <= 0 {
		o.Parallel = 6
	}
	if len(o.Versions) == 0 {
		o.Versions = []byte{4, 5}
	}
}

// Status is the outcome of a check.
type Status int

// Outcomes.
const (
	Pass Status = iota
	Fail
	Skip
)

func (s Status) String() string {
	return [...]string{"pass", "fail", "skip"}[s]
}

// MarshalText writes the status as a word.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a status word.
func (s *Status) UnmarshalText(b []byte) error {
	switch string(b) {
	case "pass":
		*s = Pass
	case "fail":
		*s = Fail
	case "skip":
		*s = Skip
	default:
		return fmt.Errorf("unknown status %q", b)
	}
	return nil
}

// Result is the outcome of one test for one normative statement.
type Result struct {
	Statement string // "MQTT-3.3.1-4"
	Version   byte   // 4 or 5
	Test      string
	Status    Status
	Detail    string // what was seen when it failed, or why it was skipped
	Section   string
}

// Listed reports whether r's statement, in r's version, is in known, a list
// of known failures as ReadExpected reads it.
func (r Result) Listed(known map[string]bool) bool { return known[key(r.Version, r.Statement)] }

// Case is one test: the statements it checks for each version, and its body.
type Case struct {
	Name    string
	V5      []string // statement ids without the "MQTT-" prefix; nil: not run on 5.0
	V4      []string // the same for 3.1.1
	Timeout time.Duration
	Run     func(t *T)
}

type job struct {
	c Case
	v byte
}

// Run runs the suite and calls each (if not nil) with every result as it
// arrives; it returns all results.
func Run(ctx context.Context, o Options, each func(Result)) []Result {
	o.defaults()
	var only *regexp.Regexp
	if o.Only != "" {
		var err error
		if only, err = regexp.Compile(o.Only); err != nil {
			r := Result{Statement: "-", Test: "options", Status: Fail, Detail: fmt.Sprintf("--only: %v", err)}
			if each != nil {
				each(r)
			}
			return []Result{r}
		}
	}
	var jobs []job
	for _, v := range o.Versions {
		for _, c := range Cases() {
			ids := c.V5
			if v == 4 {
				ids = c.V4
			}
			if ids == nil || !selected(only, c.Name, ids) {
				continue
			}
			jobs = append(jobs, job{c, v})
		}
	}
	var mu sync.Mutex
	var all []Result
	emit := func(rs []Result) {
		mu.Lock()
		defer mu.Unlock()
		for _, r := range rs {
			all = append(all, r)
			if each != nil {
				each(r)
			}
		}
	}
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	for _, j := range jobs {
		if ctx.Err() != nil {
			break // interrupted: the tests not started are reported as not run
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			emit(runOne(ctx, &o, j))
		}()
	}
	wg.Wait()
	sort.SliceStable(all, func(i, k int) bool {
		if all[i].Version != all[k].Version {
			return all[i].Version > all[k].Version
		}
		return lessStatement(all[i].Statement, all[k].Statement)
	})
	return all
}

func selected(only *regexp.Regexp, name string, ids []string) bool {
	if only == nil || only.MatchString(name) {
		return true
	}
	for _, id := range ids {
		if only.MatchString("MQTT-" + id) {
			return true
		}
	}
	return false
}

// runOne runs a test in its own goroutine and turns its end into results.
// A test that does not finish by its deadline has its connections closed,
// which unblocks any read, and fails.
func runOne(ctx context.Context, o *Options, j job) []Result {
	timeout := o.Timeout
	if j.c.Timeout > timeout {
		timeout = j.c.Timeout
	}
	tag := newTag()
	t := &T{ctx: ctx, o: o, V: j.v, name: j.c.Name, tag: tag, prefix: "cf/" + tag,
		deadline: time.Now().Add(timeout)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			// A test that panics (on a packet shape nobody expected) fails
			// alone instead of taking the run down.
			if v := recover(); v != nil {
				t.mu.Lock()
				t.status, t.detail = Fail, fmt.Sprintf("test panicked: %v", v)
				t.mu.Unlock()
			}
		}()
		j.c.Run(t)
	}()
	select {
	case <-done:
	case <-time.After(timeout + 2*time.Second):
		t.closeAll()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
		}
		t.mu.Lock()
		t.status, t.detail = Fail, fmt.Sprintf("%v: still running %v after its deadline", errHung, 2*time.Second)
		t.mu.Unlock()
	}
	t.closeAll()
	t.mu.Lock()
	cleanups := t.cleanups
	status, detail, violations := t.status, t.detail, t.violations
	t.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	ids := j.c.V5
	if j.v == 4 {
		ids = j.c.V4
	}
	var rs []Result
	for _, id := range ids {
		rs = append(rs, Result{Statement: "MQTT-" + id, Version: j.v, Test: j.c.Name,
			Status: status, Detail: detail, Section: sectionOf(id)})
	}
	seen := map[string]bool{}
	for _, v := range violations {
		if v.Statement == "" || seen[v.Statement] {
			continue
		}
		seen[v.Statement] = true
		rs = append(rs, Result{Statement: v.Statement, Version: j.v, Test: j.c.Name,
			Status: Fail, Detail: "broker sent: " + v.Msg, Section: sectionOf(strings.TrimPrefix(v.Statement, "MQTT-"))})
	}
	return rs
}

// sectionOf returns the specification section of a statement id such as
// "3.1.2-4": "3.1.2".
func sectionOf(id string) string {
	id = strings.TrimPrefix(id, "MQTT-")
	if i := strings.IndexByte(id, '-'); i > 0 {
		return id[:i]
	}
	return id
}

// lessStatement orders statement ids numerically ("MQTT-3.10.1-1" after
// "MQTT-3.9.3-2").
func lessStatement(a, b string) bool {
	pa, pb := numParts(a), numParts(b)
	for i := 0; i < len(pa) && i < len(pb); i++ {
		if pa[i] != pb[i] {
			return pa[i] < pb[i]
		}
	}
	return len(pa) < len(pb)
}

func numParts(s string) []int {
	var out []int
	n, in := 0, false
	for _, r := range s {
		if r >= '0' && r <= '9' {
			n, in = n*10+int(r-'0'), true
			continue
		}
		if in {
			out = append(out, n)
		}
		n, in = 0, false
	}
	if in {
		out = append(out, n)
	}
	return out
}
