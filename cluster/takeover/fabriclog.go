package takeover

import (
	"context"
	"fmt"
	"math"

	"github.com/plumemq/plume/cluster/fabric"
	"github.com/plumemq/plume/core/session"
)

// FabricLog is cluster/fabric's ingest (decision 0055) as a Log: the
// positions a moved session carries and the catch-up of what the ingest
// holds after them.
type FabricLog struct {
	Fabric *fabric.Fabric
	// Committed reads the last positions a node committed
	// (store/jetstream's PositionsOf).
	Committed func(ctx context.Context, node string) (session.Positions, error)
	// Boots are the nodes' start records (store/jetstream's LastBoot and
	// BootAfter); nil, as with a store of before decision 0063: a dead
	// node's own messages are skipped whichever of its processes sent them.
	Boots Boots
}

// Boots are the records of each node's starts, in order: where each of
// its processes began to number its ingest envelopes (decision 0063).
type Boots interface {
	// LastBoot is the sequence of node's latest start record, 0: none.
	LastBoot(ctx context.Context, node string) (uint64, error)
	// BootAfter is the counter at which node's first start after the
	// record at seq began; false when node has not started since.
	BootAfter(ctx context.Context, node string, seq uint64) (uint64, bool, error)
}

var _ Log = FabricLog{}

// Positions are read on the old owner as it lets go, at the cut
// (broker.Release): its shards, and its own-message counter (every own
// message up to it reached the session).
func (l FabricLog) Positions() Positions {
	own := l.Fabric.Forwarded()
	return Positions{Shards: l.Fabric.Positions(), Node: own.Node, Own: own.UpTo}
}

// PositionsOf is a dead or silent node's last committed positions. Each of
// its own messages in the ingest was routed to its sessions as it was
// accepted, in the commit that wrote it there: all of them are skipped —
// those of the processes it has run so far, whose latest start Boot
// names. A process it starts later does not hold the sessions taken from
// it, and routed its own messages to none of them: the catch-up finds
// where it began (CatchUp).
func (l FabricLog) PositionsOf(ctx context.Context, node string) (Positions, error) {
	var boot uint64
	if l.Boots != nil {
		// Read first: a process that starts after this read is one that
		// must not be skipped; one read after the positions could be it.
		var err error
		if boot, err = l.Boots.LastBoot(ctx, node); err != nil {
			return Positions{}, err
		}
	}
	p, err := l.Committed(ctx, node)
	if err != nil {
		return Positions{}, err
	}
	return Positions{Shards: p, Node: node, Own: math.MaxUint64, Boot: boot}, nil
}

// ownOf is what a catch-up from from skips: the old node's own messages
// up to its counter, or, for a dead or silent node's positions, those of
// its processes up to the start Boot names — every message numbered below
// the start after it (TestFaultKill9 seed 1796086050182382691: n2,
// restarted, accepted 61 messages for s2 while another node, dead, held
// it; n2 then took s2 back from positions of its own earlier process,
// skipped them as its own, and s2 never had them).
func (l FabricLog) ownOf(ctx context.Context, from Positions) (fabric.Own, error) {
	own := fabric.Own{Node: from.Node, UpTo: from.Own}
	if from.Own != math.MaxUint64 || from.Boot == 0 || l.Boots == nil {
		return own, nil
	}
	next, ok, err := l.Boots.BootAfter(ctx, from.Node, from.Boot)
	if err != nil {
		return own, err
	}
	if ok {
		own.UpTo = next - 1
	}
	return own, nil
}

// AwaitPositions waits until this node has routed up to from and to the
// ingest's end, which it returns as from.Through.
func (l FabricLog) AwaitPositions(ctx context.Context, from Positions) (Positions, error) {
	through, err := l.Fabric.AwaitPositions(ctx, from.Shards)
	if err != nil {
		return from, err
	}
	from.Through = through
	return from, nil
}

// CatchUp installs the session at a point of this node's consumers and
// delivers the range (from, that point] (fabric.CatchUp).
func (l FabricLog) CatchUp(ctx context.Context, from Positions, install func() []string, deliver func(*session.Message, bool)) error {
	if from.Shards == nil { // the old owner's positions are unknown: nothing to catch up
		install()
		return nil
	}
	// Resolved now, not when the positions were read: the range ends at
	// the ingest's end as AwaitPositions read it, and a process that wrote
	// a message into it recorded its start before.
	own, err := l.ownOf(ctx, from)
	if err != nil {
		return fmt.Errorf("whose messages the session had: %w", err)
	}
	return l.Fabric.CatchUp(ctx, from.Shards, from.Through, own, install, func(m *session.Message) { deliver(m, m.Redelivered) })
}
