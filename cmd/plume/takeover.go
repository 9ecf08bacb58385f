package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/cluster/takeover"
	"github.com/plumemq/plume/core/broker"
	jsstore "github.com/plumemq/plume/store/jetstream"
)

// startTakeover lets sessions move between the cluster's nodes (decision
// 0056): a client reconnecting to this node resumes a session another node
// has, and the store's fencing makes this node drop a session another node
// claimed; a moved session catches up from the ingest (decision 0055) what
// was published after its old node let go of it.
func (s *server) startTakeover(st *jsstore.Store, log zerolog.Logger, opts *broker.Options) error {
	mv, err := takeover.New(takeover.Config{Conn: s.cluster.Conn(), Prefix: st.Config().Prefix, Node: s.cluster.Name(),
		Store: takeoverStore{st}, Members: s.cluster, Ingest: takeover.FabricLog{Fabric: s.fabric, Committed: st.PositionsOf, Boots: st}, Log: log.With().Str("component", "takeover").Logger()})
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	s.mover, opts.Takeover = mv, mv
	return nil
}

// joinTakeover answers the other nodes' let-go requests with b, and makes
// the store tell b of sessions it lost.
func (s *server) joinTakeover(b *broker.Broker) error {
	if s.mover == nil {
		return nil
	}
	if st, ok := s.store.(*jsstore.Store); ok {
		st.SetOnLost(b.Forget)
	}
	if err := s.mover.Start(b); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	return nil
}

// takeoverStore is the JetStream store as takeover.Store.
type takeoverStore struct{ s *jsstore.Store }

func (a takeoverStore) Fetch(ctx context.Context, client string) (takeover.Held, error) {
	h, err := a.s.Fetch(ctx, client)
	if errors.Is(err, jsstore.ErrNoSession) {
		return takeover.Held{}, fmt.Errorf("%w: %w", takeover.ErrNoSession, err)
	}
	return takeover.Held{Record: h.Record, Node: h.Node, Revision: h.Revision}, err
}

func (a takeoverStore) Claim(ctx context.Context, client string, expected uint64, carried []byte) (uint64, error) {
	rev, err := a.s.ClaimCarrying(ctx, client, expected, carried)
	if errors.Is(err, jsstore.ErrFenced) {
		return 0, fmt.Errorf("%w: %w", takeover.ErrFenced, err)
	}
	return rev, err
}

func (a takeoverStore) Owned(ctx context.Context, node string) ([]string, error) {
	return a.s.Owned(ctx, node)
}

func (a takeoverStore) Owner(ctx context.Context, client string) (string, error) {
	node, err := a.s.Owner(ctx, client)
	if errors.Is(err, jsstore.ErrNoSession) {
		return "", fmt.Errorf("%w: %w", takeover.ErrNoSession, err)
	}
	return node, err
}

func (a takeoverStore) FinishCommitsOf(ctx context.Context, node string) error {
	return a.s.FinishCommitsOf(ctx, node)
}
