package metrics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/latency"
	"github.com/plumemq/plume/core/packets"
)

// desc describes a metric; its help is the short form of what
// docs/metrics.md says.
func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// The broker's metrics. A total that Stats carries and that a breakdown
// splits is exported once, split: its sum is the total.
var (
	dClients       = desc("plume_clients_connected", "Clients connected now (past CONNACK), by protocol version.", "protocol_version")
	dSessions      = desc("plume_sessions", "Sessions held now: online (with a connection) or offline.", "state")
	dConnects      = desc("plume_connects_total", "CONNECTs answered with a successful CONNACK.")
	dRefusals      = desc("plume_connect_refusals_total", "CONNECTs answered with an error CONNACK, by reason code.", "code", "reason")
	dRefusedLimit  = desc("plume_connections_refused_limit_total", "Connections refused for a connection limit (CONNACK 0x97, or closed unread when far over it).")
	dRefusedTrans  = desc("plume_connections_refused_transport_total", "Connections their transport refused before MQTT began (TLS handshake, PROXY header).")
	dDisconnects   = desc("plume_disconnects_total", "Ends of connections that had connected, by reason code (0x80 when the network went away).", "code", "reason")
	dListenerConn  = desc("plume_listener_connections", "Clients connected now, by listener.", "listener")
	dListenerOK    = desc("plume_listener_connects_total", "Successful CONNACKs, by listener.", "listener")
	dListenerNo    = desc("plume_listener_refusals_total", "Error CONNACKs, by listener.", "listener")
	dListenerBye   = desc("plume_listener_disconnects_total", "Ends of connections that had connected, by listener.", "listener")
	dAuthDenied    = desc("plume_auth_denied_total", "Authentications an authenticate hook denied (CONNECT and AUTH).")
	dAuthzDenied   = desc("plume_authz_denied_total", "Publishes and subscription filters denied by an authorize hook, and publishes to $SYS.")
	dMsgsIn        = desc("plume_messages_received_total", "PUBLISH packets received from clients, by QoS.", "qos")
	dMsgsOut       = desc("plume_messages_sent_total", "PUBLISH packets queued for writing to clients, by the QoS sent at.", "qos")
	dPubBytesIn    = desc("plume_publish_received_bytes_total", "Bytes of the PUBLISH packets received, by QoS.", "qos")
	dPubBytesOut   = desc("plume_publish_sent_bytes_total", "Bytes of the PUBLISH packets queued for writing, by QoS.", "qos")
	dBytesIn       = desc("plume_received_bytes_total", "Bytes received from connected clients, every packet after CONNECT.")
	dBytesOut      = desc("plume_sent_bytes_total", "Bytes written to client sockets.")
	dDropped       = desc("plume_messages_dropped_total", "Messages and deliveries not passed on, by reason.", "reason")
	dWills         = desc("plume_wills_sent_total", "Will messages published.")
	dSubs          = desc("plume_subscriptions", "Subscriptions now, shared ones included.")
	dRetained      = desc("plume_retained_messages", "Retained messages held now.")
	dQueued        = desc("plume_queued_messages", "QoS 1/2 messages sessions hold now: in their in-flight window or queued behind it.", "state")
	dQueuedBytes   = desc("plume_queued_bytes", "Bytes every session holds now, in flight and queued (against limits.max_queued_bytes_total).")
	dPartialBytes  = desc("plume_partial_packet_bytes", "Bytes held for packets whose bodies are still arriving.")
	dSlow          = desc("plume_slow_consumers_total", "Connections ended for shedding QoS 0 longer than limits.slow_consumer_timeout.")
	dHandedOver    = desc("plume_shared_handed_over_total", "Shared-subscription deliveries moved to another member because their session ended.")
	dBPWaits       = desc("plume_backpressure_waits_total", "Times a publisher's connection stopped reading for a subscriber's full queue.")
	dBPTimeouts    = desc("plume_backpressure_timeouts_total", "Sessions a waiting publisher stopped waiting for after limits.backpressure_max_wait.")
	dCommit        = desc("plume_store_commit_duration_seconds", "Time of the store's commits, one per batch of changes (an fsync with the disk store).")
	dPluginCalls   = desc("plume_plugin_calls_total", "Calls to a plugin's export.", "plugin", "point")
	dPluginErrors  = desc("plume_plugin_errors_total", "Calls to a plugin's export that failed (trap, deadline, no instance, plugin error).", "plugin", "point")
	dPluginDead    = desc("plume_plugin_deadline_exceeded_total", "Calls cut off at the plugin's call deadline.", "plugin", "point")
	dPluginTraps   = desc("plume_plugin_traps_total", "Calls that trapped or ran out of fuel, their instance discarded.", "plugin", "point")
	dPluginLatency = desc("plume_plugin_call_duration_seconds", "Time of the calls to a plugin's export that ran.", "plugin", "point")
	dPluginReloads = desc("plume_plugin_reloads_total", "Times a new module replaced the plugin's serving one.", "plugin")
	dPluginReFail  = desc("plume_plugin_reload_failures_total", "Reloads of the plugin that failed; the old module kept serving.", "plugin")
	dPluginLoaded  = desc("plume_plugin_loaded_timestamp_seconds", "When the plugin's current module was loaded, in Unix seconds.", "plugin")
)

