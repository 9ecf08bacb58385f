package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// startMochiTwice runs one mochi-mqtt with two TCP listeners: two
// addresses of one broker stand in for two nodes of a cluster.
func startMochiTwice(t *testing.T) (string, string) {
	t.Helper()
	server := mqtt.New(&mqtt.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := server.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for i := range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, l.Addr().String())
		l.Close()
		if err := server.AddListener(listeners.NewTCP(listeners.Config{ID: fmt.Sprint(i), Address: addrs[i]})); err != nil {
			t.Fatal(err)
		}
	}
	if err := server.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Close() })
	return addrs[0], addrs[1]
}

// TestClusterScenariosSplitClientsAndDoNotCountProbes: with -pub-addrs and
// -sub-addrs the clients dial the addresses given, the interest probes reach
// every subscriber first, and none of them is counted: every subscriber
// receives exactly what the publishers sent it.
func TestClusterScenariosSplitClientsAndDoNotCountProbes(t *testing.T) {
	a, b := startMochiTwice(t)
	for _, name := range []string{"pairs-q1", "fanin-q0"} {
		t.Run(name, func(t *testing.T) {
			spec := scenarios[name]
			res, err := runFlow(spec, flowConfig{
				pubAddrs: []string{a, b}, subAddrs: []string{b},
				warmup: 50 * time.Millisecond, window: 300 * time.Millisecond, drain: 5 * time.Second,
				outstanding: 200, inflight: 16, payload: 64, bufSize: 16 << 10,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.delivered == 0 || res.lost != 0 || res.stalls != 0 {
				t.Fatalf("delivered %d, lost %d, stalls %d", res.delivered, res.lost, res.stalls)
			}
			if want := res.sent * uint64(len(spec.receives(0))); res.received != want {
				t.Fatalf("received %d deliveries, want %d (probes counted?)", res.received, want)
			}
		})
	}
}

func TestClusterReportRatiosAndMedians(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, r Result) {
		b, err := json.Marshal([]Result{r})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for round, c := range []float64{100, 300, 200} {
		write(fmt.Sprintf("single-pairs-r%d.json", round+1), Result{Broker: "plume-single", Scenario: "pairs", MsgsPerSec: 1000, P99Micros: 10, MsgsPerCPUSec: 2000})
		write(fmt.Sprintf("cluster-pairs-r%d.json", round+1), Result{Broker: "plume-cluster", Scenario: "pairs", MsgsPerSec: c, P99Micros: c / 10, MsgsPerCPUSec: c})
	}
	// A round whose cluster run failed counts in no median.
	write("single-fanin-r1.json", Result{Broker: "plume-single", Scenario: "fanin", MsgsPerSec: 1000})
	write("cluster-fanin-r1.json", Result{Broker: "plume-cluster", Scenario: "fanin", Error: "did not start"})
	out := filepath.Join(dir, "report.json")
	files, _ := filepath.Glob(filepath.Join(dir, "*-r*.json"))
	if err := cmdClusterReport(append([]string{"-out", out}, files...)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep clusterReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	m := rep.Medians["pairs"]
	if m.Rounds != 3 || math.Abs(m.Throughput-0.2) > 1e-9 || math.Abs(m.P99-2) > 1e-9 || math.Abs(m.PerCPU-0.1) > 1e-9 {
		t.Fatalf("pairs medians %+v, want 3 rounds, 0.2x, 2x, 0.1x", m)
	}
	if _, ok := rep.Medians["fanin"]; ok || len(rep.Rows) != 4 {
		t.Fatalf("fanin median %+v, %d rows: want none and 4 rows", rep.Medians["fanin"], len(rep.Rows))
	}
}
