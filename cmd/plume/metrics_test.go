package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/plumemq/plume/cmd/plume/internal/config"
)

// scrapeMetrics GETs /metrics and parses it with Prometheus's own parser.
func scrapeMetrics(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value is the value of the series of name whose labels include want
// (name=value pairs), 0 when there is none; a histogram gives its count.
func value(fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(want); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == want[i] && l.GetValue() == want[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return 0
}

// A real broker with a plugin, real clients over TCP: the counters scraped
// from /metrics move by exactly what was sent.
func TestMetricsMoveByWhatClientsDid(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "acl"), []byte("topic readwrite m/#\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "plume.yaml")
	yaml := "listeners: [{name: front, address: '127.0.0.1:0'}]\nallow_anonymous: true\n" +
		"plugins:\n  chain:\n    - {name: acl, builtin: acl-file, config: {file: acl}}\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTP.Address = "127.0.0.1:0"
	srv, err := start(cfg, path, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopServer(t, srv) })
	ops, mqtt := srv.ops.Addr(), srv.listeners[0].Address()
	before := scrapeMetrics(t, ops)

	conn, err := net.DialTimeout("tcp", mqtt, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *paho.Publish, 16)
	c := paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
		func(r paho.PublishReceived) (bool, error) { got <- r.Packet; return true, nil }}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: "metrics", CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "m/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	// Distinct topics, so that each publish asks the plugin (its answers
	// are cached per topic).
	const qos0, qos1 = 3, 4
	for i := range qos0 + qos1 {
		qos := byte(0)
		if i >= qos0 {
			qos = 1
		}
		if _, err := c.Publish(ctx, &paho.Publish{Topic: fmt.Sprint("m/", i), QoS: qos, Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	res, _ := c.Publish(ctx, &paho.Publish{Topic: "secret", QoS: 1, Payload: []byte("x")})
	if res == nil || res.ReasonCode != 0x87 {
		t.Fatalf("publish to secret: %+v, want 0x87", res)
	}
	for range qos0 + qos1 {
		select {
		case <-got:
		case <-ctx.Done():
			t.Fatal("the subscriber did not get every message")
		}
	}
	// A 3.1.1 client that connects and goes away: 0x80, the network went.
	connack311(t, mqtt)

	var after map[string]*dto.MetricFamily
	deadline := time.Now().Add(30 * time.Second)
	for {
		after = scrapeMetrics(t, ops)
		if value(after, "plume_disconnects_total", "code", "0x80")-value(before, "plume_disconnects_total", "code", "0x80") == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the 3.1.1 client's disconnect was never counted")
		}
		time.Sleep(20 * time.Millisecond) // polling a counter; no verdict rests on the interval
	}
	for _, w := range []struct {
		name   string
		labels []string
		delta  float64
	}{
		{"plume_messages_received_total", []string{"qos", "0"}, qos0},
		{"plume_messages_received_total", []string{"qos", "1"}, qos1 + 1}, // the denied one too
		{"plume_messages_sent_total", []string{"qos", "0"}, qos0},
		{"plume_messages_sent_total", []string{"qos", "1"}, qos1},
		{"plume_authz_denied_total", nil, 1},
		{"plume_connects_total", nil, 2},
		{"plume_listener_connects_total", []string{"listener", "front"}, 2},
		{"plume_listener_connections", []string{"listener", "front"}, 1},
		{"plume_clients_connected", []string{"protocol_version", "5.0"}, 1},
		{"plume_clients_connected", []string{"protocol_version", "3.1.1"}, 0},
		{"plume_subscriptions", nil, 1},
		// One subscribe and eight publishes on distinct topics.
		{"plume_plugin_calls_total", []string{"plugin", "acl", "point", "authorize"}, 9},
		{"plume_plugin_call_duration_seconds", []string{"plugin", "acl", "point", "authorize"}, 9},
		{"plume_plugin_errors_total", []string{"plugin", "acl", "point", "authorize"}, 0},
	} {
		if d := value(after, w.name, w.labels...) - value(before, w.name, w.labels...); d != w.delta {
			t.Errorf("%s%v moved by %g, want %g", w.name, w.labels, d, w.delta)
		}
	}
	if value(after, "plume_plugin_loaded_timestamp_seconds", "plugin", "acl") == 0 {
		t.Error("no load time for the plugin")
	}
	if value(after, "go_goroutines") == 0 {
		t.Error("no Go runtime metrics")
	}
	_ = c.Disconnect(&paho.Disconnect{})
}
