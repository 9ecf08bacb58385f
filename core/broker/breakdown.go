package broker

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/plumemq/plume/core/latency"
	"github.com/plumemq/plume/core/packets"
)

// Counters by dimension, for metrics (ops/metrics): by QoS, protocol
// version, reason code and listener. A message pays an atomic add into an
// array slot chosen by its QoS, never a lock or a map write; a connection
// finds its listener's counters once, when it is accepted.

// byQoS counts per QoS level, indexed by QoS (0, 1, 2).
type byQoS [3]atomic.Uint64

func (a *byQoS) sum() uint64 { return a[0].Load() + a[1].Load() + a[2].Load() }

func (a *byQoS) load() (out [3]uint64) {
	for i := range a {
		out[i] = a[i].Load()
	}
	return out
}

// byReason counts per MQTT reason code, indexed by the code.
type byReason [256]atomic.Uint64

func (a *byReason) sum() (n uint64) {
	for i := range a {
		n += a[i].Load()
	}
	return n
}

func (a *byReason) load() map[packets.ReasonCode]uint64 {
	out := map[packets.ReasonCode]uint64{}
	for i := range a {
		if n := a[i].Load(); n != 0 {
			out[packets.ReasonCode(i)] = n
		}
	}
	return out
}

// listenerCounters are one listener's connection counters, made once per
// listener name and kept for the broker's life (a listener removed by a
// reload keeps its totals, as counters must).
type listenerCounters struct {
	connected   atomic.Int64
	connects    atomic.Uint64
	refused     atomic.Uint64
	disconnects atomic.Uint64
}

// listenerStats returns the counters of the listener called name, making
// them on its first connection.
func (s *stats) listenerStats(name string) *listenerCounters {
	if v, ok := s.listeners.Load(name); ok {
		return v.(*listenerCounters)
	}
	v, _ := s.listeners.LoadOrStore(name, &listenerCounters{})
	return v.(*listenerCounters)
}

// ListenerStats are one listener's connection counters.
type ListenerStats struct {
	// Name is the listener's name (Broker.Serve, Broker.ServeConn).
	Name string
	// Connected is the number of its clients connected now (as
	// Stats.ClientsConnected counts them).
	Connected int64
	// Connects counts its CONNECTs answered with a successful CONNACK.
	Connects uint64
	// Refused counts its CONNECTs answered with an error CONNACK.
	Refused uint64
	// Disconnects counts the ends of its connections that had connected.
	Disconnects uint64
}

// Breakdown is a snapshot of the counters of Stats split by dimension, and
// of what Stats does not carry. Totals agree with Stats: the sum over QoS of
// MessagesInByQoS is Stats.MessagesIn, and so on.
type Breakdown struct {
	// MessagesInByQoS counts PUBLISH packets received from clients, indexed
	// by their QoS (Stats.MessagesIn is the sum).
	MessagesInByQoS [3]uint64
	// MessagesOutByQoS counts PUBLISH packets queued for writing to
	// clients, indexed by the QoS they were sent at (Stats.MessagesOut is
	// the sum).
	MessagesOutByQoS [3]uint64
	// PublishBytesInByQoS counts the bytes of the PUBLISH packets received,
	// by QoS: each counts its body and two bytes of fixed header, as
	// Stats.BytesIn does.
	PublishBytesInByQoS [3]uint64
	// PublishBytesOutByQoS counts the bytes of the PUBLISH packets queued
	// for writing, by the QoS they were sent at: each whole packet as
	// encoded.
	PublishBytesOutByQoS [3]uint64
	// ConnectedByVersion is the number of clients connected now, indexed by
	// protocol version (3 for 3.1, 4 for 3.1.1, 5 for 5.0).
	ConnectedByVersion [6]int64
	// RefusedByReason counts error CONNACKs by reason code (5.0 codes;
	// 3.1.1 clients were sent the matching return code). Codes never
	// counted are absent. Their total is Stats.Refused.
	RefusedByReason map[packets.ReasonCode]uint64
	// DisconnectsByReason counts the ends of connections that had connected,
	// by the reason: the client's DISCONNECT reason (0x00 normal, 0x04
	// with will), the server's (0x8E taken over, 0x8D keep-alive timeout,
	// 0x8B shutting down, a protocol error's code), or 0x80 Unspecified
	// error when the network went away.
	DisconnectsByReason map[packets.ReasonCode]uint64
	// DroppedByHook counts messages an on-publish hook dropped, a transform
	// dropped or failed to (with a dropping failure policy), or a transform
	// gave an invalid topic. Counted in Stats.Dropped as well.
	DroppedByHook uint64
	// DroppedTooLarge counts deliveries larger than their subscriber's
	// Maximum Packet Size [MQTT-3.1.2-25]. Counted in Stats.Dropped as well.
	DroppedTooLarge uint64
	// Listeners are the listeners' counters, sorted by name.
	Listeners []ListenerStats
	// Inflight and Queued are the QoS 1/2 messages every session holds now,
	// in its in-flight window and behind it (a walk of the sessions).
	Inflight, Queued int
}

