package broker

import (
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/session"
	"github.com/plumemq/plume/core/setting"
)

// Options configure a Broker. The zero value of every field means "the
// default", which Defaults fills in; the defaults live here and nowhere else,
// and so do the rules (Validate). The `yaml` tags are the keys of plume.yaml:
// the binary decodes its file straight into this struct
// (docs/decisions/0017-config-ownership.md); fields tagged "-" are wired in
// code, not read from the file.
type Options struct {
	Log   zerolog.Logger `yaml:"-"`
	Hooks hooks.Hooks    `yaml:"-"` // nil: no plugins
	// Store keeps sessions and retained messages across restarts; nil keeps
	// them in memory only, at no cost on the message path. With a store,
	// answers wait for their changes to be durable (durable.go).
	Store session.Store `yaml:"-"`
	// AllowAnonymous admits clients that no authenticate hook decided on. The
	// binary reads allow_anonymous itself: unset, its default depends on the
	// listeners (loopback only), which the broker does not know.
	AllowAnonymous bool `yaml:"-"`
	// Listeners are the rules of each named listener (admission.go); a
	// listener not named here follows AllowAnonymous and has no connection
	// limit of its own. The binary fills it from its listeners section.
	Listeners map[string]ListenerPolicy `yaml:"-"`
	// SessionOwnerMismatch is what a client gets that connects with the client
	// id of a session another identity owns (decision 0011): refused (the
	// default) or a fresh session in place of the other's offline one.
	SessionOwnerMismatch OwnerMismatch `yaml:"session_owner_mismatch"`
	// HookFailure is how an error returned by Hooks is read; nil means
	// hooks.FailClosed (deny the client, refuse the message). A hooks.Chain
	// applies each plugin's own policy and returns no errors.
	HookFailure *hooks.Failure `yaml:"-"`
	// Observer is told of connections, refusals, denials, takeovers and
	// disconnections (observe.go), for an audit log; nil: none.
	Observer Observer `yaml:"-"`
	// Fabric carries messages to and from the other nodes of a cluster
	// (fabric.go, decision 0052); nil: one node, at the cost of one nil test.
	Fabric Fabric `yaml:"-"`
	// Quorum is a cluster node's verdict on its JetStream quorum, kept
	// current by the node: false refuses QoS ≥ 1 publishes and persistent
	// sessions (partition.go, decision 0057); nil: one node, never refused.
	Quorum *atomic.Bool `yaml:"-"`
	// ServerReference, on a cluster node, is where Shutdown sends 5.0
	// clients: DISCONNECT 0x9C Use another server with this Server
	// Reference instead of 0x8B (drain.go); "" sends 0x8B.
	ServerReference string `yaml:"-"`
	// Cluster reports a cluster node's membership and health for $SYS,
	// the admin API and /metrics (clusterstatus.go); nil: no cluster.
	Cluster func() ClusterStatus `yaml:"-"`
	// Takeover moves persistent sessions between the nodes of a cluster
	// (takeover.go, decision 0056); nil: one node, at one nil test a CONNECT.
	Takeover Takeover `yaml:"-"`

	Limits Limits `yaml:"limits"`
	// SysInterval is how often $SYS topics are published; negative disables them.
	SysInterval time.Duration `yaml:"sys_interval"`
	// Version is reported on $SYS/broker/version.
	Version string `yaml:"-"`
	// ParkIdleAfter is how long a connection may send nothing before its
	// goroutine is released and its socket waits in the idle poller (Linux).
	// Zero means the default; negative disables parking.
	ParkIdleAfter time.Duration `yaml:"-"`
}

