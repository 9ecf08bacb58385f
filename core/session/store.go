package session

import (
	"errors"
	"time"
)

// FormatVersion is the version of Record and Message as stores persist them.
// It changes when a field is added, removed or changes meaning, so that a
// store never reads data of one version as another (see Store, "Versions").
const FormatVersion = 1

// Record is the durable state of one session. As an Op (PutSession) it
// carries the session's own fields only: deliveries and inbound QoS 2 ids
// are ops of their own. As Load returns it, it carries everything.
type Record struct {
	// Version is the FormatVersion the record was written in: the broker sets
	// it, a store persists it and Load returns it.
	Version        uint32
	ID             string
	Owner          Owner
	Expiry         uint32 // Session Expiry Interval, seconds
	DisconnectedAt int64  // Unix ns; 0 while connected (or when the broker stopped without saying)
	Subscriptions  []Subscription
	// Inflight are the deliveries sent and not yet fully acknowledged
	// (PacketID set), Queued those waiting; both in Seq order.
	Inflight    []Delivery
	Queued      []Delivery
	InboundQoS2 []uint16
	Will        *Will // a will waiting for its delay, nil if none
	// Carried, set on a cluster node only, are the positions a session
	// moving between nodes carries until its new owner has caught it up
	// (decision 0056), opaque to the broker and the store: a store that
	// keeps them returns them until a PutSession without them, and Load
	// leaves such a session out.
	Carried []byte
}

// Owner is the identity a session belongs to: the one that created it. Only
// a client of the same identity resumes it (decision 0011). The zero Owner is
// the anonymous identity.
type Owner struct {
	Authenticated bool   // an authenticate hook allowed the creator; false = anonymous
	Principal     string // the creator's principal, or its username; "" when anonymous
}

// Will is a will message waiting to be published at PublishAt (Unix ns).
type Will struct {
	Msg       Message
	PublishAt int64
}

// Snapshot is everything a Store holds, as read back at start-up.
type Snapshot struct {
	Sessions []Record
	Retained []Message
	// Positions are this node's positions in the cluster's ingest (Position
	// ops): nil on a single node.
	Positions Positions
	// IDFloor is a floor for the delivery Seqs and message ids the node
	// hands out from now on (0: none), for a store whose Load leaves some of
	// the node's earlier writes out — a cluster store does not load the
	// sessions that are moving or that another node owns, and their
	// deliveries still name this node's Seqs and messages. Without it the
	// journal would hand the same ids out again, and a new message would
	// replace the one those deliveries point to.
	IDFloor uint64
}

// Positions says how far a cluster node has routed each shard of the
// cluster's ingest (decision 0055): Positions[k] is the stream sequence of
// the last message of shard k whose routing is in the committed state, 0 for
// none yet. Shards past its length are at 0.
type Positions []uint64

// At is the position of shard k, 0 when p does not reach it.
func (p Positions) At(k int) uint64 {
	if k < 0 || k >= len(p) {
		return 0
	}
	return p[k]
}

// Clone returns a copy of p that the caller may change.
func (p Positions) Clone() Positions { return append(Positions(nil), p...) }

// Forwarded is a message on its way to a cluster's other nodes, as the
// fabric encoded it: a store that keeps a cluster's ingest (store/jetstream)
// writes Data to Subject, and stores a write of one ID once, so that a
// retried Commit does not forward the message twice.
type Forwarded struct {
	Subject string
	Data    []byte
	ID      string
}

// OpKind says what an Op changes.
type OpKind uint8

