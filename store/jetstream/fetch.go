package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/plumemq/plume/core/session"
)

// Errors of Fetch and Claim, for callers to branch on with errors.Is.
var (
	// ErrNoSession: the bucket holds no session for the client id.
	ErrNoSession = errors.New("no such session")
	// ErrFenced: the session's revision is not the one expected — another
	// node wrote it since. The caller lost the race for the client.
	ErrFenced = errors.New("session revision changed: claimed elsewhere")
)

// Session is one session as Fetch returns it.
type Session struct {
	// Record is the session with its deliveries and inbound QoS 2 ids,
	// as Load returns it.
	Record session.Record
	// Node wrote the record last: the session's owner.
	Node string
	// Revision is the record's revision in the sessions bucket: the
	// fencing token Claim expects.
	Revision uint64
}

// Fetch reads one session by client id, whichever node owns it: what a
// node needs when a client moves to it. It reads the record, then the
// client's subjects of its shard with one ephemeral consumer, then each
// message they refer to by subject, of whichever node stored it.
// Deliveries whose message is missing are left out, as Load leaves them
// out.
func (s *Store) Fetch(ctx context.Context, client string) (Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Session{}, session.ErrClosed
	}
	e, err := s.getKey(ctx, token(client))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Session{}, fmt.Errorf("jetstream store: %q: %w (%v)", client, ErrNoSession, err)
	}
	if err != nil {
		return Session{}, fmt.Errorf("jetstream store: session %q: %w", client, err)
	}
	a := newAssembly()
	node, err := a.session(s, s.names.sessionSubject(client), e.value, nil, true)
	if err != nil {
		return Session{}, fmt.Errorf("jetstream store: %w", err)
	}
	k := s.names.shardOf(client)
	stem := s.names.prefix + ".q." + fmt.Sprint(k) + "."
	err = s.readAll(ctx, s.queues[k], []string{s.names.clientPrefix(client) + ">"}, s.names.queueBarrier(k), func(m jetstream.Msg) error {
		return a.queued(strings.TrimPrefix(m.Subject(), stem), m.Data(), m.Headers())
	})
	if err != nil {
		return Session{}, fmt.Errorf("jetstream store: queue of %q: %w", client, err)
	}
	var deliveries map[string]loadedDelivery
	if q := a.clients[client]; q != nil {
		deliveries = q.deliveries
	}
	for _, d := range deliveries {
		key := msgKey{token(d.msgNode), d.msgID}
		if _, ok := a.messages[key]; ok || d.msgID == 0 {
			continue
		}
		m, err := s.queues[s.names.messageShard(d.msgID)].GetLastMsgForSubject(ctx, s.names.messageSubject(key.node, d.msgID))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return Session{}, fmt.Errorf("jetstream store: message %d of %q: %w", d.msgID, client, err)
		}
		if !tombstone(m.Header) {
			a.messages[key] = m.Data
		}
	}
	recs, err := a.records(node, true)
	if err != nil {
		return Session{}, fmt.Errorf("jetstream store: session %q: %w", client, err)
	}
	if len(recs) == 0 { // claimed, never written
		return Session{}, fmt.Errorf("jetstream store: %q (claimed by %q at revision %d, not written since): %w", client, node, e.revision, ErrNoSession)
	}
	return Session{Record: recs[0], Node: node, Revision: e.revision}, nil
}

// Claim makes this node the owner of client's session if the session's
// revision is still expected (0: if there is no session), and returns the
// new revision. It fails with ErrFenced when another write came between —
// another node claimed or changed the session. The record's fields stay as
// they are; this node's later writes of the session are conditional on the
// revision Claim returned, and another node's fail (fence.go).
func (s *Store) Claim(ctx context.Context, client string, expected uint64) (uint64, error) {
	return s.ClaimCarrying(ctx, client, expected, nil)
}

// ClaimCarrying is Claim writing, with the claim, the positions the session
// carries to this node (carried.go; nil keeps those it carries already):
// if this node dies before it has delivered the session their range and
// committed it, the next owner starts from them.
func (s *Store) ClaimCarrying(ctx context.Context, client string, expected uint64, carried []byte) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, session.ErrClosed
	}
	key := token(client)
	if expected == 0 {
		rev, err := s.kv.Create(ctx, key, appendString(nil, s.cfg.Node))
		if errors.Is(err, jetstream.ErrKeyExists) {
			return 0, fmt.Errorf("jetstream store: claim of %q: %w", client, ErrFenced)
		}
		if err != nil {
			return 0, fmt.Errorf("jetstream store: claim of %q: %w", client, err)
		}
		s.owned(key, rev)
		return rev, nil
	}
	e, err := s.getKey(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || err == nil && e.revision != expected {
		// The record changed since the caller read it: claiming it would
		// write what this read has under the revision the caller expects.
		return 0, fmt.Errorf("jetstream store: claim of %q at revision %d: %w", client, expected, ErrFenced)
	}
	if err != nil {
		return 0, fmt.Errorf("jetstream store: claim of %q: %w", client, err)
	}
	v, err := parseSessionValue(e.value)
	if err != nil {
		return 0, fmt.Errorf("jetstream store: session %q: %w", client, err)
	}
	// The write is conditional on the server too.
	rev, err := s.kv.Update(ctx, key, v.claimedBy(s.cfg.Node, carried), expected)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return 0, fmt.Errorf("jetstream store: claim of %q at revision %d: %w", client, expected, ErrFenced)
		}
		return 0, fmt.Errorf("jetstream store: claim of %q: %w", client, err)
	}
	s.owned(key, rev)
	return rev, nil
}
