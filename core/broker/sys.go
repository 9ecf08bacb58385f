package broker

import (
	"strconv"
	"time"

	"github.com/plumemq/plume/core/session"
)

// SysTopic is one topic the broker publishes, retained, under $SYS/broker/
// every Options.SysInterval.
type SysTopic struct {
	// Topic is the topic's name after "$SYS/broker/".
	Topic string
	// Field is the Stats field the topic carries; "" for version and
	// uptime, which are not counters, and "A + B" for a sum of two.
	Field string
	// Description says what the topic carries. For a topic that carries one
	// Stats field it is that field's doc comment, word for word: $SYS,
	// docs/sys-topics.md and metrics share one text.
	Description string

	value func(b *Broker, s *Stats) string
}

// sysTopics is every $SYS topic, in the order they are published. A counter
// added to Stats gets its topic here, with the field's doc comment as its
// description (TestSysTopicsShareTheStatsDocs checks both, and that
// docs/sys-topics.md lists them).
var sysTopics = [...]SysTopic{
	{"version", "", "The broker's version (Options.Version).",
		func(b *Broker, _ *Stats) string { return b.opts.Version }},
	{"uptime", "", `Seconds since the broker started, as "N seconds".`,
		func(b *Broker, _ *Stats) string { return itoa(int64(time.Since(b.started).Seconds())) + " seconds" }},
	{"clients/connected", "ClientsConnected", "ClientsConnected is the number of clients connected now: past a successful CONNACK and not yet disconnected. Connections still in the CONNECT exchange are not counted (Broker.ClientCount counts them).",
		func(_ *Broker, s *Stats) string { return itoa(int64(s.ClientsConnected)) }},
	{"clients/total", "Sessions", "Sessions is the number of sessions the broker holds now, with or without a connection.",
		func(_ *Broker, s *Stats) string { return itoa(int64(s.Sessions)) }},
	{"clients/refused", "Refused", "Refused counts CONNECTs answered with an error CONNACK: a limit or protocol problem, a failed authentication, or a client identifier whose session belongs to another identity. A connection closed without a CONNACK (no CONNECT, or one too large) is not counted.",
		func(_ *Broker, s *Stats) string { return utoa(s.Refused) }},
	{"clients/refused/limit", "RefusedLimit", "RefusedLimit counts connections refused for a connection limit (Limits.MaxConnections, a listener's MaxConnections): answered CONNACK 0x97 Quota exceeded, or closed unread when far over it. Those answered are counted in Refused as well.",
		func(_ *Broker, s *Stats) string { return utoa(s.RefusedLimit) }},
	{"clients/refused/transport", "TransportRefused", "TransportRefused counts connections their transport refused before MQTT began: a failed TLS handshake (an unknown, expired or missing client certificate), a missing or malformed PROXY protocol header.",
		func(_ *Broker, s *Stats) string { return utoa(s.TransportRefused) }},
	{"messages/received", "MessagesIn", "MessagesIn counts PUBLISH packets received from clients, whether they were then accepted or not.",
		func(_ *Broker, s *Stats) string { return utoa(s.MessagesIn) }},
	{"messages/sent", "MessagesOut", "MessagesOut counts PUBLISH packets queued for writing to clients, retained messages and retransmissions included.",
		func(_ *Broker, s *Stats) string { return utoa(s.MessagesOut) }},
	{"messages/dropped", "Dropped", "Dropped counts messages and deliveries the broker did not pass on: dropped by an on-publish hook or a transform, refused by a session (every cause counted below), larger than the subscriber's Maximum Packet Size, or shared-subscription deliveries that found no member.",
		func(_ *Broker, s *Stats) string { return utoa(s.Dropped) }},
	{"bytes/received", "BytesIn", "BytesIn counts bytes received from connected clients: each packet after CONNECT counts its body and two bytes of fixed header.",
		func(_ *Broker, s *Stats) string { return utoa(s.BytesIn) }},
	{"bytes/sent", "BytesOut", "BytesOut counts bytes written to client sockets.",
		func(_ *Broker, s *Stats) string { return utoa(s.BytesOut) }},
	{"subscriptions/count", "Subscriptions", "Subscriptions is the number of subscriptions now, shared ones included.",
		func(_ *Broker, s *Stats) string { return itoa(int64(s.Subscriptions)) }},
	{"retained messages/count", "Retained", "Retained is the number of retained messages held now.",
		func(_ *Broker, s *Stats) string { return itoa(int64(s.Retained)) }},
	{"auth/denied", "AuthDenied + AuthzDenied", "Authentications and authorizations denied: the sum of AuthDenied and AuthzDenied.",
		func(_ *Broker, s *Stats) string { return utoa(s.AuthDenied + s.AuthzDenied) }},
	{"messages/dropped/queue_full", "DroppedQueueFull", "DroppedQueueFull counts QoS 1/2 deliveries dropped because the session already queued Limits.MaxQueued messages.",
		func(_ *Broker, s *Stats) string { return utoa(s.DroppedQueueFull) }},
	{"messages/dropped/queue_bytes", "DroppedQueueBytes", "DroppedQueueBytes counts QoS 1/2 deliveries dropped because the session would have held more than Limits.MaxQueuedBytes.",
		func(_ *Broker, s *Stats) string { return utoa(s.DroppedQueueBytes) }},
	{"messages/dropped/memory_budget", "DroppedMemoryBudget", "DroppedMemoryBudget counts QoS 1/2 deliveries dropped because all sessions together would have held more than Limits.MaxQueuedBytesTotal.",
		func(_ *Broker, s *Stats) string { return utoa(s.DroppedMemoryBudget) }},
	{"messages/dropped/qos0", "DroppedQoS0", "DroppedQoS0 counts QoS 0 deliveries to an offline session or shed by a connection whose write buffer was over Limits.MaxWriteBuffer.",
		func(_ *Broker, s *Stats) string { return utoa(s.DroppedQoS0) }},
	{"messages/queued/bytes", "QueuedBytes", "QueuedBytes is what every session holds now, in flight and queued, against Limits.MaxQueuedBytesTotal.",
		func(_ *Broker, s *Stats) string { return itoa(s.QueuedBytes) }},
	{"clients/slow_consumers", "SlowConsumers", "SlowConsumers counts connections ended for shedding QoS 0 longer than Limits.SlowConsumerTimeout.",
		func(_ *Broker, s *Stats) string { return utoa(s.SlowConsumers) }},
	{"shared/handed over", "SharedHandedOver", "SharedHandedOver counts shared-subscription deliveries moved to another member of their group because the session they waited in ended (MQTT 5.0 §4.8.2, docs/decisions/0012-delivery-under-churn.md).",
		func(_ *Broker, s *Stats) string { return utoa(s.SharedHandedOver) }},
	{"shared/dropped", "SharedDropped", "SharedDropped counts shared-subscription deliveries of an ended session that went to no other member: none was left, or a QoS 2 delivery had already been sent [MQTT-4.8.2-5]. They are counted in Dropped as well.",
		func(_ *Broker, s *Stats) string { return utoa(s.SharedDropped) }},
	{"clients/backpressure/waits", "BackpressureWaits", "BackpressureWaits counts the times a publisher's connection stopped reading because its message took a subscriber's session past its queue limit (Limits.QueueFull backpressure).",
		func(_ *Broker, s *Stats) string { return utoa(s.BackpressureWaits) }},
	{"clients/backpressure/timeouts", "BackpressureTimeouts", "BackpressureTimeouts counts the sessions a waiting publisher stopped waiting for after Limits.BackpressureMaxWait; those sessions drop, as in drop mode, until they are back under their limits.",
		func(_ *Broker, s *Stats) string { return utoa(s.BackpressureTimeouts) }},
	{"plugins/errors", "PluginErrors", "PluginErrors counts calls to the plugins that failed — a trap, a deadline, an instance busy for the whole deadline, an error the plugin returned — whatever the failure policy then decided (0 without plugins).",
		func(_ *Broker, s *Stats) string { return utoa(s.PluginErrors) }},
}

