package main

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/cluster/node"
	"github.com/plumemq/plume/cmd/plume/internal/config"
	"github.com/plumemq/plume/store/disk"
)

// startCluster makes the process a node of the cluster cfg describes,
// before the store and the broker start: the JetStream store and the
// routing fabric are built on the node (s.cluster). Without a cluster
// section it does nothing, and the broker runs on its own.
func (s *server) startCluster(cfg config.Config, log zerolog.Logger) error {
	if cfg.Cluster == nil {
		return nil
	}
	nc := *cfg.Cluster
	nc.DataDir = cfg.ClusterDataDir()
	n, err := node.Start(context.Background(), nc, log.With().Str("component", "cluster").Logger())
	if err != nil {
		return err // it says what it waited for
	}
	s.cluster = n
	return nil
}

// singleNodeStore is the disk store to open: cfg, or none on a cluster
// node. There the broker's data directory (store.path, --data-dir) is the
// node's, JetStream's files under it (decision 0053), and sessions belong
// in JetStream, replicated, not in one node's Pebble: a store in both
// places would split them. Until the JetStream store is wired (issue 14's
// next step) a cluster node keeps sessions in memory, and says so.
func (s *server) singleNodeStore(cfg *disk.Config) *disk.Config {
	if s.cluster == nil || cfg == nil {
		return cfg
	}
	s.log.Warn().Str("data_dir", cfg.Path).
		Msg("cluster node: the data directory holds JetStream's files; sessions are not in the single-node disk store, and not yet in JetStream either: they live in memory")
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
