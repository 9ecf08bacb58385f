// Package takeover moves persistent sessions between the nodes of a Plume
// cluster (issue 14, decision 0056): a client that reconnects to another
// node resumes its session there, the node that had it lets go (its
// connection gets 0x8E Session taken over), the store fences the old
// owner's late writes, and the sessions of a node that died are adopted by
// one survivor. It implements broker.Takeover.
package takeover

import (
	"context"
	"errors"

	"github.com/plumemq/plume/cluster/node"
	"github.com/plumemq/plume/core/session"
)

// Positions are where a node stands in the cluster's ingest (decision
// 0055): per ingest shard, the stream sequence of the last message it
// routed (Shards; nil: unknown), and which of the ingest's messages it
// routed to its sessions when it accepted them rather than when it read
// them: its own, Node's, up to its ingest counter Own. A catch-up skips
// those — the session had them — and reads the rest of the range.
//
// Boot, for a dead or silent node's positions (PositionsOf), is the
// sequence of Node's latest start record when they were read: Own then
// takes in the messages of that process and the ones before it, not of
// those started after (decision 0063). 0: all of Node's.
//
// Through is local to the node taking the session: the ingest's end as it
// read it once the old owner had let go or died (Log.AwaitPositions), which
// the catch-up installs no earlier than.
type Positions struct {
	Shards  session.Positions `json:"shards,omitempty"`
	Node    string            `json:"node,omitempty"`
	Own     uint64            `json:"own,omitempty"`
	Boot    uint64            `json:"boot,omitempty"`
	Through session.Positions `json:"-"`
}

// Log is what takeover needs from the cluster's ingest (cluster/fabric,
// decision 0055). A session that moves carries its old node's positions;
// the new node delivers it what the ingest holds after them.
type Log interface {
	// Positions is where this node's ingest consumers stand now: every
	// message at or before them was routed to the local sessions (their
	// deliveries are in the journal, committed once the journal's latest
	// batch is). Read in Broker.Release's cut, where the session leaves
	// the router with the consumers paused and no publish in between: a
	// message routed before is the session's, one routed after is in the
	// range the new owner catches up. It must not wait for the consumers.
	Positions() Positions
	// PositionsOf is the last positions node committed: where a dead or
	// silent node's sessions stood.
	PositionsOf(ctx context.Context, node string) (Positions, error)
	// AwaitPositions waits until this node has routed up to from and up
	// to the ingest's end as it is now, and returns from with Through set
	// to that end. Called once the old owner let go or died, before the
	// claim: the catch-up's wait happens with nothing claimed, so that a
	// node too far behind refuses the move and leaves the session where
	// it was (a node that claimed a session and then could not catch it up
	// would strand it).
	AwaitPositions(ctx context.Context, from Positions) (Positions, error)
	// CatchUp pauses this node's ingest consumers between two messages,
	// calls install (which puts the session in the router and returns its
	// filters; nil: nothing was installed, deliver nothing), delivers every
	// message of (from, the pause point] of every shard whose topic matches
	// one of the filters in shard order (redelivered: the session may have
	// had it, DUP) but from's own messages, and lets the consumers go on. A
	// nil from.Shards means the session's old node's positions are unknown:
	// nothing is caught up.
	CatchUp(ctx context.Context, from Positions, install func() []string, deliver func(m *session.Message, redelivered bool)) error
}

// NoLog is the Log of a cluster without an ingest (round 1's core NATS
// routing): no positions, nothing to catch up. CatchUp only installs.
type NoLog struct{}

// Positions returns nil.
func (NoLog) Positions() Positions { return Positions{} }

// PositionsOf returns nil.
func (NoLog) PositionsOf(context.Context, string) (Positions, error) { return Positions{}, nil }

// AwaitPositions returns from: there is nothing to wait for.
func (NoLog) AwaitPositions(_ context.Context, from Positions) (Positions, error) { return from, nil }

// CatchUp calls install.
func (NoLog) CatchUp(_ context.Context, _ Positions, install func() []string, _ func(*session.Message, bool)) error {
	install()
	return nil
}

// Store is the cluster's session store as takeover uses it
// (store/jetstream, through an adapter in cmd/plume).
type Store interface {
	// Fetch reads the session of client whichever node owns it; an error
	// wrapping ErrNoSession when there is none.
	Fetch(ctx context.Context, client string) (Held, error)
	// Claim makes this node the owner if the session's revision is still
	// expected; an error wrapping ErrFenced when another write came between.
	// carried (nil: those it has, if any) are the positions the session
	// carries here, kept in the store with the claim until this node has
	// caught it up: Fetch returns them in Record.Carried meanwhile.
	Claim(ctx context.Context, client string, expected uint64, carried []byte) (uint64, error)
	// Owned lists the client ids of node's sessions.
	Owned(ctx context.Context, node string) ([]string, error)
	// Owner is the node that owns client's session now, read where the
	// last write is (never from a replica that may lag); an error wrapping
	// ErrNoSession when there is none.
	Owner(ctx context.Context, client string) (string, error)
	// FinishCommitsOf applies what node, dead or silent, logged and did
	// not finish applying, so that its sessions read whole.
	FinishCommitsOf(ctx context.Context, node string) error
}

// Held is a session as Store.Fetch returns it.
type Held struct {
	Record   session.Record
	Node     string // the node that wrote it last: its owner
	Revision uint64 // the fencing token Claim expects
}

// Errors a Store's methods wrap.
var (
	ErrNoSession = errors.New("no such session")
	ErrFenced    = errors.New("session claimed elsewhere")
)

// Broker is the local broker as takeover drives it (core/broker).
type Broker interface {
	Release(ctx context.Context, client string, end bool, cut func() []byte) (bool, error)
	Adopt(rec *session.Record, catchUp func(install func() []string, deliver func(*session.Message, bool)) error) (bool, error)
	// KeptIDs lists the client ids of the sessions here the store keeps.
	KeptIDs() []string
	// Forget drops a session another node owns, without touching the store.
	Forget(client string)
}

// Members is the cluster's membership (*node.Node).
type Members interface {
	Members() []node.Member
}
