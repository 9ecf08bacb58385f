package jetstream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/plumemq/plume/core/session"
)

// Owned returns the client ids of the sessions whose record node wrote
// last: what a survivor adopts when node left the cluster (decision 0056).
// It reads the whole sessions bucket with one ephemeral consumer, as Load
// does.
func (s *Store) Owned(ctx context.Context, node string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("jetstream store: %w", session.ErrClosed)
	}
	owned := map[string]bool{} // by key: a later write of a key replaces an earlier one (readAll)
	err := s.readAll(ctx, s.kvStream(), []string{s.names.kvStem + ">"}, s.names.kvBarrier(), func(m jetstream.Msg) error {
		if m.Headers().Get(hdrBarrier) != "" {
			return nil
		}
		key := strings.TrimPrefix(m.Subject(), s.names.kvStem)
		owner, _, err := readString(m.Data())
		if tombstone(m.Headers()) || err != nil || owner != node {
			delete(owned, key) // a damaged record is Load's to report, not adoption's
			return nil
		}
		owned[key] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("jetstream store: sessions of %q: %w", node, err)
	}
	ids := make([]string, 0, len(owned))
	for key := range owned {
		if id, err := untoken(key); err == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// Owner returns the node that owns client's session, as the bucket's
// leader has it: the node named by its record or by a claim not yet
// written. An error wrapping ErrNoSession when there is none. It does not
// wait for a Commit under way: a CONNECT asks it.
func (s *Store) Owner(ctx context.Context, client string) (string, error) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return "", fmt.Errorf("jetstream store: %w", session.ErrClosed)
	}
	e, err := s.getKey(ctx, token(client))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", fmt.Errorf("jetstream store: %q: %w", client, ErrNoSession)
	}
	if err != nil {
		return "", fmt.Errorf("jetstream store: owner of %q: %w", client, err)
	}
	owner, _, err := readString(e.value)
	if err != nil {
		return "", fmt.Errorf("jetstream store: owner of %q: %w", client, err)
	}
	return owner, nil
}