var allDescs = []*prometheus.Desc{
	dClients, dSessions, dConnects, dRefusals, dRefusedLimit, dRefusedTrans, dDisconnects,
	dListenerConn, dListenerOK, dListenerNo, dListenerBye, dAuthDenied, dAuthzDenied,
	dMsgsIn, dMsgsOut, dPubBytesIn, dPubBytesOut, dBytesIn, dBytesOut, dDropped, dWills,
	dSubs, dRetained, dQueued, dQueuedBytes, dPartialBytes, dSlow, dHandedOver, dBPWaits, dBPTimeouts,
	dCommit, dPluginCalls, dPluginErrors, dPluginDead, dPluginTraps, dPluginLatency,
	dPluginReloads, dPluginReFail, dPluginLoaded,
	dClusterQuorum, dClusterLeader, dClusterMembers, dClusterMember, dClusterRefused, dClusterFabric,
}

// Collector is the prometheus.Collector of Plume's own metrics.
type Collector struct{ cfg Config }

// NewCollector returns a collector reading cfg's snapshots at each scrape.
func NewCollector(cfg Config) *Collector { return &Collector{cfg: cfg} }

var _ prometheus.Collector = (*Collector)(nil)

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range allDescs {
		ch <- d
	}
}

// versionNames label the protocol versions, indexed by the CONNECT's byte.
var versionNames = map[int]string{3: "3.1", 4: "3.1.1", 5: "5.0"}

var qosNames = [3]string{"0", "1", "2"}

// Collect reads the snapshots and sends their metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if c.cfg.Stats != nil {
		s := c.cfg.Stats()
		gauge(dSessions, float64(s.ClientsConnected), "online")
		gauge(dSessions, float64(max(s.Sessions-s.ClientsConnected, 0)), "offline")
		counter(dConnects, s.Connects)
		counter(dRefusedLimit, s.RefusedLimit)
		counter(dRefusedTrans, s.TransportRefused)
		counter(dAuthDenied, s.AuthDenied)
		counter(dAuthzDenied, s.AuthzDenied)
		counter(dBytesIn, s.BytesIn)
		counter(dBytesOut, s.BytesOut)
		counter(dWills, s.WillsSent)
		gauge(dSubs, float64(s.Subscriptions))
		gauge(dRetained, float64(s.Retained))
		gauge(dQueuedBytes, float64(s.QueuedBytes))
		gauge(dPartialBytes, float64(s.PartialPacketBytes))
		counter(dSlow, s.SlowConsumers)
		counter(dHandedOver, s.SharedHandedOver)
		counter(dBPWaits, s.BackpressureWaits)
		counter(dBPTimeouts, s.BackpressureTimeouts)
		if c.cfg.Breakdown != nil {
			c.collectBreakdown(ch, &s, c.cfg.Breakdown(), counter, gauge)
		}
	}
	if c.cfg.CommitLatency != nil {
		if h, ok := c.cfg.CommitLatency(); ok {
			ch <- histogram(dCommit, &h)
		}
	}
	c.collectCluster(counter, gauge) // cluster.go
	if c.cfg.Plugins != nil {
		for _, p := range c.cfg.Plugins() {
			counter(dPluginReloads, p.Reloads, p.Name)
			counter(dPluginReFail, p.ReloadFailures, p.Name)
			if !p.LoadedAt.IsZero() {
				gauge(dPluginLoaded, float64(p.LoadedAt.UnixNano())/1e9, p.Name)
			}
			for i := range p.Points {
				pt := &p.Points[i]
				counter(dPluginCalls, pt.Calls, p.Name, pt.Point)
				counter(dPluginErrors, pt.Errors, p.Name, pt.Point)
				counter(dPluginDead, pt.Deadlines, p.Name, pt.Point)
				counter(dPluginTraps, pt.Traps, p.Name, pt.Point)
				ch <- histogram(dPluginLatency, &pt.Latency, p.Name, pt.Point)
			}
		}
	}
}