// Breakdown returns the counters by dimension. It walks the sessions to
// count what they hold, taking each one's lock briefly: call it at scrape
// rate, not per message.
func (b *Broker) Breakdown() Breakdown {
	s := &b.stats
	out := Breakdown{
		MessagesInByQoS:      s.msgsIn.load(),
		MessagesOutByQoS:     s.msgsOut.load(),
		PublishBytesInByQoS:  s.pubBytesIn.load(),
		PublishBytesOutByQoS: s.pubBytesOut.load(),
		RefusedByReason:      s.refusedBy.load(),
		DisconnectsByReason:  s.disconnectsBy.load(),
		DroppedByHook:        s.droppedHook.Load(),
		DroppedTooLarge:      s.droppedTooLarge.Load(),
	}
	for i := range s.connectedBy {
		out.ConnectedByVersion[i] = s.connectedBy[i].Load()
	}
	s.listeners.Range(func(k, v any) bool {
		l := v.(*listenerCounters)
		out.Listeners = append(out.Listeners, ListenerStats{Name: k.(string), Connected: l.connected.Load(),
			Connects: l.connects.Load(), Refused: l.refused.Load(), Disconnects: l.disconnects.Load()})
		return true
	})
	slices.SortFunc(out.Listeners, func(a, b ListenerStats) int { return strings.Compare(a.Name, b.Name) })
	b.sessions.each(func(e *entry) bool {
		st := e.Stats()
		out.Inflight += st.Inflight
		out.Queued += st.Queued
		return true
	})
	return out
}

// CommitLatency is the histogram of the store's commits (each an fsync with
// a disk store), and false without a store.
func (b *Broker) CommitLatency() (latency.Snapshot, bool) {
	if b.journal == nil {
		return latency.Snapshot{}, false
	}
	return b.journal.CommitLatency(), true
}

// connectedNow counts c in on a successful CONNACK; disconnectedNow counts
// it out, once, when it detaches. Both are connection-level, off the
// message path.
func (s *stats) connectedNow(c *client) {
	s.connects.Add(1)
	s.connectedBy[c.version%6].Add(1)
	l := s.listenerStats(c.info.Listener)
	l.connects.Add(1)
	l.connected.Add(1)
}

// connectedNowTotal is the clients connected now, all versions together.
func (s *stats) connectedNowTotal() (n int64) {
	for i := range s.connectedBy {
		n += s.connectedBy[i].Load()
	}
	return n
}

func (s *stats) disconnectedNow(c *client, reason packets.ReasonCode) {
	s.connectedBy[c.version%6].Add(-1)
	s.disconnectsBy[reason].Add(1)
	l := s.listenerStats(c.info.Listener)
	l.connected.Add(-1)
	l.disconnects.Add(1)
}

// breakdownCounters are the fields of stats that Breakdown reads.
type breakdownCounters struct {
	pubBytesIn, pubBytesOut byQoS
	connectedBy             [6]atomic.Int64 // by protocol version
	refusedBy               byReason
	disconnectsBy           byReason
	droppedHook             atomic.Uint64
	droppedTooLarge         atomic.Uint64
	listeners               sync.Map // listener name -> *listenerCounters
}
