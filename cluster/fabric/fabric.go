// Package fabric carries MQTT messages between Plume nodes over core NATS
// (decision 0052): it is the broker.Fabric of a cluster node.
//
// Each message accepted on a node is published once, as an envelope
// (envelope.go), on the subject of its topic (cluster/subject) under
// "{prefix}.m", or "{prefix}.r" when retained. Each node subscribes to the
// subjects of its own filters, so NATS carries a message only to the nodes
// with a matching subscription, and every node subscribes to "{prefix}.r.>",
// so that every node's retained index has every retained message. A shared
// group is a NATS queue group with one queue subscription per node that has
// members: NATS picks the node, the node's broker picks the member.
//
// Overlapping filters on one node (a/# and a/+) make NATS send a node one copy
// per matching subscription; NATS writes the copies of one message one after
// the other (one origin's messages reach a node over one route, which NATS
// reads in order, and it delivers each message to every matching subscription
// of the connection before the next), and they arrive on one channel in that
// order, so a node keeps, per origin, the sequence number it routed last and
// drops the copies that follow it (decision 0058: the numbers are unique, not
// rising across an origin's publishers, so that Publish takes no lock).
//
// Between nodes this is core NATS: at most once. A message in flight when a
// connection drops, or one a slow node's channel cannot take, is lost for
// that node (counted). QoS 1 and 2 are honoured on each hop to and from a
// client, not between nodes; the JetStream path of the next round closes
// that gap.
package fabric

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/plumemq/plume/cluster/subject"
	"github.com/plumemq/plume/core/ratelog"
	"github.com/plumemq/plume/core/session"
)

// Local is what the fabric delivers into: *broker.Broker.
type Local interface {
	// RouteFromPeer routes a message from another node to this node's
	// non-shared subscribers (and stores it if retained).
	RouteFromPeer(m *session.Message) int
	// RouteShared hands a message to one member here of a shared group.
	RouteShared(m *session.Message, name, filter string) bool
}

// Config configures a Fabric.
type Config struct {
	// Conn is the node's NATS connection; the fabric does not close it.
	Conn *nats.Conn
	// Prefix is the first token(s) of every subject; "plume" when empty.
	// Nodes of one cluster must agree on it.
	Prefix string
	// Publish, when set, is a second connection to the same NATS system,
	// opened with nats.NoEcho(): the fabric publishes on it and takes its
	// non-shared and retained subscriptions there, so that NATS never sends
	// the node its own messages back (decision 0058). Shared groups' queue
	// subscriptions stay on Conn, which must echo: the queue group may pick
	// this node for a message it published. Nil: everything on Conn, and the
	// node's own messages come back to be dropped. The fabric does not close it.
	Publish *nats.Conn
	// Pending is how many received messages may wait for the broker before
	// NATS drops more (counted as Stats.Dropped); 65536 when zero.
	Pending int
	// Ingest, when set, carries QoS ≥ 1 messages through JetStream
	// (ingest.go, decision 0055) instead of core NATS; nil: round 1's
	// core NATS path for every QoS.
	Ingest *IngestConfig
	Log    zerolog.Logger
}

// Stats counts what the fabric did.
type Stats struct {
	Published  uint64 // envelopes sent
	TooLong    uint64 // messages whose topic has no subject (subject.ErrTooLong): not sent
	Received   uint64 // envelopes received, duplicates and our own included
	Routed     uint64 // routed to this node's non-shared subscribers
	Shared     uint64 // handed to a shared group's member here
	Duplicates uint64 // copies of a message already routed (overlapping filters)
	Own        uint64 // our own messages back (routed locally before publishing)
	Malformed  uint64 // envelopes that did not decode
	Dropped    uint64 // lost before the broker: slow consumer, or expired on the way
	// The ingest (decision 0055).
	Forwarded   uint64 // QoS ≥ 1 messages handed to the journal for the ingest
	Ingested    uint64 // other nodes' messages read from the ingest and routed
	Redelivered uint64 // of those, read again after a restart (DUP for QoS 1)
	ViaIngest   uint64 // core NATS copies of QoS ≥ 1 messages ignored: the ingest carries them
	CaughtUp    uint64 // CatchUp calls finished
	Batches     uint64 // ingest messages that packed several envelopes (decision 0061), counted in Received by envelope
}

// Fabric is a broker.Fabric over NATS. Create it before the broker (whose
// New reports the subscriptions it restores), then Start it with the broker.
type Fabric struct {
	nc       *nats.Conn     // queue subscriptions
	pub      *nats.Conn     // publishes, non-shared and retained subscriptions: Config.Publish, else nc
	ing      *ingest        // nil: no ingest (ingest.go)
	msgs     *subject.Codec // "{prefix}.m"
	retained *subject.Codec // "{prefix}.r"
	queued   *subject.Codec // "{prefix}.q": QoS ≥ 1 with the ingest on, for shared groups only
	origin   uint64
	log      zerolog.Logger
	warn     *ratelog.Limiter

	seq    atomic.Uint64 // the last sequence number sent
	bufs   sync.Pool
	stats  counters
	in     chan *nats.Msg
	done   chan struct{}
	wg     sync.WaitGroup
	closed atomic.Bool

	mu      sync.Mutex
	changes []change // interest changes waiting for the worker, in order
	wake    chan struct{}
	local   Local
	plain   map[string][]*nats.Subscription   // filter -> its subscriptions
	groups  map[groupKey][]*nats.Subscription // shared group -> its queue subscriptions
	queues  map[string]groupKey               // queue name -> group, for received messages
	last    map[uint64]uint64                 // origin -> the sequence number routed last
}

