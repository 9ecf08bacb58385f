// Package cluster tests Plume clustered on NATS JetStream (issue 14) with
// real processes: the harness builds the plume binary once, starts nodes
// as separate `plume` processes, each embedding a NATS server, on free
// loopback ports, and follows each node's JSON log for its membership
// (the "cluster: node up/down" lines) so that a test waits on the
// cluster's state, never on time. Later rounds add cross-node delivery,
// takeover and kill -9 fault tests on the same harness.
package cluster
