// Package cluster tests Plume clustered on NATS JetStream (issue 14) with
// real processes: the harness builds the plume binary once, starts nodes
// as separate `plume` processes, each embedding a NATS server, on free
// loopback ports, and follows each node's JSON log for its membership
// (the "cluster: node up/down" lines) so that a test waits on the
// cluster's state, never on time.
//
// Beside cluster formation and cross-node delivery (Debian's mosquitto
// clients), it holds the kill -9 fault test, TestFaultKill9
// (fault_test.go): QoS 1 and 2 publishers and persistent subscribers over
// 3 nodes, one node killed with SIGKILL at random moments and restarted,
// then every acknowledged message checked at every subscriber.
//
//	go test ./test/cluster                                         # everything, 5 kills (make test)
//	go test ./test/cluster -run '^TestFaultKill9$' -v              # make fault
//	go test ./test/cluster -run '^TestFaultKill9$' -fault.kills 30 # make fault-long
//	go test ./test/cluster -run '^TestFaultKill9$' -fault.seed N   # replay a run's kill moments
//
// A failed test keeps every node's config, log and data directory and says
// where. The conformance suite against one node of a cluster is
// scripts/with-plume-cluster.sh (make conformance-cluster).
package cluster
