package node

import "sync/atomic"

// Quorum is the node's verdict on whether what it is given can be
// replicated: true while a JetStream meta leader is known (embedded: a
// majority of the nodes up and talking), or, external, while the
// connection is up. The membership watcher keeps it current (every
// membershipInterval), so that the broker reads one atomic bool per
// message (broker.Options.Quorum) instead of asking the cluster; false
// makes the broker refuse QoS ≥ 1 publishes and persistent sessions
// (decision 0057).
//
// An external cluster's meta group is not visible from a client: a
// connected node there counts as having the quorum, and a write that
// cannot be replicated fails in the store instead.
func (n *Node) Quorum() *atomic.Bool { return &n.quorum }

// setQuorum records the verdict and logs each change. n.mu held.
func (n *Node) setQuorum(ok bool) {
	if n.quorum.Swap(ok) == ok {
		return
	}
	if ok {
		n.log.Info().Str("node", n.name).Strs("members_up", n.upLocked()).
			Msg("cluster: quorum regained: accepting QoS 1 and 2 publishes and persistent sessions again")
		return
	}
	n.log.Warn().Str("node", n.name).Strs("members_up", n.upLocked()).
		Msg("cluster: quorum lost: refusing QoS 1 and 2 publishes and persistent sessions; QoS 0 and clean sessions go on")
}
