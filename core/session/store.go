package session

import (
	"errors"
)

// FormatVersion is the version of Record and Message as stores persist them.
// It changes when a field is added, removed or changes meaning, so that a
// store never reads data of one version as another (see Store, "Versions").
const FormatVersion = 1

// Record is the durable state of one session.
type Record struct {
	// Version is the FormatVersion the record was written in: Snapshot sets
	// it, a store persists it and Load returns it.
	Version        uint32
	ID             string
	Owner          Owner
	Expiry         uint32 // Session Expiry Interval, seconds
	DisconnectedAt int64  // Unix ns; 0 while connected
	Subscriptions  []Subscription
	Inflight       []Delivery
	Queued         []Delivery
	InboundQoS2    []uint16
	Will           *Will // a will waiting for its delay, nil if none
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
}

// Errors of the Store contract, for callers to branch on with errors.Is.
var (
	// ErrClosed is returned by a Store's methods after Close.
	ErrClosed = errors.New("session store closed")
	// ErrUnknownVersion reports data in a format version the store or the
	// broker does not know: written by a newer Plume, or damaged.
	ErrUnknownVersion = errors.New("unknown session store format version")
)

// Store keeps what must survive a broker restart: session records and
// retained messages. Implementations live in store/ (decision 0001 keeps
// core/ free of storage libraries); MemoryStore is the in-process one, and
// store/storetest is the conformance suite every implementation must pass.
//
// # How the broker calls it
//
// Load once, in broker.New, before anything else. SaveSession when a
// connection of a session that outlives it ends, and for every session at
// Shutdown; DeleteSession when a session ends (expiry, clean start, found
// expired at Load). SaveRetained and DeleteRetained as a topic's retained
// message is set and cleared. Sessions are snapshots (decision 0004): what
// was queued for an offline session after its last save is lost in a crash.
// The broker never calls Close.
//
// # Concurrency
//
// Methods may be called from many goroutines at once. Calls about one client
// id, or about one retained topic, are never concurrent, and arrive in the
// order the broker made the changes: the last call is the state to keep.
// Load is called before any other method, Close after every other returned.
//
// # Durability on return
//
// A nil error means the write is as durable as the implementation promises,
// and that promise is written on the implementation: MemoryStore keeps data
// as long as the value lives; a disk store that returns nil before its
// write is synced must say so, the way Pebble's options do. A store may
// gather concurrent writes into one sync (group commit), but never returns
// nil before the write it was given is covered. Each call is atomic: after a
// crash, Load finds the state before the call or after it, never a mix.
//
// # Errors
//
// A non-nil error means the write may not have happened: the previous state
// or the new one stands. A store that can usefully retry does so before it
// returns. What the broker does (docs/decisions/0018-seams.md):
//   - Load failing fails broker.New: a broker that started without the
//     sessions it promised to keep would break them silently.
//   - A write failing is logged at error level with the client id or topic
//     (rate-limited per operation), and the broker goes on serving from
//     memory: the state is right in this process and lost at a restart.
//   - Shutdown returns the errors of the sessions it could not save.
//
// # Ownership
//
// Neither side modifies a Record or Message, or what it points to, once it
// has been passed to or returned from a Store method: a store may keep
// references, and the broker may keep what Load returned.
//
// # Versions
//
// A store persists Record.Version with each record, and FormatVersion with
// retained messages (per message or once per store). SaveSession of a
// Record whose Version the store does not know fails with ErrUnknownVersion.
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
// Shutdown's last saves need the store. Later calls fail with ErrClosed; a
// second Close returns nil.
type Store interface {
	// SaveSession stores r, replacing any record with its ID.
	SaveSession(r Record) error
	// DeleteSession removes the record of id; an absent id is not an error.
	DeleteSession(id string) error
	// SaveRetained stores m as the retained message of m.Topic, replacing any.
	SaveRetained(m Message) error
	// DeleteRetained removes the retained message of topic; none is not an error.
	DeleteRetained(topic string) error
	// Load returns everything stored, in no particular order.
	Load() (Snapshot, error)
	// Close releases the store.
	Close() error
}
