package dashboard

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/plumemq/plume/core/broker"
)

// TestMain checks that no goroutine outlives the tests: the sampler and the
// event streams end with Stop.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// counters is a Stats source the test moves by hand.
type counters struct {
	mu sync.Mutex
	s  broker.Stats
}

func (c *counters) stats() broker.Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.s
}

func (c *counters) set(f func(*broker.Stats)) {
	c.mu.Lock()
	f(&c.s)
	c.mu.Unlock()
}

func serve(t *testing.T, d *Dashboard) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	d.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func getJSON(t *testing.T, url string, v any) *http.Response {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return res
}

// TestOverviewRatesAndShape takes two samples a second apart and checks the
// overview's keys and its rates: each counter's difference per second, drops
// by cause with the rest as other, plugins' calls per second.
func TestOverviewRatesAndShape(t *testing.T) {
	c := &counters{}
	plugins := []PluginSample{{Name: "acl", Calls: 10, Mean: 1500 * time.Nanosecond, P99: 9 * time.Microsecond}}
	d := New(Config{Version: "plume test", Stats: c.stats, Plugins: func() []PluginSample { return plugins },
		Refusals: func(n int) []Refusal {
			return []Refusal{{Time: time.Unix(1, 0), Class: "auth_failure", ClientID: "<script>", Reason: "0x86 Bad user name or password"}}
		}})
	t0 := time.Unix(1_700_000_000, 0)
	c.set(func(s *broker.Stats) { s.MessagesIn, s.Dropped, s.DroppedQueueFull = 100, 4, 1 })
	d.sample(t0)
	c.set(func(s *broker.Stats) {
		s.ClientsConnected, s.MessagesIn, s.MessagesOut, s.BytesIn = 7, 350, 40, 2048
		s.Dropped, s.DroppedQueueFull, s.DroppedQoS0 = 20, 3, 5
		s.Refused, s.AuthzDenied = 2, 9
	})
	plugins = []PluginSample{{Name: "acl", Calls: 70, Errors: 1, Mean: 1500 * time.Nanosecond, P99: 9 * time.Microsecond}}
	d.sample(t0.Add(2 * time.Second))

	srv := serve(t, d)
	var raw map[string]json.RawMessage
	getJSON(t, srv.URL+"/api/v1/overview", &raw)
	want := []string{"history", "interval_ms", "plugins", "rates", "refusals", "started_at", "totals", "uptime_seconds", "version"}
	got := slices.Sorted(maps.Keys(raw))
	if !slices.Equal(got, want) {
		t.Fatalf("overview keys %v, want %v", got, want)
	}
	var o Overview
	getJSON(t, srv.URL+"/api/v1/overview", &o)
	r := o.Rates
	if r.Time != t0.Add(2*time.Second).UnixMilli() || r.Connections != 7 {
		t.Fatalf("latest sample at %d with %d connections, want %d and 7", r.Time, r.Connections, t0.Add(2*time.Second).UnixMilli())
	}
	if r.MessagesIn != 125 || r.MessagesOut != 20 || r.BytesIn != 1024 {
		t.Fatalf("rates in %v out %v bytes in %v, want 125, 20, 1024 per second", r.MessagesIn, r.MessagesOut, r.BytesIn)
	}
	// Dropped went 4 → 20 (8/s); queue full 1 → 3 (1/s), QoS 0 0 → 5 (2.5/s):
	// other is 3 → 12 (4.5/s).
	if want := (Drops{QueueFull: 1, QoS0: 2.5, Other: 4.5}); r.Drops != want {
		t.Fatalf("drops %+v, want %+v", r.Drops, want)
	}
	if want := (Refusals{Connect: 1, Authz: 4.5}); r.Refusals != want {
		t.Fatalf("refusals %+v, want %+v", r.Refusals, want)
	}
	if want := []PluginRate{{Name: "acl", Calls: 30, Errors: 0.5, MeanUS: 1.5, P99US: 9}}; !slices.Equal(o.Plugins, want) {
		t.Fatalf("plugins %+v, want %+v", o.Plugins, want)
	}
	if o.Totals.MessagesIn != 350 || o.Totals.Connections != 7 || o.Version != "plume test" {
		t.Fatalf("totals %+v version %q", o.Totals, o.Version)
	}
	if len(o.History) != 2 || o.History[0].MessagesIn != 0 {
		t.Fatalf("history %+v, want two samples, the first without rates", o.History)
	}
	if len(o.Refusals) != 1 || o.Refusals[0].ClientID != "<script>" {
		t.Fatalf("refusals %+v", o.Refusals)
	}
}