// The changes the broker makes to durable state. Keys: a session by its
// client id; a delivery by client id and Seq; a message by Message.ID; an
// inbound QoS 2 id by client id and packet id; a retained message by topic.
const (
	// PutSession stores Op.Record (its own fields, not its deliveries or
	// inbound ids), replacing the record of Record.ID.
	PutSession OpKind = iota + 1
	// DeleteSession removes the record of Op.Client with every delivery and
	// inbound id stored under it. Messages are deleted by their own ops.
	DeleteSession
	// PutMessage stores Op.Message under its ID. Deliveries refer to it.
	PutMessage
	// DeleteMessage removes the message Op.MessageID.
	DeleteMessage
	// PutDelivery stores Op.Delivery under Op.Client and Delivery.Seq,
	// replacing one with that Seq (a delivery sent, or released). Its Msg,
	// nil once a QoS 2 delivery is released, is stored by reference (Msg.ID).
	PutDelivery
	// DeleteDelivery removes delivery Op.Seq of Op.Client.
	DeleteDelivery
	// PutInbound records inbound QoS 2 packet id Op.PacketID of Op.Client.
	PutInbound
	// DeleteInbound forgets it.
	DeleteInbound
	// PutRetained stores Op.Message as the retained message of its topic.
	PutRetained
	// DeleteRetained removes the retained message of Op.Topic.
	DeleteRetained
	// Forward writes Op.Forward to the cluster's ingest: a QoS ≥ 1 message
	// accepted on this node, for the other nodes (decision 0055). Only a
	// cluster store takes it; the broker appends it only with a fabric that
	// forwards through the store (broker.Ingest).
	Forward
	// Position records that this node routed shard Op.Shard of the ingest
	// up to stream sequence Op.Seq, atomically with the deliveries that
	// routing made. Load returns the last per shard (Snapshot.Positions).
	Position
)

var opKindNames = [...]string{
	PutSession: "put session", DeleteSession: "delete session",
	PutMessage: "put message", DeleteMessage: "delete message",
	PutDelivery: "put delivery", DeleteDelivery: "delete delivery",
	PutInbound: "put inbound", DeleteInbound: "delete inbound",
	PutRetained: "put retained", DeleteRetained: "delete retained",
	Forward: "forward", Position: "position",
}

func (k OpKind) String() string {
	if int(k) < len(opKindNames) && opKindNames[k] != "" {
		return opKindNames[k]
	}
	return "unknown op"
}

// Op is one change to durable state. Which fields count depends on Kind
// (see the OpKind constants); the others are zero.
type Op struct {
	Kind      OpKind
	Client    string     // DeleteSession, PutDelivery, DeleteDelivery, PutInbound, DeleteInbound
	Record    *Record    // PutSession
	Message   *Message   // PutMessage, PutRetained
	Delivery  Delivery   // PutDelivery, a copy taken when the change was made
	Seq       uint64     // DeleteDelivery; Position: the stream sequence
	MessageID uint64     // DeleteMessage
	PacketID  uint16     // PutInbound, DeleteInbound
	Topic     string     // DeleteRetained
	Forward   *Forwarded // Forward
	Shard     uint32     // Position
}

// Errors of the Store contract, for callers to branch on with errors.Is.
var (
	// ErrClosed is returned by a Store's methods after Close.
	ErrClosed = errors.New("session store closed")
	// ErrUnknownVersion reports data in a format version the store or the
	// broker does not know: written by a newer Plume, or damaged.
	ErrUnknownVersion = errors.New("unknown session store format version")
	// ErrRejected reports a Commit that fails however often it is tried: an
	// op the store cannot write (a kind it keeps no state for, a message
	// without an id) or a store broken for good. The journal gives its ops
	// up; any other error it takes as passing, and commits the ops again.
	ErrRejected = errors.New("session store rejected the commit")
)

