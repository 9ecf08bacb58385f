package main

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/cluster/fabric"
	"github.com/plumemq/plume/cluster/takeover"
	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/session"
	jsstore "github.com/plumemq/plume/store/jetstream"
)

// startTakeover lets sessions move between the cluster's nodes (decision
// 0056): a client reconnecting to this node resumes a session another node
// has, and the store's fencing makes this node drop a session another node
// claimed; a moved session catches up from the ingest (decision 0055) what
// was published after its old node let go of it.
func (s *server) startTakeover(st *jsstore.Store, log zerolog.Logger, opts *broker.Options) error {
	mv, err := takeover.New(takeover.Config{Conn: s.cluster.Conn(), Prefix: st.Config().Prefix, Node: s.cluster.Name(),
		Store: takeoverStore{st}, Members: s.cluster, Ingest: takeoverLog{s.fabric, st}, Log: log.With().Str("component", "takeover").Logger()})
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

func (a takeoverStore) Claim(ctx context.Context, client string, expected uint64) (uint64, error) {
	rev, err := a.s.Claim(ctx, client, expected)
	if errors.Is(err, jsstore.ErrFenced) {
		return 0, fmt.Errorf("%w: %w", takeover.ErrFenced, err)
	}
	return rev, err
}

func (a takeoverStore) Owned(ctx context.Context, node string) ([]string, error) {
	return a.s.Owned(ctx, node)
}

func (a takeoverStore) FinishCommitsOf(ctx context.Context, node string) error {
	return a.s.FinishCommitsOf(ctx, node)
}

// takeoverLog is the fabric's ingest (decision 0055) as takeover.Log: the
// positions a moved session carries and the catch-up of what the ingest
// holds after them.
type takeoverLog struct {
	f  *fabric.Fabric
	st *jsstore.Store
}

// Positions are read on the old owner as it lets go: its shards, and its
// own-message cut (every own message up to it reached the session).
func (l takeoverLog) Positions() takeover.Positions {
	own := l.f.Forwarded()
	return takeover.Positions{Shards: l.f.Positions(), Node: own.Node, Own: own.UpTo}
}

// PositionsOf is a dead or silent node's last committed positions. Each of
// its own messages in the ingest was routed to its sessions as it was
// accepted, in the commit that wrote it there: all of them are skipped.
func (l takeoverLog) PositionsOf(ctx context.Context, node string) (takeover.Positions, error) {
	p, err := l.st.PositionsOf(ctx, node)
	if err != nil {
		return takeover.Positions{}, err
	}
	return takeover.Positions{Shards: p, Node: node, Own: math.MaxUint64}, nil
}

func (l takeoverLog) AwaitPositions(ctx context.Context, from takeover.Positions) error {
	return l.f.AwaitPositions(ctx, from.Shards)
}

func (l takeoverLog) CatchUp(ctx context.Context, from takeover.Positions, install func() []string, deliver func(*session.Message, bool)) error {
	if from.Shards == nil { // the old owner's positions are unknown: nothing to catch up
		install()
		return nil
	}
	own := fabric.Own{Node: from.Node, UpTo: from.Own}
	return l.f.CatchUp(ctx, from.Shards, own, install, func(m *session.Message) { deliver(m, m.Redelivered) })
}
