package fabric

import (
	"errors"
	"time"
	"unsafe"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/plumemq/plume/cluster/subject"
	"github.com/plumemq/plume/core/session"
)

// Publish sends m to the other nodes (broker.Fabric). The broker calls it
// after routing m here, in each publisher's order. It takes no lock of its
// own (decision 0058): the sequence number is unique, not ordered with the
// publishes of other publishers, which a receiver's duplicate check does not
// need (deliver), and the subject is handed to nats.go without a copy.
func (f *Fabric) Publish(m *session.Message) {
	var leftMs int64
	if m.Expires != 0 {
		left := time.Until(time.Unix(0, m.Expires))
		if left <= 0 {
			return // [MQTT-3.3.2-5] no one may receive it any more
		}
		leftMs = max(left.Milliseconds(), 1)
	}
	codec := f.msgs
	switch {
	case m.Retain:
		codec = f.retained
	case m.QoS > 0 && f.ing != nil:
		// The ingest carries it to every node; this copy is for the
		// shared groups alone, on subjects only their queue
		// subscriptions take: the nodes with plain subscriptions are
		// not sent a copy they would ignore.
		codec = f.queued
	}
	bp := f.bufs.Get().(*[]byte)
	defer f.bufs.Put(bp)
	subj, err := codec.AppendTopic((*bp)[:0], m.Topic)
	if err != nil {
		f.stats.tooLong.Add(1)
		f.warn.Log(&f.log, zerolog.WarnLevel, "topic too long").Str("topic", truncate(m.Topic)).
			Str("client_id", m.Publisher).Err(err).Msg("cluster fabric: message not sent to other nodes")
		return
	}
	n := len(subj)
	env := appendEnvelope(subj, m, f.origin, leftMs)
	*bp = env
	setSeq(env[n:], f.seq.Add(1))
	// nats.go copies the subject and the data into its write buffer before
	// Publish returns and keeps neither: a string over env's bytes is safe,
	// and env goes back to the pool after.
	err = f.pub.Publish(unsafe.String(unsafe.SliceData(env), n), env[n:])
	if err != nil {
		f.warn.Log(&f.log, zerolog.WarnLevel, "publish").Err(err).Str("client_id", m.Publisher).
			Msg("cluster fabric: message not sent to other nodes")
		return
	}
	f.stats.published.Add(1)
}

// truncate keeps a log line short.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// Interest records a change of this node's non-shared filters (broker.Fabric);
// the worker subscribes or unsubscribes. Called under the router's lock: it
// only queues.
func (f *Fabric) Interest(filter string, on bool) { f.queue(change{filter: filter, on: on}) }

// SharedInterest records a change of this node's shared groups (broker.Fabric).
func (f *Fabric) SharedInterest(group, filter string, on bool) {
	f.queue(change{filter: filter, group: group, on: on})
}

func (f *Fabric) queue(c change) {
	f.mu.Lock()
	f.changes = append(f.changes, c)
	f.mu.Unlock()
	f.kick()
}

func (f *Fabric) kick() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// applyInterest turns queued interest changes into NATS subscriptions, in order.
func (f *Fabric) applyInterest() {
	defer f.wg.Done()
	for {
		select {
		case <-f.done:
			return
		case <-f.wake:
		}
		f.mu.Lock()
		changes := f.changes
		f.changes = nil
		for _, c := range changes {
			if err := f.applyLocked(c); err != nil {
				f.warn.Log(&f.log, zerolog.WarnLevel, "interest").Str("filter", truncate(c.filter)).
					Str("group", c.group).Err(err).Msg("cluster fabric: interest not propagated")
			}
		}
		f.mu.Unlock()
	}
}

// applyLocked subscribes or unsubscribes for one change; f.mu is held (the
// receiver reads f.queues under it).
func (f *Fabric) applyLocked(c change) error {
	if c.group == "" {
		if !c.on {
			return unsubscribeAll(f.plain, c.filter)
		}
		subjects, err := f.msgs.Filter(c.filter)
		if err != nil {
			return err
		}
		for _, s := range subjects {
			sub, err := f.pub.ChanSubscribe(s, f.in)
			if err != nil {
				return errors.Join(err, unsubscribeAll(f.plain, c.filter))
			}
			f.plain[c.filter] = append(f.plain[c.filter], sub)
		}
		return nil
	}
	k := groupKey{c.group, c.filter}
	q := subject.Queue(c.group, c.filter)
	if !c.on {
		delete(f.queues, q)
		return unsubscribeAll(f.groups, k)
	}
	f.queues[q] = k
	// A group takes live and retained messages alike, and the QoS ≥ 1 ones
	// published for groups alone: one member of it gets each, as on one
	// node.
	for _, codec := range []*subject.Codec{f.msgs, f.retained, f.queued} {
		subjects, err := codec.Filter(c.filter)
		if err != nil {
			return err
		}
		for _, s := range subjects {
			sub, err := f.nc.ChanQueueSubscribe(s, q, f.in)
			if err != nil {
				return errors.Join(err, unsubscribeAll(f.groups, k))
			}
			f.groups[k] = append(f.groups[k], sub)
		}
	}
	return nil
}

func unsubscribeAll[K comparable](m map[K][]*nats.Subscription, k K) error {
	var errs []error
	for _, s := range m[k] {
		if err := s.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			errs = append(errs, err)
		}
	}
	delete(m, k)
	return errors.Join(errs...)
}

// receive delivers what NATS brings into the broker, one message at a time in
// arrival order (the order of each origin's publishes).
func (f *Fabric) receive() {
	defer f.wg.Done()
	for {
		select {
		case <-f.done:
			return
		case msg := <-f.in:
			f.deliver(msg)
		}
	}
}

func (f *Fabric) deliver(msg *nats.Msg) {
	f.stats.received.Add(1)
	e, err := decodeEnvelope(msg.Data)
	if err != nil {
		f.stats.malformed.Add(1)
		f.warn.Log(&f.log, zerolog.WarnLevel, "malformed").Str("subject", truncate(msg.Subject)).Err(err).
			Msg("cluster fabric: envelope dropped")
		return
	}
	m := &e.msg
	if e.leftMs > 0 {
		m.Expires = time.Now().Add(time.Duration(e.leftMs) * time.Millisecond).UnixNano()
	}
	if q := msg.Sub.Queue; q != "" {
		// The queue group picked this node: one of its members here takes it,
		// our own messages included (the origin left groups to the fabric).
		f.mu.Lock()
		k, ok := f.queues[q]
		local := f.local
		f.mu.Unlock()
		if ok && local.RouteShared(m, k.name, k.filter) {
			f.stats.shared.Add(1)
		} else {
			f.stats.dropped.Add(1)
		}
		return
	}
	if e.origin == f.origin {
		f.stats.own.Add(1) // routed here before it was published
		return
	}
	if f.ing != nil && m.QoS > 0 {
		// The ingest carries it (ingest.go); this copy was published for
		// the shared groups (queue subscriptions), handled above.
		f.stats.viaIngest.Add(1)
		return
	}
	f.mu.Lock()
	dup := e.seq == f.last[e.origin]
	if !dup {
		f.last[e.origin] = e.seq
	}
	local := f.local
	f.mu.Unlock()
	if dup {
		f.stats.duplicates.Add(1) // another of our subscriptions matched it too
		return
	}
	local.RouteFromPeer(m)
	f.stats.routed.Add(1)
}
