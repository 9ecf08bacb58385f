package session

// inflight is the outbound in-flight window: deliveries sent and not yet fully
// acknowledged, in the order they were sent, so a resumed session resends them
// in order [MQTT-4.6.0-1]. Acknowledgements normally arrive in order, so
// removal marks an entry and advances the head instead of shifting.
type inflight struct {
	entries []Delivery
	head    int
	count   int
	index   map[uint16]int // packet id -> position in entries
}

func (f *inflight) len() int { return f.count }

func (f *inflight) has(id uint16) bool {
	_, ok := f.index[id]
	return ok
}

// add appends d and returns its entry, valid until the window next changes.
func (f *inflight) add(d Delivery) *Delivery {
	if f.index == nil {
		f.index = make(map[uint16]int)
	}
	if f.head > 0 && f.head >= len(f.entries)/2 {
		f.compact()
	}
	f.index[d.PacketID] = len(f.entries)
	f.entries = append(f.entries, d)
	f.count++
	return &f.entries[len(f.entries)-1]
}

func (f *inflight) get(id uint16) *Delivery {
	i, ok := f.index[id]
	if !ok {
		return nil
	}
	return &f.entries[i]
}

func (f *inflight) remove(id uint16) (Delivery, bool) {
	i, ok := f.index[id]
	if !ok {
		return Delivery{}, false
	}
	d := f.entries[i]
	delete(f.index, id)
	f.entries[i] = Delivery{acked: true}
	f.count--
	for f.head < len(f.entries) && f.entries[f.head].acked {
		f.head++
	}
	if f.count == 0 {
		f.entries = f.entries[:0]
		f.head = 0
	}
	return d, true
}

// compact drops acknowledged entries before head and re-indexes.
func (f *inflight) compact() {
	n := 0
	for _, d := range f.entries[f.head:] {
		if d.acked {
			continue
		}
		f.entries[n] = d
		f.index[d.PacketID] = n
		n++
	}
	clear(f.entries[n:])
	f.entries = f.entries[:n]
	f.head = 0
}

// each calls fn for every unacknowledged delivery in send order.
func (f *inflight) each(fn func(*Delivery)) {
	for i := f.head; i < len(f.entries); i++ {
		if !f.entries[i].acked {
			fn(&f.entries[i])
		}
	}
}

// queue is a FIFO of deliveries waiting for the window or a connection.
type queue struct {
	items []Delivery
	head  int
}

func (q *queue) len() int { return len(q.items) - q.head }

// push appends d and returns its item, valid until the queue next changes.
func (q *queue) push(d Delivery) *Delivery {
	if q.head > 0 && q.head >= len(q.items)/2 {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items = q.items[:n]
		q.head = 0
	}
	q.items = append(q.items, d)
	return &q.items[len(q.items)-1]
}

// peek returns the first item, nil when the queue is empty; valid until the
// queue next changes.
func (q *queue) peek() *Delivery {
	if q.head == len(q.items) {
		return nil
	}
	return &q.items[q.head]
}

// pop removes and returns the first item; the queue must not be empty.
func (q *queue) pop() Delivery {
	d := q.items[q.head]
	q.items[q.head] = Delivery{}
	q.head++
	if q.head == len(q.items) {
		q.items = q.items[:0]
		q.head = 0
	}
	return d
}

func (q *queue) each(fn func(*Delivery)) {
	for i := q.head; i < len(q.items); i++ {
		fn(&q.items[i])
	}
}

// traffic is a session's messages in flight and queued and its inbound
// QoS 2 ids, in one allocation made with the first of them (Session.tr):
// a session that never had any carries a nil pointer instead of 80 bytes.
// Its read methods take a nil traffic as empty.
type traffic struct {
	out     inflight
	pending queue
	inbound map[uint16]struct{} // QoS 2 packet ids received, PUBREL awaited
}

// traffic is s.tr, made if there is none. The caller holds s.mu.
func (s *Session) traffic() *traffic {
	if s.tr == nil {
		s.tr = new(traffic)
	}
	return s.tr
}

func (t *traffic) inFlight() int {
	if t == nil {
		return 0
	}
	return t.out.len()
}

func (t *traffic) queued() int {
	if t == nil {
		return 0
	}
	return t.pending.len()
}

func (t *traffic) has(id uint16) bool { return t != nil && t.out.has(id) }

func (t *traffic) get(id uint16) *Delivery {
	if t == nil {
		return nil
	}
	return t.out.get(id)
}

// peek is the first queued delivery, nil if none.
func (t *traffic) peek() *Delivery {
	if t == nil {
		return nil
	}
	return t.pending.peek()
}

func (t *traffic) eachInFlight(f func(d *Delivery)) {
	if t != nil {
		t.out.each(f)
	}
}

func (t *traffic) hasInbound(id uint16) bool {
	if t == nil {
		return false
	}
	_, ok := t.inbound[id]
	return ok
}

func (t *traffic) inboundLen() int {
	if t == nil {
		return 0
	}
	return len(t.inbound)
}

func (t *traffic) addInbound(id uint16) {
	if t.inbound == nil {
		t.inbound = make(map[uint16]struct{})
	}
	t.inbound[id] = struct{}{}
}
