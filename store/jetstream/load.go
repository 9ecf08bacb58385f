package jetstream

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plumemq/plume/core/session"
	"github.com/plumemq/plume/store/internal/codec"
)

// Load returns this node's sessions (those whose record it wrote last) with
// their deliveries and inbound ids, and every retained message. It reads
// the bucket, each queue shard and the retained stream once, each with one
// ephemeral consumer: O(shards) consumers, whatever the number of sessions
// or subscriptions.
func (s *Store) Load() (session.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return session.Snapshot{}, session.ErrClosed
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := newAssembly()
	err := s.readAll(ctx, s.kvStream(), []string{s.names.kvStem + ">"}, s.names.kvBarrier(), func(m jetstream.Msg) error {
		node, err := a.session(s, m.Subject(), m.Data(), m.Headers(), false)
		if node == s.cfg.Node {
			s.loadedRevision(m) // fence.go
		} else {
			s.forgetRevision(m) // an earlier message of the key, read first, may have set it
		}
		return err
	})
	if err != nil {
		return session.Snapshot{}, fmt.Errorf("jetstream store: sessions: %w", err)
	}
	// The shards are read in parallel: each is its own stream.
	parts := make([]*assembly, len(s.queues))
	errs := make([]error, len(s.queues))
	var wg sync.WaitGroup
	for k, q := range s.queues {
		parts[k] = newAssembly()
		wg.Go(func() {
			stem := s.names.prefix + ".q." + strconv.Itoa(k) + "."
			filters := []string{stem + "c.>", stem + "m." + s.names.node + ".>"}
			errs[k] = s.readAll(ctx, q, filters, s.names.queueBarrier(k), func(m jetstream.Msg) error {
				return parts[k].queued(strings.TrimPrefix(m.Subject(), stem), m.Data(), m.Headers())
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return session.Snapshot{}, fmt.Errorf("jetstream store: queues: %w", err)
	}
	for _, p := range parts {
		a.merge(p)
	}
	for client, q := range a.clients {
		if a.recs[client] == nil {
			continue
		}
		for _, ld := range q.deliveries {
			if ld.legacy {
				s.legacy[legacyKey{client, ld.d.Seq}] = struct{}{}
			}
		}
	}
	var snap session.Snapshot
	retained := map[string][]byte{} // by subject: a later write replaces an earlier one
	err = s.readAll(ctx, s.ret, []string{s.names.prefix + ".r.>"}, s.names.retainedBarrier(), func(m jetstream.Msg) error {
		if tombstone(m.Headers()) {
			delete(retained, m.Subject())
		} else {
			retained[m.Subject()] = m.Data()
		}
		return nil
	})
	if err != nil {
		return session.Snapshot{}, fmt.Errorf("jetstream store: retained: %w", err)
	}
	for subject, v := range retained {
		var msg session.Message
		if err := codec.DecodeMessage(v, &msg); err != nil {
			return session.Snapshot{}, fmt.Errorf("jetstream store: retained %s: %w", subject, err)
		}
		snap.Retained = append(snap.Retained, msg)
	}
	snap.Sessions, err = a.records(s.cfg.Node, false)
	if err != nil {
		return session.Snapshot{}, fmt.Errorf("jetstream store: %w", err)
	}
	snap.IDFloor = idFloor()
	if snap.Positions, err = s.positions(ctx); err != nil {
		return session.Snapshot{}, fmt.Errorf("jetstream store: positions: %w", err)
	}
	sortSnapshot(&snap)
	return snap, nil
}

// PositionsOf reads the committed ingest positions of node (decision
// 0055): where its routing stood when it last committed — for a node that
// adopts a dead node's sessions, the start of their catch-up. Nil when the
// node has none.
func (s *Store) PositionsOf(ctx context.Context, node string) (session.Positions, error) {
	p, err := s.positionsOf(ctx, token(node), nil)
	if err != nil {
		return nil, fmt.Errorf("jetstream store: positions of %q: %w", node, err)
	}
	return p, nil
}

// positions reads this node's position in each ingest shard (decision
// 0055), nil when it has none. A get goes to the stream's leader, which has
// every acknowledged write: no barrier needed.
// Their sequences go to the position fence (posfence.go). s.mu is held.
func (s *Store) positions(ctx context.Context) (session.Positions, error) {
	return s.positionsOf(ctx, s.names.node, s.posSeq)
}

// positionsOf reads the positions of the node of nodeToken, and, with seqs,
// notes each subject's stream sequence there (0: none stored).
func (s *Store) positionsOf(ctx context.Context, nodeToken string, seqs map[string]uint64) (session.Positions, error) {
	var p session.Positions
	own := seqs != nil
	for k := range s.cfg.Shards {
		subj := s.names.positionSubjectOf(nodeToken, k)
		m, err := request(ctx, s.cfg.Timeout, func(ctx context.Context) (*jetstream.RawStreamMsg, error) {
			return s.pos.GetLastMsgForSubject(ctx, subj)
		})
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			if own {
				seqs[subj] = 0
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", subj, err)
		}
		if len(m.Data) != 8 {
			return nil, fmt.Errorf("%s: %d bytes: %w", subj, len(m.Data), codec.ErrCorrupt)
		}
		if p == nil {
			p = make(session.Positions, s.cfg.Shards)
		}
		p[k] = binary.BigEndian.Uint64(m.Data)
		if own {
			seqs[subj] = m.Sequence
		}
	}
	return p, nil
}

func (s *Store) kvStream() jetstream.Stream { return s.kvSt }

// tombstone says whether a message marks its subject deleted: our own
// tombstones (a KV delete marker), a KV purge, or the marker the server
// puts in the bucket when a tombstone's TTL removes it (LimitMarkerTTL).
func tombstone(h nats.Header) bool {
	op := h.Get(kvOperation)
	return op == "DEL" || op == "PURGE" || h.Get(jetstream.MarkerReasonHeader) != ""
}

// hdrBarrier marks a read barrier (readAll).
const hdrBarrier = "Plume-Barrier"

// readAll reads every message of st under filters with one ephemeral
// consumer, deleted when done, and returns once it has read past a barrier
// it wrote first: everything acknowledged before the read began, this
// node's Commits included. The barrier is what makes the read complete on
// a replicated stream: the consumer reads the copy of whichever replica
// holds it, and a quorum's acknowledgement does not mean that replica has
// applied the write yet; a replica applies writes in order, so once it
// delivers the barrier it has delivered what came before.
//
// fn gets every message in stream order, tombstones and purge markers
// included, and must take a later message of a subject as replacing an
// earlier one. A replica that lags delivers what it holds as it applies
// the writes: a message that a later write of its subject replaced or
// deleted comes first, then that write (decision 0064). A caller that
// kept each message as it came got a deleted delivery back
// (TestFaultKill9 seed 1796082271447879032: a node fetching a session got
// a QoS 2 delivery as it was before its PUBREC, deleted since, and sent
// the PUBLISH again under a packet id whose flow the client had
// completed).
func (s *Store) readAll(ctx context.Context, st jetstream.Stream, filters []string, barrier string, fn func(jetstream.Msg) error) error {
	name := st.CachedInfo().Config.Name
	// Each request has its own timeout and is asked again (request): a
	// stream between leaders, as after a node's restart, leaves it
	// unanswered. A repeated barrier replaces the first (one per subject);
	// a consumer created twice goes by itself (InactiveThreshold).
	cctx, cancel := context.WithTimeout(ctx, 4*s.cfg.Timeout)
	defer cancel()
	ack, err := request(cctx, s.cfg.Timeout, func(ctx context.Context) (*jetstream.PubAck, error) {
		b := nats.NewMsg(barrier)
		b.Header.Set(hdrBarrier, s.cfg.Node)
		return s.js.PublishMsg(ctx, b)
	})
	if err != nil {
		return fmt.Errorf("read barrier in %s: %w", name, err)
	}
	if !slices.ContainsFunc(filters, func(f string) bool { return covers(f, barrier) }) {
		filters = append(slices.Clip(filters), barrier)
	}
	cons, err := request(cctx, s.cfg.Timeout, func(ctx context.Context) (jetstream.Consumer, error) {
		return st.CreateConsumer(ctx, jetstream.ConsumerConfig{
			AckPolicy: jetstream.AckNonePolicy, DeliverPolicy: jetstream.DeliverAllPolicy, FilterSubjects: filters,
			MemoryStorage: true, InactiveThreshold: time.Minute, // removed by the server if we die reading
		})
	})
	if err != nil {
		return fmt.Errorf("consumer on %s: %w", name, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
		defer cancel()
		if err := st.DeleteConsumer(dctx, cons.CachedInfo().Name); err != nil {
			// It goes by itself after InactiveThreshold.
			s.log.Debug().Err(err).Str("stream", name).Msg("jetstream store: reading consumer not deleted")
		}
	}()
	remaining := cons.CachedInfo().NumPending
	stalled := time.Now() // the last progress
	for seen := false; !seen; {
		// Ask for what is left, so that a batch does not wait out
		// FetchMaxWait; at least one, for a replica still catching up.
		batch, err := cons.Fetch(int(min(max(remaining, 1), 10000)), jetstream.FetchMaxWait(s.cfg.Timeout))
		if err != nil {
			return fmt.Errorf("fetch from %s: %w", name, err)
		}
		got := 0
		var ferr error
		for m := range batch.Messages() {
			got++
			md, err := m.Metadata()
			if err != nil {
				ferr = cmp.Or(ferr, fmt.Errorf("fetch from %s: %w", name, err))
				continue
			}
			remaining = md.NumPending
			if m.Headers().Get(hdrBarrier) != "" { // ours or another node's
				seen = seen || m.Subject() == barrier && md.Sequence.Stream >= ack.Sequence
				continue
			}
			if ferr == nil {
				ferr = fn(m)
			}
		}
		if ferr != nil {
			return ferr
		}
		err = batch.Error()
		switch {
		case got > 0:
			stalled = time.Now()
		case time.Since(stalled) > s.cfg.Timeout:
			return fmt.Errorf("read of %s: the barrier at sequence %d did not come within %s (%w)", name, ack.Sequence, s.cfg.Timeout, err)
		case errors.Is(err, nats.ErrNoResponders):
			// A new consumer of a replicated stream answers once its
			// leader is elected, shortly after CreateConsumer returns.
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, nats.ErrNoResponders) {
			return fmt.Errorf("fetch from %s: %w", name, err)
		}
	}
	return nil
}

// covers says whether a filter ending in ">" takes subject.
func covers(filter, subject string) bool {
	stem, ok := strings.CutSuffix(filter, ">")
	return ok && strings.HasPrefix(subject, stem)
}

// assembly gathers what reads return into records. Each read gives it
// every write in stream order (readAll): a later write of a subject
// replaces what an earlier one put, and a tombstone removes it.
type assembly struct {
	recs    map[string]*session.Record
	clients map[string]*clientQueue // by client id: deliveries and inbound ids read
	// messages are undecoded until a delivery refers to one.
	messages map[msgKey][]byte
	// writers are the nodes whose deliveries each session takes: its
	// owner and its writer (writer.go).
	writers map[string][2]string
}

// clientQueue is what a client's subjects in its queue stream hold.
type clientQueue struct {
	deliveries map[string]loadedDelivery // by subject, relative to the shard's stem
	inbound    map[uint16]struct{}
}

// msgKey names a message: ids are each node's own.
type msgKey struct {
	node string // token(node name), as in the message's subject
	id   uint64
}

type loadedDelivery struct {
	msgNode string
	msgID   uint64
	d       session.Delivery
	legacy  bool // at its subject of before decision 0062 (names.legacyDeliverySubject)
}

func newAssembly() *assembly {
	return &assembly{recs: map[string]*session.Record{}, clients: map[string]*clientQueue{},
		messages: map[msgKey][]byte{}, writers: map[string][2]string{}}
}

// merge takes b's queue reads (another shard's) into a.
func (a *assembly) merge(b *assembly) {
	maps.Copy(a.clients, b.clients)
	maps.Copy(a.messages, b.messages)
}

// session takes a message of the sessions bucket and returns the node that
// owns it ("" for a tombstone). Unless anyNode, only records this node
// wrote are kept; any other message of the key drops what an earlier one
// kept.
func (a *assembly) session(s *Store, subject string, data []byte, h nats.Header, anyNode bool) (string, error) {
	if h.Get(hdrBarrier) != "" {
		return "", nil
	}
	id, err := untoken(strings.TrimPrefix(subject, s.names.kvStem))
	if err != nil {
		return "", fmt.Errorf("session key %s: %w", subject, codec.ErrCorrupt)
	}
	delete(a.recs, id)
	delete(a.writers, id)
	if tombstone(h) {
		return "", nil
	}
	v, err := parseSessionValue(data)
	if err != nil {
		return "", fmt.Errorf("session %q: %w", id, err)
	}
	node := v.owner
	if node != s.cfg.Node && !anyNode || len(v.record) == 0 {
		return node, nil // another node's, or claimed and not written yet (Claim)
	}
	if (v.carried != nil || v.writer != node) && !anyNode {
		// Moving here, its catch-up not committed, or claimed here and
		// not written since: its next CONNECT does it (carried.go).
		return node, nil
	}
	r, err := codec.DecodeRecord(id, v.record)
	if err != nil {
		return "", err
	}
	r.Carried = v.carried
	a.recs[id] = &r
	a.writers[id] = [2]string{v.owner, v.writer}
	return node, nil
}

// queued takes a message of a queue shard, its subject without the
// shard's stem: c.<client>.d.<node>.<seq> (c.<client>.d.<seq> as earlier
// versions wrote it), c.<client>.i.<id>, c.<client>.p (a purge's marker,
// purge.go) or m.<node>.<id>.
func (a *assembly) queued(rel string, data []byte, h nats.Header) error {
	parts := strings.Split(rel, ".")
	if len(parts) == 3 && parts[0] == "c" && parts[2] == "p" && h.Get(hdrPurged) != "" {
		client, err := untoken(parts[1])
		if err != nil {
			return fmt.Errorf("queue subject %q: %w", rel, codec.ErrCorrupt)
		}
		delete(a.clients, client) // what the purge removed, read before it by a lagging replica
		return nil
	}
	n, err := strconv.ParseUint(parts[len(parts)-1], 10, 64)
	if err != nil {
		return fmt.Errorf("queue subject %q: %w", rel, codec.ErrCorrupt)
	}
	gone := tombstone(h)
	if parts[0] == "m" && len(parts) == 3 {
		if key := (msgKey{parts[1], n}); gone {
			delete(a.messages, key)
		} else {
			a.messages[key] = data
		}
		return nil
	}
	if parts[0] != "c" || len(parts) != 4 && !(len(parts) == 5 && parts[2] == "d") {
		return fmt.Errorf("queue subject %q: %w", rel, codec.ErrCorrupt)
	}
	client, err := untoken(parts[1])
	if err != nil {
		return fmt.Errorf("queue subject %q: %w", rel, codec.ErrCorrupt)
	}
	q := a.clients[client]
	if q == nil {
		if gone {
			return nil
		}
		q = &clientQueue{deliveries: map[string]loadedDelivery{}, inbound: map[uint16]struct{}{}}
		a.clients[client] = q
	}
	switch parts[2] {
	case "d":
		if gone {
			delete(q.deliveries, rel)
			return nil
		}
		node, rest, err := readString(data)
		if err != nil {
			return fmt.Errorf("delivery %s: %w", rel, err)
		}
		d, id, err := codec.DecodeDelivery(rest)
		if err != nil {
			return fmt.Errorf("delivery %s: %w", rel, err)
		}
		d.Seq = n
		q.deliveries[rel] = loadedDelivery{msgNode: node, msgID: id, d: d, legacy: len(parts) == 4}
	case "i":
		if n > 0xFFFF {
			return fmt.Errorf("inbound id %s: %w", rel, codec.ErrCorrupt)
		}
		if gone {
			delete(q.inbound, uint16(n))
		} else {
			q.inbound[uint16(n)] = struct{}{}
		}
	default:
		return fmt.Errorf("queue subject %q: %w", rel, codec.ErrCorrupt)
	}
	return nil
}

// records joins deliveries to their records and messages (one *Message
// per message, shared by its deliveries) and drops leftovers: deliveries
// of no record or of a missing message, messages of no delivery. Unless
// anyNode, deliveries of another node's messages are left out: Load reads
// only this node's messages, and their ids could collide with this node's
// in one snapshot (decision 0054: the next round re-stores them on takeover).
func (a *assembly) records(node string, anyNode bool) ([]session.Record, error) {
	decoded := map[msgKey]*session.Message{}
	own := token(node)
	for client, q := range a.clients {
		r := a.recs[client]
		if r == nil {
			continue
		}
		w := a.writers[client]
		for _, ld := range q.deliveries {
			if ld.msgNode != w[0] && ld.msgNode != w[1] {
				continue // a stale copy's, written after another node took the session (writer.go)
			}
			if ld.msgID != 0 {
				m, err := a.message(decoded, ld, own, anyNode)
				if err != nil {
					return nil, err
				}
				if m == nil {
					continue
				}
				ld.d.Msg = m
			}
			if ld.d.PacketID != 0 {
				r.Inflight = append(r.Inflight, ld.d)
			} else {
				r.Queued = append(r.Queued, ld.d)
			}
		}
		for id := range q.inbound {
			r.InboundQoS2 = append(r.InboundQoS2, id)
		}
	}
	out := make([]session.Record, 0, len(a.recs))
	bySeq := func(x, y session.Delivery) int { return cmp.Compare(x.Seq, y.Seq) }
	for _, r := range a.recs {
		slices.SortFunc(r.Inflight, bySeq)
		slices.SortFunc(r.Queued, bySeq)
		slices.Sort(r.InboundQoS2)
		out = append(out, *r)
	}
	return out, nil
}

// message is the message ld refers to, decoded once for all the
// deliveries that share it (decoded); nil when it is missing, or another
// node's and not anyNode (records).
func (a *assembly) message(decoded map[msgKey]*session.Message, ld loadedDelivery, own string, anyNode bool) (*session.Message, error) {
	key := msgKey{token(ld.msgNode), ld.msgID}
	if key.node != own && !anyNode {
		return nil, nil
	}
	if m := decoded[key]; m != nil {
		return m, nil
	}
	v, ok := a.messages[key]
	if !ok {
		return nil, nil
	}
	m := new(session.Message)
	if err := codec.DecodeMessage(v, m); err != nil {
		return nil, fmt.Errorf("message %d of %q: %w", ld.msgID, ld.msgNode, err)
	}
	decoded[key] = m
	return m, nil
}

// idFloor is where a node's delivery Seqs and message ids start after
// Load (session.Snapshot.IDFloor): the clock, in ns. Load reads only the
// sessions this node owns and has written, so the largest id it saw is not
// the largest this node ever used: a session moving to or from it keeps
// deliveries with its Seqs and messages of its ids (TestFaultKill9 seed
// 1796078725667671118: n1, restarted, gave a new message an id a moved
// session's QoS 2 delivery still named, and the client got a QoS 1
// message at QoS 2 under a packet id that was never released). Every id
// handed out is at most the floor of its start plus the count handed out
// since, which stays below the clock of any later start unless a node
// hands out more than one id per ns or its clock goes back.
func idFloor() uint64 { return uint64(time.Now().UnixNano()) }

// sortSnapshot orders sessions by id and retained messages by topic.
func sortSnapshot(s *session.Snapshot) {
	slices.SortFunc(s.Sessions, func(x, y session.Record) int { return strings.Compare(x.ID, y.ID) })
	slices.SortFunc(s.Retained, func(x, y session.Message) int { return strings.Compare(x.Topic, y.Topic) })
}
