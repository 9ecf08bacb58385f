// Package metrics exports Plume's counters as Prometheus metrics: a
// prometheus.Collector that reads the broker's, the plugins' and the store's
// snapshots when it is scraped, so the message path never calls
// client_golang (the counters themselves are atomics in core/broker, host/
// and core/journal). Names are plume_<what>_<unit>, counters end in _total,
// durations are histograms in seconds; docs/metrics.md lists every metric
// (checked by TestEveryMetricIsDocumented).
//
// The package sees the broker through core/broker's snapshots and the
// plugins and store through the small shapes defined here: ops/ does not
// import host/ or store/, and cmd/plume adapts them (cmd/plume/metrics.go).
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/latency"
)

// Config says where the collector reads. A nil func leaves its metrics out.
type Config struct {
	// Stats is the broker's counters (broker.Broker.Stats).
	Stats func() broker.Stats
	// Breakdown is the broker's counters by dimension
	// (broker.Broker.Breakdown).
	Breakdown func() broker.Breakdown
	// CommitLatency is the store's commit histogram, false without a store
	// (broker.Broker.CommitLatency).
	CommitLatency func() (latency.Snapshot, bool)
	// Plugins is the plugins of the chain, in order (host.Plugin.Metrics,
	// adapted by cmd/plume).
	Plugins func() []Plugin
	// Cluster is a cluster node's status (broker.Broker.Cluster); nil, or
	// false, on a broker that is no cluster node: no plume_cluster_*.
	Cluster func() (broker.ClusterStatus, bool)
}

// Plugin is one plugin's counters (the shape of host.PluginMetrics).
type Plugin struct {
	Name           string
	LoadedAt       time.Time
	Reloads        uint64
	ReloadFailures uint64
	Points         []Point
}

// Point is one export's counters (the shape of host.PointMetrics).
type Point struct {
	Point                           string
	Calls, Errors, Deadlines, Traps uint64
	Latency                         latency.Snapshot
}

// NewRegistry returns a registry with the Plume collector and Go's runtime
// and process collectors.
func NewRegistry(cfg Config) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(cfg),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves the metrics of cfg in the Prometheus text format, for
// GET /metrics.
func Handler(cfg Config) http.Handler {
	reg := NewRegistry(cfg)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
