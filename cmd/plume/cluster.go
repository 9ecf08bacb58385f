package main

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/cluster/node"
)

// startCluster makes the process a node of the cluster cfg describes,
// before the store and the broker start: the JetStream store and the
// routing fabric are built on the node (s.cluster). Without a cluster
// section it does nothing, and the broker runs on its own.
func (s *server) startCluster(cfg *node.Config, log zerolog.Logger) error {
	if cfg == nil {
		return nil
	}
	n, err := node.Start(context.Background(), *cfg, log.With().Str("component", "cluster").Logger())
	if err != nil {
		return err // it says what it waited for
	}
	s.cluster = n
	return nil
}

// clusterCloseWait bounds leaving the cluster at exit.
const clusterCloseWait = 10 * time.Second

// closeCluster leaves the cluster, if the process is in one: after the
// broker and the store, whose last writes may go through it.
func (s *server) closeCluster() {
	if s.cluster == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterCloseWait)
	defer cancel()
	if err := s.cluster.Close(ctx); err != nil {
		s.log.Error().Err(err).Str("node", s.cluster.Name()).Msg("leaving the cluster")
	}
}