// Limits bound what one client may cost the broker. Zero means the default;
// the `yaml` tags are the keys of plume.yaml's limits section.
type Limits struct {
	MaxPacketSize        uint32 `yaml:"max_packet_size"`        // bytes, both ways; 0 = default
	MaxTopicLength       int    `yaml:"max_topic_length"`       // bytes
	MaxTopicLevels       int    `yaml:"max_topic_levels"`       // levels
	MaxSubscriptions     int    `yaml:"max_subscriptions"`      // per client
	MaxInflight          uint16 `yaml:"max_inflight"`           // outbound QoS 1/2 window per client (and our Receive Maximum)
	MaxQueued            int    `yaml:"max_queued"`             // messages queued per session while offline or backed up
	MaxWriteBuffer       int    `yaml:"max_write_buffer"`       // bytes pending on a connection before QoS 0 is shed
	MaxKeepAlive         uint16 `yaml:"max_keep_alive"`         // seconds; a larger client keep-alive is lowered (5.0 Server Keep Alive)
	MaxSessionExpiry     uint32 `yaml:"max_session_expiry"`     // seconds; caps the client's Session Expiry Interval
	TopicAliasMaximum    uint16 `yaml:"topic_alias_maximum"`    // inbound aliases we accept per connection
	OutboundTopicAliases bool   `yaml:"outbound_topic_aliases"` // assign topic aliases on messages we send
	MaxClientIDLength    int    `yaml:"max_client_id_length"`   // bytes
	// MaxConnections bounds the connections open at once, broker-wide, all
	// listeners together (0 = no limit); admission.go says what a client
	// over it gets.
	MaxConnections int           `yaml:"max_connections"`
	ConnectTimeout time.Duration `yaml:"connect_timeout"` // to receive CONNECT after the TCP accept
	WriteTimeout   time.Duration `yaml:"write_timeout"`   // a write that takes longer closes the connection
	// MaxConnectSize bounds the CONNECT (and AUTH) packets of a client not yet
	// authenticated: a stranger cannot make the broker hold more than this.
	MaxConnectSize uint32 `yaml:"max_connect_size"`
	// PacketReadTimeout is how long a packet that has begun to arrive may go
	// without a byte before the connection is closed; the keep-alive bounds it
	// too. It measures progress, not time since the packet's first byte.
	PacketReadTimeout time.Duration `yaml:"packet_read_timeout"`
	// MaxPartialPacketBytes bounds the bytes held, broker-wide, for packets
	// whose bodies are still arriving; a connection that would exceed it is
	// closed with 0x97 Quota exceeded. It cannot be switched off: these
	// bytes are what strangers can make the broker allocate (decision 0010).
	MaxPartialPacketBytes setting.ByteSize `yaml:"max_partial_packet_bytes"`
	// DrainAfterDisconnect is how long the broker keeps reading (and
	// discarding) after it sent a DISCONNECT or refusing CONNACK, so that a
	// client still writing reads the reason instead of a reset. Negative: none.
	DrainAfterDisconnect time.Duration `yaml:"drain_after_disconnect"`
	MaxQoS               *byte         `yaml:"max_qos"`          // highest QoS the broker accepts; nil = 2
	RetainAvailable      *bool         `yaml:"retain_available"` // nil = true

	// MaxQueuedBytes bounds the bytes of the QoS 1 and 2 messages one
	// session holds, in flight and queued: topic, payload and the message's
	// place in the queue (session.DeliverySlot); negative = no bound.
	// Past it, or past MaxQueued, the newest message is dropped.
	MaxQueuedBytes setting.ByteSize `yaml:"max_queued_bytes"`
	// MaxQueuedBytesTotal bounds the same bytes summed over every session (a
	// message queued for n sessions counts n times); negative = no bound.
	MaxQueuedBytesTotal setting.ByteSize `yaml:"max_queued_bytes_total"`
	// SlowConsumerTimeout is how long a connection may go on shedding QoS 0
	// messages (its write buffer over MaxWriteBuffer, never catching up)
	// before it is disconnected with 0x97 Quota exceeded; negative = never.
	SlowConsumerTimeout time.Duration `yaml:"slow_consumer_timeout"`
	// QueueFull is what a publisher's message does to a session over
	// MaxQueued or MaxQueuedBytes: dropped (the default) or, with
	// QueueFullBackpressure, taken and the publisher slowed (backpressure.go).
	QueueFull QueueFullPolicy `yaml:"queue_full"`
	// BackpressureMaxWait bounds how long a publisher's reader waits for the
	// sessions it overfilled to make room (QueueFullBackpressure). Not in the
	// file: decision 0012 says why one second serves.
	BackpressureMaxWait time.Duration `yaml:"-"`
}