type groupKey struct{ name, filter string }

type change struct {
	filter, group string
	on            bool
}

type counters struct {
	published, tooLong, received, routed, shared, duplicates, own, malformed, dropped atomic.Uint64
	forwarded, ingested, redelivered, viaIngest, caughtUp, batches                    atomic.Uint64
}

// New returns a Fabric on cfg.Conn; it subscribes to nothing until Start.
func New(cfg Config) (*Fabric, error) {
	if cfg.Conn == nil {
		return nil, errors.New("fabric: no NATS connection")
	}
	pub := cfg.Publish
	switch {
	case pub == nil:
		pub = cfg.Conn
	case !pub.Opts.NoEcho:
		return nil, errors.New("fabric: the publishing connection must be opened with nats.NoEcho()")
	case pub == cfg.Conn:
		return nil, errors.New("fabric: the publishing connection must not be Conn: shared groups need echo")
	}
	prefix := cfg.Prefix
	if prefix == "" {
		prefix = "plume"
	}
	msgs, err := subject.New(prefix + ".m")
	if err != nil {
		return nil, fmt.Errorf("fabric: prefix: %w", err)
	}
	retained, err := subject.New(prefix + ".r")
	if err != nil {
		return nil, fmt.Errorf("fabric: prefix: %w", err)
	}
	queued, err := subject.New(prefix + ".q")
	if err != nil {
		return nil, fmt.Errorf("fabric: prefix: %w", err)
	}
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("fabric: origin id: %w", err)
	}
	pending := cfg.Pending
	if pending <= 0 {
		pending = 1 << 16
	}
	f := &Fabric{
		nc: cfg.Conn, pub: pub, msgs: msgs, retained: retained, queued: queued, origin: binary.BigEndian.Uint64(id[:]),
		log: cfg.Log, in: make(chan *nats.Msg, pending), done: make(chan struct{}), wake: make(chan struct{}, 1),
		plain: map[string][]*nats.Subscription{}, groups: map[groupKey][]*nats.Subscription{},
		queues: map[string]groupKey{}, last: map[uint64]uint64{},
	}
	f.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	if cfg.Ingest != nil {
		if f.ing, err = newIngest(f, *cfg.Ingest); err != nil {
			return nil, err
		}
	}
	f.warn = ratelog.New(10*time.Second, 1, f.reportWarnings)
	return f, nil
}

// reportWarnings writes what the rate limiter held back.
func (f *Fabric) reportWarnings(key string, held uint64) {
	f.log.Warn().Str("what", key).Uint64("suppressed", held).Msg("cluster fabric: repeated warning")
}

// Start subscribes to the retained broadcast and to the interest reported so
// far, and begins delivering received messages into local. With an ingest,
// local must be an IngestLocal, and the ingest's consumers start at the
// positions it loaded.
func (f *Fabric) Start(local Local) error {
	if f.ing != nil {
		il, ok := local.(IngestLocal)
		if !ok {
			return errors.New("fabric: the ingest needs a local broker that routes ingested messages")
		}
		if err := f.startIngest(il); err != nil {
			return err
		}
	}
	f.mu.Lock()
	f.local = local
	f.mu.Unlock()
	sub, err := f.pub.ChanSubscribe(f.retained.All(), f.in)
	if err != nil {
		f.stopIngest()
		return fmt.Errorf("fabric: subscribe %s: %w", f.retained.All(), err)
	}
	f.mu.Lock()
	f.plain[""] = []*nats.Subscription{sub} // "" is no MQTT filter: the broadcast's key
	f.mu.Unlock()
	f.wg.Add(2)
	go f.receive()
	go f.applyInterest()
	f.kick()
	return nil
}

// Close unsubscribes and stops the fabric's goroutines; the connection stays
// the caller's. Messages still in the channel are not delivered.
func (f *Fabric) Close() error {
	if !f.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(f.done)
	f.stopIngest()
	f.wg.Wait()
	f.warn.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	for _, subs := range f.plain {
		for _, s := range subs {
			if err := s.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
				errs = append(errs, err)
			}
		}
	}
	for _, subs := range f.groups {
		for _, s := range subs {
			if err := s.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
				errs = append(errs, err)
			}
		}
	}
	clear(f.plain)
	clear(f.groups)
	return errors.Join(errs...)
}

// Stats returns the fabric's counters.
func (f *Fabric) Stats() Stats {
	c := &f.stats
	s := Stats{
		Published: c.published.Load(), TooLong: c.tooLong.Load(), Received: c.received.Load(),
		Routed: c.routed.Load(), Shared: c.shared.Load(), Duplicates: c.duplicates.Load(),
		Own: c.own.Load(), Malformed: c.malformed.Load(), Dropped: c.dropped.Load(),
		Forwarded: c.forwarded.Load(), Ingested: c.ingested.Load(), Redelivered: c.redelivered.Load(),
		ViaIngest: c.viaIngest.Load(), CaughtUp: c.caughtUp.Load(), Batches: c.batches.Load(),
	}
	// What nats.go dropped because the channel was full (slow consumer).
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, subs := range f.plain {
		s.Dropped += slowDropped(subs)
	}
	for _, subs := range f.groups {
		s.Dropped += slowDropped(subs)
	}
	return s
}

func slowDropped(subs []*nats.Subscription) uint64 {
	var n uint64
	for _, sub := range subs {
		if d, err := sub.Dropped(); err == nil && d > 0 {
			n += uint64(d)
		}
	}
	return n
}

// Origin returns this fabric's id, as its envelopes carry it.
func (f *Fabric) Origin() uint64 { return f.origin }
