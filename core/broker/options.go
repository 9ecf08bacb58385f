package broker

import (
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/session"
)

// Options configure a Broker. The zero value of every field means "the
// default", which Defaults fills in; the defaults live here and nowhere else.
type Options struct {
	Log   zerolog.Logger
	Hooks hooks.Hooks   // nil: no plugins
	Store session.Store // nil: a MemoryStore
	// AllowAnonymous admits clients that no authenticate hook decided on. The
	// binary's embedded default sets it for a loopback listener only.
	AllowAnonymous bool
	// SessionOwnerMismatch is what a client gets that connects with the client
	// id of a session another identity owns (decision 0011): refused (the
	// default) or a fresh session in place of the other's offline one.
	SessionOwnerMismatch OwnerMismatch
	// HookFailure is how an error returned by Hooks is read; nil means
	// hooks.FailClosed (deny the client, refuse the message). A hooks.Chain
	// applies each plugin's own policy and returns no errors.
	HookFailure *hooks.Failure

	Limits Limits
	// SysInterval is how often $SYS topics are published; negative disables them.
	SysInterval time.Duration
	// Version is reported on $SYS/broker/version.
	Version string
	// ParkIdleAfter is how long a connection may send nothing before its
	// goroutine is released and its socket waits in the idle poller (Linux).
	// Zero means the default; negative disables parking.
	ParkIdleAfter time.Duration
}

// Limits bound what one client may cost the broker.
type Limits struct {
	MaxPacketSize        uint32        // bytes, both ways; 0 = default
	MaxTopicLength       int           // bytes
	MaxTopicLevels       int           // levels
	MaxSubscriptions     int           // per client
	MaxInflight          uint16        // outbound QoS 1/2 window per client (and our Receive Maximum)
	MaxQueued            int           // messages queued per session while offline or backed up
	MaxWriteBuffer       int           // bytes pending on a connection before QoS 0 is shed
	MaxKeepAlive         uint16        // seconds; a larger client keep-alive is lowered (5.0 Server Keep Alive)
	MaxSessionExpiry     uint32        // seconds; caps the client's Session Expiry Interval
	TopicAliasMaximum    uint16        // inbound aliases we accept per connection
	OutboundTopicAliases bool          // assign topic aliases on messages we send
	MaxClientIDLength    int           // bytes
	ConnectTimeout       time.Duration // to receive CONNECT after the TCP accept
	WriteTimeout         time.Duration // a write that takes longer closes the connection
	// MaxConnectSize bounds the CONNECT (and AUTH) packets of a client not yet
	// authenticated: a stranger cannot make the broker hold more than this.
	MaxConnectSize uint32
	// PacketReadTimeout is how long a packet that has begun to arrive may go
	// without a byte before the connection is closed; the keep-alive bounds it
	// too. It measures progress, not time since the packet's first byte.
	PacketReadTimeout time.Duration
	// MaxPartialPacketBytes bounds the bytes held, broker-wide, for packets
	// whose bodies are still arriving; a connection that would exceed it is
	// closed with 0x97 Quota exceeded. Negative: no bound.
	MaxPartialPacketBytes int64
	// DrainAfterDisconnect is how long the broker keeps reading (and
	// discarding) after it sent a DISCONNECT or refusing CONNACK, so that a
	// client still writing reads the reason instead of a reset. Negative: none.
	DrainAfterDisconnect time.Duration
	MaxQoS               *byte // highest QoS the broker accepts; nil = 2
	RetainAvailable      *bool // nil = true

	// MaxQueuedBytes bounds the bytes (topic + payload) of the QoS 1 and 2
	// messages one session holds, in flight and queued; negative = no bound.
	// Past it, or past MaxQueued, the newest message is dropped.
	MaxQueuedBytes int64
	// MaxQueuedBytesTotal bounds the same bytes summed over every session (a
	// message queued for n sessions counts n times); negative = no bound.
	MaxQueuedBytesTotal int64
	// SlowConsumerTimeout is how long a connection may go on shedding QoS 0
	// messages (its write buffer over MaxWriteBuffer, never catching up)
	// before it is disconnected with 0x97 Quota exceeded; negative = never.
	SlowConsumerTimeout time.Duration
	// QueueFull is what a publisher's message does to a session over
	// MaxQueued or MaxQueuedBytes: dropped (the default) or, with
	// QueueFullBackpressure, taken and the publisher slowed (backpressure.go).
	QueueFull QueueFullPolicy
	// BackpressureMaxWait bounds how long a publisher's reader waits for the
	// sessions it overfilled to make room (QueueFullBackpressure).
	BackpressureMaxWait time.Duration
}

// Defaults returns o with every zero field set to its default.
func (o Options) Defaults() Options {
	l := &o.Limits
	setDefault(&l.MaxPacketSize, 1<<20)
	setDefault(&l.MaxTopicLength, 65535)
	setDefault(&l.MaxTopicLevels, 128)
	setDefault(&l.MaxSubscriptions, 1000)
	setDefault(&l.MaxInflight, 1024)
	setDefault(&l.MaxQueued, 10000)
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
	if o.Store == nil {
		o.Store = session.NewMemoryStore()
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

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}
