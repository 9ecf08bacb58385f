package journal

import "github.com/plumemq/plume/core/session"

// Changes that cancel out within one batch are not written. A QoS 1 message
// to an online subscriber is usually acknowledged before the batch that
// stores it is committed (the batch fills while the previous one syncs): its
// PutMessage, PutDelivery, DeleteDelivery and DeleteMessage then cost the
// store nothing, and the publisher's PUBACK waits only for the commit in
// progress. A delivery sent or released in the batch that stored it is
// stored once, in its latest state.

// put is where a PutDelivery or PutMessage sits in the open batch.
type put struct {
	at   int  // index in Journal.ops
	born bool // the batch created the key: no committed version exists
}

// dead marks an op that a later one in its batch cancelled.
const dead session.OpKind = 0

// putDelivery appends op, a PutDelivery, or replaces the one of its Seq
// already in the open batch. j.mu is held.
func (j *Journal) putDelivery(op session.Op) {
	if p, ok := j.puts[op.Delivery.Seq]; ok {
		j.ops[p.at] = op
		return
	}
	j.puts[op.Delivery.Seq] = put{at: len(j.ops)}
	j.append(op)
}

// cancelPut removes the put of key from the open batch, and reports whether
// that leaves nothing to delete: the batch created the key. Otherwise the
// committed version remains and the caller appends its delete. j.mu is held.
func (j *Journal) cancelPut(puts map[uint64]put, key uint64) (gone bool) {
	p, ok := puts[key]
	if !ok {
		return false
	}
	delete(puts, key)
	j.ops[p.at] = session.Op{Kind: dead}
	return p.born
}

// compact drops the cancelled ops of batch, in place.
func compact(batch []session.Op) []session.Op {
	live := batch[:0]
	for i := range batch {
		if batch[i].Kind != dead {
			live = append(live, batch[i])
		}
	}
	return live
}
