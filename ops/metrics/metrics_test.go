package metrics

import (
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/latency"
	"github.com/plumemq/plume/core/packets"
)

// fullConfig feeds every metric a value, so that every family appears in a
// scrape.
func fullConfig() Config {
	var h latency.Histogram
	h.Observe(3 * time.Microsecond)
	h.Observe(2 * time.Second)
	snap := h.Snapshot()
	return Config{
		Stats: func() broker.Stats { return broker.Stats{ClientsConnected: 2, Sessions: 5, Connects: 7} },
		Breakdown: func() broker.Breakdown {
			b := broker.Breakdown{
				RefusedByReason:     map[packets.ReasonCode]uint64{packets.NotAuthorized: 1},
				DisconnectsByReason: map[packets.ReasonCode]uint64{packets.NormalDisconnection: 3},
				Listeners:           []broker.ListenerStats{{Name: "tcp", Connected: 2, Connects: 7}},
			}
			b.ConnectedByVersion[5] = 2
			b.MessagesInByQoS = [3]uint64{1, 2, 3}
			return b
		},
		CommitLatency: func() (latency.Snapshot, bool) { return snap, true },
		Plugins: func() []Plugin {
			return []Plugin{{Name: "acl", LoadedAt: time.Unix(1700000000, 0), Reloads: 1,
				Points: []Point{{Point: "authorize", Calls: 2, Latency: snap}}}}
		},
		Cluster: func() (broker.ClusterStatus, bool) {
			return broker.ClusterStatus{Node: "n1", Quorum: true, MetaLeader: "n2", RefusedPublishes: 1,
				Members: []broker.ClusterMember{{Name: "n1", Self: true, Up: true}, {Name: "n2", Up: true, Leader: true}},
				Fabric:  []broker.ClusterCounter{{Name: "published", Value: 3}}}, true
		},
	}
}

func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", rec.Code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse the scrape: %v", err)
	}
	return fams
}

// Every plume_ metric the registry serves has a row in docs/metrics.md,
// every row names a metric it serves, and the Go runtime and process
// collectors are there.
func TestEveryMetricIsDocumented(t *testing.T) {
	fams := scrape(t, Handler(fullConfig()))
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := regexp.MustCompile("(?m)^\\| `(plume_[a-z0-9_]+)` \\| (counter|gauge|histogram) \\|").FindAllStringSubmatch(string(doc), -1)
	documented := map[string]string{}
	for _, r := range rows {
		documented[r[1]] = r[2]
	}
	var served []string
	for name, f := range fams {
		if !strings.HasPrefix(name, "plume_") {
			continue
		}
		served = append(served, name)
		typ, ok := documented[name]
		switch {
		case !ok:
			t.Errorf("%s is served but docs/metrics.md has no row for it", name)
		case typ != strings.ToLower(f.GetType().String()):
			t.Errorf("%s is a %s; docs/metrics.md says %s", name, strings.ToLower(f.GetType().String()), typ)
		}
	}
	for name := range documented {
		if !slices.Contains(served, name) {
			t.Errorf("docs/metrics.md lists %s, which is not served", name)
		}
	}
	// README's Operating section lists them too, by name.
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile("`(plume_[a-z0-9_]+)[{`]").FindAllStringSubmatch(string(readme), -1) {
		listed[m[1]] = true
	}
	for _, name := range served {
		if !listed[name] {
			t.Errorf("%s is served but README's metric list does not name it", name)
		}
	}
	if len(served) != len(allDescs) {
		t.Errorf("%d plume_ families served, %d described: fullConfig must give each a value", len(served), len(allDescs))
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if fams[name] == nil {
			t.Errorf("%s is not served: the runtime and process collectors are missing", name)
		}
	}
}

// Names follow Prometheus's conventions: counters end in _total, durations
// are in seconds, bytes in bytes.
func TestMetricNamesFollowConventions(t *testing.T) {
	for name, f := range scrape(t, Handler(fullConfig())) {
		if !strings.HasPrefix(name, "plume_") {
			continue
		}
		isCounter := f.GetType().String() == "COUNTER"
		if isCounter != strings.HasSuffix(name, "_total") {
			t.Errorf("%s: a %s; only counters end in _total", name, f.GetType())
		}
		if strings.Contains(name, "duration") && !strings.HasSuffix(name, "_seconds") {
			t.Errorf("%s: a duration not in seconds", name)
		}
	}
}

// A latency snapshot becomes a histogram in seconds with cumulative
// buckets; what is over 1 s is counted, in no finite bucket.
func TestHistogramIsCumulativeInSeconds(t *testing.T) {
	fams := scrape(t, Handler(fullConfig()))
	h := fams["plume_store_commit_duration_seconds"].GetMetric()[0].GetHistogram()
	if h.GetSampleCount() != 2 || h.GetSampleSum() < 2 {
		t.Fatalf("count %d sum %g, want 2 and over 2 s", h.GetSampleCount(), h.GetSampleSum())
	}
	for _, b := range h.GetBucket() {
		want := uint64(0)
		switch ub := b.GetUpperBound(); {
		case ub > 1:
			want = 2 // +Inf: the 2 s one too
		case ub >= 5e-6:
			want = 1 // the 3 µs one
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("bucket le=%g: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
}
