package journal

import "github.com/plumemq/plume/core/session"

// The changes sessions report (session.Journal) and those the broker makes
// itself (sessions, retained messages), as ops. A message is stored with the
// first stored delivery that refers to it and deleted with the last: it is
// kept once, however many sessions hold it.

var _ session.Journal = (*Journal)(nil)

// Stored records d, which entered client's session, and gives it its Seq.
func (j *Journal) Stored(client string, d *session.Delivery) {
	d.Seq = j.seq.Add(1)
	j.mu.Lock()
	defer j.mu.Unlock()
	if d.Msg != nil && d.Msg.Ref() {
		if d.Msg.ID == 0 {
			d.Msg.ID = j.msgID.Add(1)
		}
		j.msgPuts[d.Msg.ID] = put{at: len(j.ops), born: true}
		j.append(session.Op{Kind: session.PutMessage, Message: d.Msg})
	}
	j.puts[d.Seq] = put{at: len(j.ops), born: true}
	j.append(session.Op{Kind: session.PutDelivery, Client: client, Delivery: *d})
}

// Changed records that d was sent or released. A released QoS 2 delivery
// no longer needs its message: it is stored without it.
func (j *Journal) Changed(client string, d *session.Delivery) {
	if d.Seq == 0 {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	op := session.Op{Kind: session.PutDelivery, Client: client, Delivery: *d}
	released := d.Released && d.Msg != nil
	if released {
		op.Delivery.Msg = nil
	}
	j.putDelivery(op)
	if released {
		j.unref(d.Msg)
	}
}

// Removed records that d left client's session.
func (j *Journal) Removed(client string, d *session.Delivery) {
	if d.Seq == 0 {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.cancelPut(j.puts, d.Seq) {
		j.append(session.Op{Kind: session.DeleteDelivery, Client: client, Seq: d.Seq})
	}
	if d.Msg != nil {
		j.unref(d.Msg)
	}
}

func (j *Journal) unref(m *session.Message) {
	if m.Unref() && !j.cancelPut(j.msgPuts, m.ID) {
		j.append(session.Op{Kind: session.DeleteMessage, MessageID: m.ID})
	}
}

// Inbound records an inbound QoS 2 packet id of client as received (added)
// or released.
func (j *Journal) Inbound(client string, id uint16, added bool) {
	op := session.Op{Kind: session.DeleteInbound, Client: client, PacketID: id}
	if added {
		op.Kind = session.PutInbound
	}
	j.mu.Lock()
	j.append(op)
	j.mu.Unlock()
}

// PutSession records a session's own state; r is the journal's from now on.
func (j *Journal) PutSession(r *session.Record) {
	j.mu.Lock()
	j.append(session.Op{Kind: session.PutSession, Record: r})
	j.mu.Unlock()
}

// DeleteSession records that the session of client ended. Its deliveries
// were Removed as it ended, so their messages are accounted for.
func (j *Journal) DeleteSession(client string) {
	j.mu.Lock()
	j.append(session.Op{Kind: session.DeleteSession, Client: client})
	j.mu.Unlock()
}

// PutRetained records m as its topic's retained message. The op gets a copy:
// m may meanwhile be given an ID by a delivery that refers to it.
func (j *Journal) PutRetained(m *session.Message) {
	j.mu.Lock() // before the copy: Stored writes m.ID under it
	c := m.Copy()
	c.ID = 0
	j.append(session.Op{Kind: session.PutRetained, Message: &c})
	j.mu.Unlock()
}

// DeleteRetained records that topic's retained message was cleared.
func (j *Journal) DeleteRetained(topic string) {
	j.mu.Lock()
	j.append(session.Op{Kind: session.DeleteRetained, Topic: topic})
	j.mu.Unlock()
}
