package journal

import "github.com/plumemq/plume/core/session"

// Adopt records r, a session another node of a cluster kept until now, as
// this node's (decision 0056): its old keys are deleted and it is stored
// again under this node's keys, in one batch so that one Commit makes the
// move atomic. Delivery Seqs and message ids are each node's own, so r's
// deliveries get new Seqs and their messages new ids here (r is changed in
// place: the caller restores the session from it afterwards). Messages must
// be r's own copies, not shared with anything else of this broker.
func (j *Journal) Adopt(r *session.Record) {
	j.group.RLock() // one change: all in one batch
	defer j.group.RUnlock()
	j.mu.Lock()
	defer j.mu.Unlock()
	meta := *r
	meta.Inflight, meta.Queued, meta.InboundQoS2 = nil, nil, nil
	j.append(session.Op{Kind: session.DeleteSession, Client: r.ID},
		session.Op{Kind: session.PutSession, Record: &meta})
	ids := map[*session.Message]uint64{}
	for _, ds := range [][]session.Delivery{r.Inflight, r.Queued} {
		for i := range ds {
			d := &ds[i]
			d.Seq = j.seq.Add(1)
			if m := d.Msg; m != nil {
				if _, ok := ids[m]; !ok {
					m.ID = j.msgID.Add(1)
					ids[m] = m.ID
					j.msgPuts[m.ID] = put{at: len(j.ops), born: true}
					j.append(session.Op{Kind: session.PutMessage, Message: m})
				}
			}
			j.puts[d.Seq] = put{at: len(j.ops), born: true}
			j.append(session.Op{Kind: session.PutDelivery, Client: r.ID, Delivery: *d})
		}
	}
	for _, id := range r.InboundQoS2 {
		j.append(session.Op{Kind: session.PutInbound, Client: r.ID, PacketID: id})
	}
}
