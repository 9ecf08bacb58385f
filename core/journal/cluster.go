package journal

import "github.com/plumemq/plume/core/session"

// A cluster node's ops (decision 0055): the forward of a QoS ≥ 1 message to
// the cluster's ingest, and the node's position in each ingest shard. They
// go through the journal like any change, so that a publisher's PUBACK waits
// for its forward (the answers held by decision 0019) and a position commits
// with the deliveries its routing made.

// Forward records that f, a message accepted here, must reach the ingest.
// The caller holds a change (Begin) with the routing that made f.
func (j *Journal) Forward(f *session.Forwarded) {
	j.mu.Lock()
	j.append(session.Op{Kind: session.Forward, Forward: f})
	j.mu.Unlock()
}

// Position records that this node routed ingest shard up to seq. Only the
// last position of a shard in a batch is written: the ones before it
// are replaced in place, so that a batch holds one per shard.
func (j *Journal) Position(shard uint32, seq uint64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return
	}
	op := session.Op{Kind: session.Position, Shard: shard, Seq: seq}
	if at, ok := j.positions[shard]; ok {
		j.ops[at] = op
		return
	}
	j.positions[shard] = len(j.ops)
	j.append(op)
}