// TestHistoryKeepsTheLastSamples: past History samples the oldest go, and
// the overview lists what is left oldest first.
func TestHistoryKeepsTheLastSamples(t *testing.T) {
	c := &counters{}
	d := New(Config{Stats: c.stats, History: 5})
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 12 {
		c.set(func(s *broker.Stats) { s.ClientsConnected = i })
		d.sample(t0.Add(time.Duration(i) * time.Second))
	}
	srv := serve(t, d)
	var latest map[string]json.RawMessage
	getJSON(t, srv.URL+"/api/v1/overview?history=0", &latest)
	if _, ok := latest["history"]; ok || latest["rates"] == nil {
		t.Fatalf("?history=0 answered keys %v, want rates and no history", slices.Collect(maps.Keys(latest)))
	}
	var o Overview
	getJSON(t, srv.URL+"/api/v1/overview", &o)
	var conns []int
	for _, s := range o.History {
		conns = append(conns, s.Connections)
	}
	if !slices.Equal(conns, []int{7, 8, 9, 10, 11}) {
		t.Fatalf("history's connections %v, want the last five samples, oldest first", conns)
	}
	if o.Rates.Connections != 11 || o.Totals.Connections != 11 {
		t.Fatalf("latest %d / totals %d, want 11", o.Rates.Connections, o.Totals.Connections)
	}
}

// TestNilSourcesServeZeros: a dashboard with no sources runs, and its
// overview has empty lists, not nulls, for the page to iterate.
func TestNilSourcesServeZeros(t *testing.T) {
	d := New(Config{Interval: 10 * time.Millisecond})
	d.Start()
	defer d.Stop()
	var raw map[string]any
	getJSON(t, serve(t, d).URL+"/api/v1/overview", &raw)
	for _, k := range []string{"plugins", "refusals", "history"} {
		if _, ok := raw[k].([]any); !ok {
			t.Errorf("%s is %T (%v), want a list", k, raw[k], raw[k])
		}
	}
	if rates := raw["rates"].(map[string]any); rates["plugins"] == nil {
		t.Errorf("rates.plugins is null, want a list")
	}
}

// TestPageIsSelfContainedAndLockedDown: / is the page with a
// Content-Security-Policy that allows no inline script and nothing from
// elsewhere; every script it names is served from the binary, and none of
// them builds markup from strings.
func TestPageIsSelfContainedAndLockedDown(t *testing.T) {
	srv := serve(t, New(Config{}))
	res, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /: %v %v", res.Status, err)
	}
	csp := res.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") || !strings.Contains(csp, "default-src 'none'") {
		t.Fatalf("Content-Security-Policy %q", csp)
	}
	html := string(page)
	if strings.Contains(html, "<script>") || strings.Contains(html, "http://") || strings.Contains(html, "https://") ||
		regexp.MustCompile(`\son[a-z]+=`).MatchString(html) {
		t.Fatalf("the page has inline script or a reference elsewhere:\n%s", html)
	}
	for _, asset := range []string{"/dashboard/app.js", "/dashboard/chart.js", "/dashboard/style.css"} {
		if !strings.Contains(html, `"`+asset+`"`) {
			t.Errorf("the page does not load %s", asset)
		}
		res, err := http.Get(srv.URL + asset)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("GET %s: %s %v", asset, res.Status, err)
		}
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
			if strings.Contains(string(body), bad) {
				t.Errorf("%s uses %s: the page must put broker data in as text", asset, bad)
			}
		}
	}
	res, err = http.Get(srv.URL + "/nothing")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Fatalf("GET /nothing: %v, want 404 (the page is / alone)", res.Status)
	}
}
