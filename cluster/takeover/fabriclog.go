package takeover

import (
	"context"
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
// accepted, in the commit that wrote it there: all of them are skipped.
func (l FabricLog) PositionsOf(ctx context.Context, node string) (Positions, error) {
	p, err := l.Committed(ctx, node)
	if err != nil {
		return Positions{}, err
	}
	return Positions{Shards: p, Node: node, Own: math.MaxUint64}, nil
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
	own := fabric.Own{Node: from.Node, UpTo: from.Own}
	return l.Fabric.CatchUp(ctx, from.Shards, from.Through, own, install, func(m *session.Message) { deliver(m, m.Redelivered) })
}