// SysTopics returns the topics the broker publishes under $SYS/broker/, in
// the order it publishes them, each with the Stats field it carries and its
// description.
func SysTopics() []SysTopic {
	out := make([]SysTopic, len(sysTopics))
	for i, t := range sysTopics {
		t.value = nil // the caller has no broker to apply it to
		out[i] = t
	}
	return out
}

func itoa(v int64) string  { return strconv.FormatInt(v, 10) }
func utoa(v uint64) string { return strconv.FormatUint(v, 10) }

// sysLoop publishes the broker's state as retained messages under
// $SYS/broker/ every interval (none while it is not positive; SetSysInterval
// changes it), until Shutdown.
func (b *Broker) sysLoop(interval time.Duration) {
	defer b.wg.Done()
	var t *time.Ticker
	var tick <-chan time.Time
	every := func(d time.Duration) {
		if t != nil {
			t.Stop()
			t, tick = nil, nil
		}
		if d > 0 {
			t = time.NewTicker(d)
			tick = t.C
			b.publishSys()
		}
	}
	every(interval)
	defer func() { every(-1) }()
	for {
		select {
		case <-b.sysStop:
			return
		case d := <-b.sysEvery:
			every(d)
		case <-tick:
			b.publishSys()
		}
	}
}

// publishSys publishes every topic of sysTopics once.
func (b *Broker) publishSys() {
	s := b.Stats()
	for i := range sysTopics {
		t := &sysTopics[i]
		b.publish(&session.Message{Topic: "$SYS/broker/" + t.Topic, Payload: []byte(t.value(b, &s)), Retain: true}, nil)
	}
	b.publishClusterSys() // clusterstatus.go
}