// Defaults returns o with every zero field set to its default.
func (o Options) Defaults() Options {
	l := &o.Limits
	setDefault(&l.MaxPacketSize, 1<<20)
	setDefault(&l.MaxTopicLength, 65535)
	setDefault(&l.MaxTopicLevels, 128)
	setDefault(&l.MaxSubscriptions, 1000)
	setDefault(&l.MaxInflight, 1024)
	// Ten seconds of a 10,000-device fleet for one back-end subscriber: for
	// readings of a few hundred bytes max_queued_bytes binds first, and the
	// count bounds only swarms of tiny messages (decision 0038).
	setDefault(&l.MaxQueued, 100000)
	setDefault(&l.MaxWriteBuffer, 4<<20)
	setDefault(&l.MaxKeepAlive, 3600)
	setDefault(&l.MaxSessionExpiry, 7*24*3600)
	setDefault(&l.TopicAliasMaximum, 64)
	setDefault(&l.MaxClientIDLength, 256)
	setDefault(&l.ConnectTimeout, 10*time.Second)
	setDefault(&l.WriteTimeout, 30*time.Second)
	setDefault(&l.MaxConnectSize, 64<<10)
	setDefault(&l.PacketReadTimeout, 30*time.Second)
	setDefault(&l.MaxPartialPacketBytes, 256<<20)
	setDefault(&l.DrainAfterDisconnect, 2*time.Second)
	setDefault(&l.MaxQueuedBytes, 64<<20)
	setDefault(&l.MaxQueuedBytesTotal, 1<<30)
	setDefault(&l.SlowConsumerTimeout, 30*time.Second)
	setDefault(&l.BackpressureMaxWait, time.Second)
	if l.MaxQoS == nil {
		q := byte(2)
		l.MaxQoS = &q
	}
	if l.RetainAvailable == nil {
		t := true
		l.RetainAvailable = &t
	}
	if o.SysInterval == 0 {
		o.SysInterval = 10 * time.Second
	}
	if o.ParkIdleAfter == 0 {
		o.ParkIdleAfter = 2 * time.Second
	}
	if o.HookFailure == nil {
		f := hooks.FailClosed
		o.HookFailure = &f
	}
	if o.Version == "" {
		o.Version = "plume-dev"
	}
	return o
}

// Validate reports the first option the broker cannot run with, as an
// *setting.Error naming its key as plume.yaml spells it. Zero values are
// valid (Defaults fills them in); New calls Validate, so these rules hold for
// a broker embedded in Go as much as for one read from a file.
func (o *Options) Validate() error {
	if o.SessionOwnerMismatch > OwnerMismatchFresh {
		return setting.Errorf("session_owner_mismatch", "%d is not refuse or fresh", o.SessionOwnerMismatch)
	}
	return setting.In("limits", o.Limits.Validate())
}

// Validate reports the first limit the broker cannot run with (see
// Options.Validate).
func (l *Limits) Validate() error {
	const useZero = "must not be negative (use 0 for the default)"
	switch {
	// A negative deadline would close every connection at once.
	case l.ConnectTimeout < 0:
		return setting.Errorf("connect_timeout", useZero)
	case l.WriteTimeout < 0:
		return setting.Errorf("write_timeout", useZero)
	case l.PacketReadTimeout < 0:
		return setting.Errorf("packet_read_timeout", useZero)
	case l.MaxPartialPacketBytes < 0:
		return setting.Errorf("max_partial_packet_bytes", useZero)
	case l.MaxConnections < 0:
		return setting.Errorf("max_connections", "must not be negative (use 0 for no limit)")
	case l.MaxQoS != nil && *l.MaxQoS > 2:
		return setting.Errorf("max_qos", "%d is not a QoS (0, 1 or 2)", *l.MaxQoS)
	case l.MaxQueuedBytes > 0 && l.MaxQueuedBytesTotal > 0 && l.MaxQueuedBytesTotal < l.MaxQueuedBytes:
		return setting.Errorf("max_queued_bytes_total", "%d is below max_queued_bytes (%d): one session could never fill its own queue",
			l.MaxQueuedBytesTotal, l.MaxQueuedBytes)
	}
	return nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}