// Store keeps what must survive a broker restart: sessions, the deliveries
// queued and in flight for them, the messages those refer to, inbound QoS 2
// packet ids and retained messages. Implementations live in store/ (decision
// 0001 keeps core/ free of storage libraries); MemoryStore is the in-process
// one, and store/storetest is the conformance suite every implementation
// must pass. Docs: docs/decisions/0019-durable-store.md.
//
// # How the broker calls it
//
// Load once, in broker.New, before anything else. Then Commit, from one
// goroutine at a time (core/journal), with every change the broker made
// since the last call, in the order it made them: each accepted QoS 1 and 2
// message that reached a session kept across restarts (a message once, a
// delivery per session that holds it), each delivery sent, released or
// acknowledged, each session created, subscribed, disconnected or ended,
// each inbound QoS 2 id, each retained message set or cleared. The broker
// acknowledges a message (PUBACK, PUBREC), a subscription (SUBACK) or a
// PUBREL (PUBCOMP) only after the Commit that holds the change returned nil
// — or, for a QoS 1 message, once every kept session that took it has
// acknowledged it, when there is nothing left to keep: what Commit promises
// is what the broker promises. The broker never calls Close.
//
// # Durability on return
//
// Commit returning nil means the ops are as durable as the implementation
// promises, and that promise is written on the implementation: MemoryStore
// keeps data as long as the value lives; a disk store syncs before it
// returns, or says how long after it returns a crash may still lose the
// write. Each Commit is atomic: after a crash, Load finds the state before
// it or after it, never part of it; and Commits are durable in order.
//
// # What Load returns
//
// Sessions with their deliveries split into Inflight (PacketID set) and
// Queued, each in Seq order, every delivery's Msg pointing at the message
// its PutDelivery referred to (deliveries of one message share one
// *Message), and inbound ids; retained messages. A delivery whose session
// has no record, or whose message is missing, is not returned; a message no
// delivery refers to is not returned either. The store may delete such
// leftovers as it loads (a crash between the ops of two Commits leaves
// none, but a failed Commit may).
//
// # Errors
//
// A non-nil error from Commit means none of its ops may have happened
// (atomicity) or, for a store that cannot tell, that some may have. A store
// that can usefully retry does so before it returns. What the broker does
// (docs/decisions/0059-a-failed-commit-is-committed-again.md): it gives the
// same ops again, followed by the ones made since, in the next Commit, until
// one returns nil; so a store must take ops that already happened, in part
// or whole, again (puts and deletes of a key are; a Forward carries its id).
// The answers waiting for them wait. Only an error wrapping ErrRejected,
// ErrUnknownVersion or ErrClosed makes it give the ops up: the
// acknowledgements waiting for them are withheld and their connections
// closed, so that clients resend; the broker goes on serving from memory.
// Load failing fails broker.New: a broker that started without the
// sessions it promised to keep would break them silently.
//
// # Ownership
//
// Neither side modifies an Op's Record or Message, or what they point to,
// once they have been passed to or returned from a Store method: a store
// may keep references, and the broker may keep what Load returned. The ops
// slice itself is the caller's again once Commit returns.
//
// # Versions
//
// A store persists Record.Version with each record, and FormatVersion with
// messages (per message or once per store). A PutSession of a Record whose
// Version the store does not know fails the Commit with ErrUnknownVersion.
// Load of data in a version the store does not know fails with an error
// wrapping ErrUnknownVersion rather than guess or skip it: the broker then
// refuses to start, and the data stays for the binary that wrote it. A
// store that can read an older version converts it when loading, and
// returns records in the version it converted to.
//
// # Close
//
// Close releases what the store holds (files, locks, connections); whoever
// opened the store calls it after broker.Shutdown has returned, since
// Shutdown's last commits need the store. Later calls fail with ErrClosed; a
// second Close returns nil.
type Store interface {
	// Load returns everything stored.
	Load() (Snapshot, error)
	// Commit applies ops atomically and in order.
	Commit(ops []Op) error
	// Close releases the store.
	Close() error
}

// A WindowedStore promises less than durability on return: a crash may lose
// the changes of the last Window, no more. The broker then answers clients
// without waiting for commits, and commits at least every Window/2; the
// store must make what it was given durable within the other half.
// (store/disk in async mode.) Window 0 means durable on return, as Store.
type WindowedStore interface {
	Store
	Window() time.Duration
}

// WindowOf is s's loss window: 0 for a store durable on return.
func WindowOf(s Store) time.Duration {
	if w, ok := s.(WindowedStore); ok {
		return max(w.Window(), 0)
	}
	return 0
}
