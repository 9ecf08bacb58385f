package main

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/cluster/fabric"
	"github.com/plumemq/plume/cluster/node"
	"github.com/plumemq/plume/cmd/plume/internal/config"
	"github.com/plumemq/plume/core/broker"
	jsstore "github.com/plumemq/plume/store/jetstream"
)

// startCluster makes the process a node of the cluster cfg describes,
// before the store and the broker start, and gives the broker the routing
// fabric over the node's connection (decision 0052): messages cross to the
// nodes with matching subscriptions. Without a cluster section it does
// nothing, and the broker runs on its own (opts.Fabric stays nil).
func (s *server) startCluster(cfg config.Config, log zerolog.Logger, opts *broker.Options) error {
	if cfg.Cluster == nil {
		return nil
	}
	nc := *cfg.Cluster
	nc.DataDir = cfg.ClusterDataDir()
	n, err := node.Start(context.Background(), nc, log.With().Str("component", "cluster").Logger())
	if err != nil {
		return err // it says what it waited for
	}
	// The store and the fabric's ingest share its prefix, shards and node
	// name (decision 0055): QoS ≥ 1 messages go through the store's ingest
	// streams, read back by every node's fabric.
	s.jsCfg = jsstore.Config{Node: n.Name(), Replicas: n.Replicas(), ReplayWindow: nc.ReplayWindow, SingleForwards: nc.SingleForwards}
	// A node restarted after a kill -9 opens its store while the streams
	// elect leaders; Open asks again until this (decision 0059).
	s.jsOpenFor = max(clusterStoreOpenWait, nc.StartTimeout)
	if err := s.jsCfg.Validate(); err != nil {
		s.closeNode(n)
		return fmt.Errorf("cluster: %w", err)
	}
	// Publishes go out on a NoEcho connection, so that NATS does not send the
	// node its own messages back (decision 0058).
	pc, err := n.PublishConn()
	if err != nil {
		s.closeNode(n)
		return err
	}
	// The fabric's core NATS subjects under a prefix of their own: the
	// store's retained stream takes every subject under PREFIX.r, and would
	// store the fabric's retained broadcast (PREFIX.r.…) as if it were its
	// own, which Load then reads as damaged data.
	f, err := fabric.New(fabric.Config{Conn: n.Conn(), Publish: pc, Prefix: s.jsCfg.Prefix + ".f", Log: log.With().Str("component", "fabric").Logger(),
		Ingest: &fabric.IngestConfig{Prefix: s.jsCfg.Prefix, Shards: s.jsCfg.Shards, Node: s.jsCfg.Node, Timeout: s.jsCfg.Timeout,
			StartTimeout: nc.StartTimeout}}) // a restart waits for its streams' leaders
	if err != nil {
		s.closeNode(n)
		return err
	}
	s.cluster, s.fabric = n, f
	opts.Fabric = f
	// Cut off from the JetStream quorum, the broker refuses what it could
	// not replicate; draining, it sends its clients where the file says
	// (decision 0057).
	opts.Quorum, opts.ServerReference = n.Quorum(), nc.ServerReference
	opts.Cluster = clusterStatus(n, f) // $SYS, the admin API, /metrics
	if a := s.audit; a != nil {
		name := n.Name()
		n.OnQuorumChange(func(ok bool, up []string) { a.Quorum(name, ok, up) })
	}
	return nil
}

// joinFabric starts carrying messages between b and the other nodes, once
// b exists: the fabric subscribes to the interest b's router reported
// while it restored sessions, and to the retained broadcast.
func (s *server) joinFabric(b *broker.Broker) error {
	if s.fabric == nil {
		return nil
	}
	if err := s.fabric.Start(b); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	return s.joinTakeover(b) // takeover.go
}

// openClusterStore keeps a cluster node's sessions, queued messages and
// retained messages in JetStream, replicated as the node's replica count
// says (decision 0054). The broker's data directory (store.path,
// --data-dir) is the node's, JetStream's files under it (decision 0053):
// a single-node disk store beside it would split the sessions.
func (s *server) openClusterStore(log zerolog.Logger, opts *broker.Options) error {
	ctx, cancel := context.WithTimeout(context.Background(), max(clusterStoreOpenWait, s.jsOpenFor))
	defer cancel()
	st, err := jsstore.Open(ctx, s.cluster.Conn(), s.jsCfg, log.With().Str("component", "store").Logger())
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	// Where this process's own ingest messages begin, before it forwards
	// one: a catch-up from this node's positions tells this process's
	// messages from those of the processes before it by it (decision 0063).
	if err := st.WriteBoot(ctx, s.fabric.Forwarded().UpTo); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	s.store, s.storeAt, opts.Store = st, "jetstream "+st.Config().Prefix, st
	log.Info().Str("store", "jetstream").Int("replicas", st.Config().Replicas).Int("shards", st.Config().Shards).
		Msg("session store: JetStream; acknowledged messages are stored on the replicas first")
	return s.startTakeover(st, log, opts) // takeover.go
}

// clusterStoreOpenWait bounds opening the JetStream store, or
// cluster.start_timeout when longer: creating its streams needs the
// JetStream meta leader, which Start already waited for.
const clusterStoreOpenWait = time.Minute

// clusterCloseWait bounds leaving the cluster at exit.
const clusterCloseWait = 10 * time.Second

// closeCluster leaves the cluster, if the process is in one: after the
// broker and the store, whose last writes may go through it. The fabric
// stops first: it routes into the broker and publishes on the node.
func (s *server) closeCluster() {
	if s.cluster == nil {
		return
	}
	if s.mover != nil {
		if err := s.mover.Close(); err != nil {
			s.log.Error().Err(err).Msg("stopping session takeover")
		}
	}
	if s.fabric != nil {
		if err := s.fabric.Close(); err != nil {
			s.log.Error().Err(err).Msg("stopping the cluster fabric")
		}
	}
	s.closeNode(s.cluster)
}

// closeNode drains n's connection and stops its embedded server, if any.
func (s *server) closeNode(n *node.Node) {
	ctx, cancel := context.WithTimeout(context.Background(), clusterCloseWait)
	defer cancel()
	if err := n.Close(ctx); err != nil {
		s.log.Error().Err(err).Str("node", n.Name()).Msg("leaving the cluster")
	}
}
