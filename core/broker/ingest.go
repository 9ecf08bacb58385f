package broker

import (
	"errors"

	"github.com/plumemq/plume/core/session"
)

// Ingest is a Fabric that carries QoS ≥ 1 messages to the other nodes
// through the store (decision 0055): the broker appends each one's Forward
// op to the journal in the change that routed it here, so that the
// publisher's PUBACK or PUBREC waits for the ingest write as it waits for
// the deliveries (decision 0019). The fabric reads every node's ingest back
// and routes it here with RouteIngested. It is used only on a broker with a
// store; QoS 0 messages and shared groups stay on Fabric.Publish.
type Ingest interface {
	Fabric
	// Forwards reports whether the fabric was configured with an ingest:
	// without one, QoS ≥ 1 messages stay on Fabric.Publish.
	Forwards() bool
	// Forward returns m as the ingest takes it, or false when m cannot go
	// (its topic has no subject, it expired): m then stays on this node,
	// as on core NATS. It may keep m, read-only, until it reads m back from
	// the ingest (PendingOwn).
	Forward(m *session.Message) (*session.Forwarded, bool)
	// PendingOwn returns the messages this node forwarded and routed here
	// as it accepted them but has not read back from the ingest yet, in
	// the order accepted: a session installed now by a move missed them
	// (install, takeover.go). Called with the ingest's consumers paused.
	PendingOwn() []*session.Message
	// Pause stops the ingest's consumers between two messages until resume
	// is called: nothing is routed from the ingest meanwhile, and the
	// fabric's positions stay where they are. A session moves in or out
	// of the router under it (takeover.go), so that the positions it
	// carries are an exact cut.
	Pause() (resume func())
}

// checkIngest refuses a fabric with an ingest on a broker without a store:
// its peers ignore the core NATS copies of QoS ≥ 1 messages, and nothing
// would write them to the ingest.
func checkIngest(opts Options) error {
	if in, ok := opts.Fabric.(Ingest); ok && in.Forwards() && opts.Store == nil {
		return errors.New("broker options: a cluster fabric with an ingest needs a store (QoS 1 and 2 cross nodes through it)")
	}
	return nil
}

// forward appends m's Forward op, inside the publisher's change (accept
// holds journal.Begin), so that one Commit has m's deliveries here and
// its write to the ingest.
func (b *Broker) forward(m *session.Message) {
	if b.journal == nil {
		return
	}
	if f, ok := b.ingest.Forward(m); ok {
		b.journal.Forward(f)
	}
}

// Positions returns the ingest positions the store held when the broker
// started: where the fabric's consumers resume (nil without a store, or
// on a store that never had one).
func (b *Broker) Positions() session.Positions { return b.positions.Clone() }

// RouteIngested routes ms, read from shard of the ingest at stream
// sequence seq, to this node's non-shared subscribers as RouteFromPeer
// does, and records the node's position there in the same change: the
// position is committed with the deliveries their routing made, never
// before them (decision 0055). Several messages are one batch of the
// ingest (decision 0061): all routed in that one change, so that a crash
// midway leaves the position before the batch, and it is read again
// whole. None (messages this node published itself, routed when they were
// accepted) advances the position only. Redelivered messages (read again
// after a crash) reach QoS 1 subscribers with DUP set. The caller waits
// while the journal is backlogged, so that a slow store slows the reading,
// not loses what is read.
func (b *Broker) RouteIngested(shard uint32, seq uint64, ms ...*session.Message) int {
	j := b.journal
	if j != nil {
		if wait := j.Backlogged(); wait != nil {
			<-wait
		}
		j.Begin()
		defer j.End()
	}
	n := 0
	for _, m := range ms {
		n += b.RouteFromPeer(m)
	}
	if j != nil {
		j.Position(shard, seq)
	}
	return n
}
