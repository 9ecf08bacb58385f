package dashboard

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/plumemq/plume/core/broker"
)

// deadline bounds every wait: generous, other tests share the machine.
const deadline = 30 * time.Second

// openStream opens GET /api/v1/events and returns a reader of its body
// after the opening retry: line.
func openStream(t *testing.T, url string) (*bufio.Reader, func()) {
	t.Helper()
	res, err := http.Get(url + "/api/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		res.Body.Close()
		t.Fatalf("GET /api/v1/events: %s, Content-Type %q", res.Status, res.Header.Get("Content-Type"))
	}
	r := bufio.NewReader(res.Body)
	if got := readFrame(t, r); got != "retry: 2000\n" {
		t.Fatalf("first frame %q, want the retry delay", got)
	}
	return r, func() { res.Body.Close() }
}

// readFrame reads one event: the lines up to the blank line that ends it.
func readFrame(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the event stream: %v (read %q)", err, b.String())
		}
		if line == "\n" {
			return b.String()
		}
		b.WriteString(line)
	}
}

// TestEventsFraming: each sample is one server-sent event named sample whose
// one data line is the overview without history.
func TestEventsFraming(t *testing.T) {
	c := &counters{}
	d := New(Config{Stats: c.stats, Version: "plume test"})
	defer d.Stop()
	srv := serve(t, d)
	r, done := openStream(t, srv.URL)
	defer done()
	waitFor(t, "the stream registered", func() bool { return d.streams.count() == 1 })
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 3 {
		c.set(func(s *broker.Stats) { s.ClientsConnected = 10 + i })
		d.sample(t0.Add(time.Duration(i) * time.Second))
	}
	for i := range 3 {
		frame := readFrame(t, r)
		lines := strings.Split(strings.TrimSuffix(frame, "\n"), "\n")
		if len(lines) != 2 || lines[0] != "event: sample" || !strings.HasPrefix(lines[1], "data: {") {
			t.Fatalf("event %d: %q, want an event: line and one data: line", i, frame)
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(strings.TrimPrefix(lines[1], "data: ")), &raw); err != nil {
			t.Fatal(err)
		}
		if _, ok := raw["history"]; ok {
			t.Fatalf("event %d carries the history", i)
		}
		var o Overview
		if err := json.Unmarshal(raw["rates"], &o.Rates); err != nil {
			t.Fatal(err)
		}
		if o.Rates.Connections != 10+i || o.Rates.Time != t0.Add(time.Duration(i)*time.Second).UnixMilli() {
			t.Fatalf("event %d: %+v, want connections %d", i, o.Rates, 10+i)
		}
	}
}

// TestSlowEventReaderDoesNotBlockSampler opens a stream over TCP and never
// reads it: the sampler keeps sampling (the stuck stream loses events, it
// does not hold them up), and a second stream that does read gets the latest
// sample.
func TestSlowEventReaderDoesNotBlockSampler(t *testing.T) {
	c := &counters{}
	// Events made large by many plugins with long names fill the socket
	// buffers sooner.
	var plugins []PluginSample
	for i := range maxPlugins {
		plugins = append(plugins, PluginSample{Name: fmt.Sprintf("plugin-%02d-%s", i, strings.Repeat("x", 200))})
	}
	d := New(Config{Stats: c.stats, Plugins: func() []PluginSample { return plugins }, History: 10})
	defer d.Stop()
	srv := serve(t, d)

	stuck, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	if _, err := io.WriteString(stuck, "GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stuck stream registered", func() bool { return d.streams.count() == 1 })
	var s *stream
	d.streams.mu.Lock()
	for st := range d.streams.open {
		s = st
	}
	d.streams.mu.Unlock()

	// Sample until the stuck stream has lost many events: far more than its
	// socket buffers hold (about 7 KiB an event), so its handler is stuck
	// in a write, its buffer is full, and the sampler went on. Were the
	// sampler blocked, this loop would never end and the deadline would say so.
	t0 := time.Unix(1_700_000_000, 0)
	n := 0
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for dropped := 0; dropped < 2000; n++ {
			c.set(func(st *broker.Stats) { st.MessagesIn = uint64(n) })
			d.sample(t0.Add(time.Duration(n) * time.Second))
			d.streams.mu.Lock()
			dropped = s.dropped
			d.streams.mu.Unlock()
		}
	}()
	select {
	case <-sampled:
	case <-time.After(deadline):
		t.Fatalf("the sampler is stuck behind a stream that does not read")
	}
	t.Logf("the stuck stream started losing events after %d samples", n)

	// A reader beside it still gets what comes next.
	r, done := openStream(t, srv.URL)
	defer done()
	waitFor(t, "the second stream registered", func() bool { return d.streams.count() == 2 })
	c.set(func(st *broker.Stats) { st.ClientsConnected = 4242 })
	d.sample(t0.Add(time.Duration(n) * time.Second))
	if frame := readFrame(t, r); !strings.Contains(frame, `"connections":4242`) {
		t.Fatalf("the reading stream got %.200q, want the latest sample", frame)
	}
	var o Overview
	getJSON(t, srv.URL+"/api/v1/overview", &o)
	if len(o.History) != 10 {
		t.Fatalf("history holds %d samples, want 10 (History)", len(o.History))
	}
}

// TestEventStreamsAreBounded: past MaxStreams a stream is refused with 503
// (the page then polls); a closed stream frees its place.
func TestEventStreamsAreBounded(t *testing.T) {
	d := New(Config{MaxStreams: 2})
	defer d.Stop()
	srv := serve(t, d)
	_, done1 := openStream(t, srv.URL)
	_, done2 := openStream(t, srv.URL)
	defer done2()
	waitFor(t, "two streams", func() bool { return d.streams.count() == 2 })
	res, err := http.Get(srv.URL + "/api/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Fatalf("third stream: %s, Retry-After %q; want 503 with Retry-After", res.Status, res.Header.Get("Retry-After"))
	}
	done1()
	waitFor(t, "the first stream's place freed", func() bool { return d.streams.count() == 1 })
	_, done3 := openStream(t, srv.URL)
	done3()
}

// TestStopEndsStreams: Stop ends every open stream (the ops server's
// shutdown would otherwise wait for them) and the sampler.
func TestStopEndsStreams(t *testing.T) {
	d := New(Config{Interval: 5 * time.Millisecond})
	d.Start()
	srv := serve(t, d)
	r, done := openStream(t, srv.URL)
	defer done()
	readFrame(t, r) // a sample from the running sampler
	d.Stop()
	ended := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, r)
		ended <- err
	}()
	select {
	case err := <-ended:
		if err != nil {
			t.Fatalf("stream ended with %v, want a clean end", err)
		}
	case <-time.After(deadline):
		t.Fatal("the stream is still open after Stop")
	}
	if res, err := http.Get(srv.URL + "/api/v1/events"); err != nil {
		t.Fatal(err)
	} else if res.Body.Close(); res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a stream after Stop: %s, want 503", res.Status)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("waiting for %s: gave up after %v", what, deadline)
		}
		time.Sleep(time.Millisecond)
	}
}
