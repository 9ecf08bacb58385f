package node

import (
	"context"
	"sync/atomic"
	"time"
)

// Quorum is the node's verdict on whether what it is given can be
// replicated, for the broker (broker.Options.Quorum): false makes it refuse
// QoS ≥ 1 publishes and persistent sessions (decision 0057). The
// membership watcher keeps it current (every membershipInterval), so that
// the broker reads one atomic bool per message instead of asking the
// cluster.
//
// Embedded, the node has the quorum while a majority of the nodes is up
// (this one and those its routes reach, of the nodes configured or seen)
// and a JetStream meta leader is known. A route lost says so at once; a
// meta leader missing while the routes are up counts only after
// leaderGrace, since one is missing for a moment at every election.
//
// An external cluster's meta group is not visible from a client; what is,
// is whether JetStream answers: the node has the quorum while it is
// connected and its JetStream account info request (one a second, by the
// membership watcher) is answered — a clustered JetStream without a meta
// leader answers 503 or not at all — with the same grace for elections.
func (n *Node) Quorum() *atomic.Bool { return &n.quorum }

// probeTimeout bounds the external JetStream probe: under the watcher's
// interval, over a loaded cluster's answer.
const probeTimeout = 900 * time.Millisecond

// probeJetStream asks an external cluster's JetStream for the account's
// info and records since when it has not answered (zero while it does),
// for judgeExternalLocked.
func (n *Node) probeJetStream() {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	_, err := n.js.AccountInfo(ctx)
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case err == nil:
		n.jsSilent = time.Time{}
	case n.jsSilent.IsZero():
		n.jsSilent = time.Now()
		n.log.Debug().Err(err).Msg("cluster: JetStream did not answer")
	}
}

// judgeExternalLocked sets an external node's verdict: connected, and
// JetStream not silent for leaderGrace or more. n.mu held.
func (n *Node) judgeExternalLocked() {
	silent := !n.jsSilent.IsZero() && time.Since(n.jsSilent) >= leaderGrace
	n.setQuorum(n.nc.IsConnected() && !silent)
}

// leaderGrace is how long the meta leader may be unknown, with a majority
// of routes up, before the node says it has no quorum.
const leaderGrace = 2 * time.Second

// judgeQuorumLocked sets the verdict from what refreshLocked saw: the
// number of nodes up and the meta leader. n.mu held.
func (n *Node) judgeQuorumLocked(up int, leader string) {
	total := max(n.cfg.Nodes(), len(n.members))
	switch {
	case 2*up <= total:
		n.setQuorum(false)
	case leader != "":
		n.leaderless = time.Time{}
		n.setQuorum(true)
	case n.leaderless.IsZero():
		n.leaderless = time.Now()
	case time.Since(n.leaderless) >= leaderGrace:
		n.setQuorum(false)
	}
}

// setQuorum records the verdict and logs each change after the first
// (Start's, which the "cluster joined" line reports). n.mu held.
func (n *Node) setQuorum(ok bool) {
	was := n.quorum.Swap(ok)
	if !n.judged {
		n.judged = true
		return
	}
	if was == ok {
		return
	}
	if f := n.onQuorum; f != nil {
		f(ok, n.upLocked())
	}
	if ok {
		n.log.Info().Str("node", n.name).Strs("members_up", n.upLocked()).
			Msg("cluster: quorum regained: accepting QoS 1 and 2 publishes and persistent sessions again")
		return
	}
	n.log.Warn().Str("node", n.name).Strs("members_up", n.upLocked()).
		Msg("cluster: quorum lost: refusing QoS 1 and 2 publishes and persistent sessions; QoS 0 and clean sessions go on")
}

// OnQuorumChange has f told of each change of the verdict after Start's
// first, with the nodes up then (for the audit log). f runs under the
// node's lock, on the membership watcher or a Health caller: it must not
// block nor call the Node. Set it once, before the changes it should see.
func (n *Node) OnQuorumChange(f func(ok bool, membersUp []string)) {
	n.mu.Lock()
	n.onQuorum = f
	n.mu.Unlock()
}