func (c *Collector) collectBreakdown(ch chan<- prometheus.Metric, s *broker.Stats, b broker.Breakdown,
	counter func(*prometheus.Desc, uint64, ...string), gauge func(*prometheus.Desc, float64, ...string)) {
	for v := 3; v <= 5; v++ {
		gauge(dClients, float64(b.ConnectedByVersion[v]), versionNames[v])
	}
	for code, n := range b.RefusedByReason {
		counter(dRefusals, n, codeLabel(code), code.String())
	}
	for code, n := range b.DisconnectsByReason {
		counter(dDisconnects, n, codeLabel(code), disconnectReason(code))
	}
	for _, l := range b.Listeners {
		gauge(dListenerConn, float64(l.Connected), l.Name)
		counter(dListenerOK, l.Connects, l.Name)
		counter(dListenerNo, l.Refused, l.Name)
		counter(dListenerBye, l.Disconnects, l.Name)
	}
	for q := range qosNames {
		counter(dMsgsIn, b.MessagesInByQoS[q], qosNames[q])
		counter(dMsgsOut, b.MessagesOutByQoS[q], qosNames[q])
		counter(dPubBytesIn, b.PublishBytesInByQoS[q], qosNames[q])
		counter(dPubBytesOut, b.PublishBytesOutByQoS[q], qosNames[q])
	}
	// Every cause of Stats.Dropped, so that their sum is the total.
	for _, d := range []struct {
		reason string
		n      uint64
	}{
		{"queue_full", s.DroppedQueueFull}, {"queue_bytes", s.DroppedQueueBytes},
		{"memory_budget", s.DroppedMemoryBudget}, {"qos0", s.DroppedQoS0},
		{"hook", b.DroppedByHook}, {"packet_too_large", b.DroppedTooLarge},
		{"shared_no_member", s.SharedDropped},
	} {
		counter(dDropped, d.n, d.reason)
	}
	gauge(dQueued, float64(b.Inflight), "inflight")
	gauge(dQueued, float64(b.Queued), "queued")
}

// codeLabel is a reason code as a label: "0x87".
func codeLabel(code packets.ReasonCode) string { return fmt.Sprintf("0x%02x", byte(code)) }

// disconnectReason names a disconnect's code: 0x00 is a normal
// disconnection here, not Success.
func disconnectReason(code packets.ReasonCode) string {
	if code == packets.NormalDisconnection {
		return "Normal disconnection"
	}
	return code.String()
}

// histogram turns a latency snapshot into a Prometheus histogram in seconds.
func histogram(d *prometheus.Desc, s *latency.Snapshot, labels ...string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(latency.Bounds))
	var cum uint64
	for i, b := range latency.Bounds {
		cum += s.Counts[i]
		buckets[b.Seconds()] = cum
	}
	return prometheus.MustNewConstHistogram(d, s.Count(), s.Sum.Seconds(), buckets, labels...)
}
