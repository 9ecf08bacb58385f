package fabric

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/plumemq/plume/cluster/subject"
	"github.com/plumemq/plume/core/session"
)

// QoS ≥ 1 between nodes goes through JetStream (decision 0055). A message
// accepted here is forwarded by the broker's journal (broker.Ingest: the
// Forward op, written by the store before the publisher's PUBACK) to the
// ingest stream of its publisher's shard, PREFIX_IN<k>, on subject
// PREFIX.in.<k>.<cluster/subject encoding of the topic>, as an envelope
// whose origin is this node's name hashed. Every node reads every shard in
// stream order with one ordered consumer per shard, from its committed
// position on, and routes each message with RouteIngested, which commits
// the position with the deliveries it made. Its own messages were routed
// when they were accepted: they only advance the position. The store packs
// the Forwards of one Commit to one shard into one stream message, a batch
// (decision 0061, batch.go): routed whole, at its one sequence.

// IngestConfig turns the ingest on: the store's side of it (store/jetstream
// writes the Forward ops and creates the streams).
type IngestConfig struct {
	// Prefix is the store's prefix: streams PREFIX_IN<k>, subjects PREFIX.in.<k>.…
	Prefix string
	// Shards is the store's shard count: one ingest stream per shard.
	Shards int
	// Node is this node's name, as the store writes it: unique, stable
	// across restarts (it tells this node's messages from the others').
	Node string
	// Timeout bounds each JetStream request; 5s when zero.
	Timeout time.Duration
	// StartTimeout bounds Start's JetStream requests together: each is
	// asked again while the streams elect leaders (ask.go) until then.
	// Timeout × (2 + Shards) when zero; cmd/plume gives it
	// cluster.start_timeout.
	StartTimeout time.Duration
	// Pull is how many messages a shard's consumer holds ahead of the
	// broker; 256 when zero. The consumer asks for more only as the broker
	// takes them: a slow broker slows the reading, it loses nothing.
	Pull int
}

// IngestLocal is what the ingest delivers into: *broker.Broker.
type IngestLocal interface {
	Local
	// RouteIngested routes ms, the messages of the ingest message at
	// (shard, seq) — none: position only; several: a batch — and records
	// the position in the same journal change, so that it commits with
	// every delivery their routing made.
	RouteIngested(shard uint32, seq uint64, ms ...*session.Message) int
	// Positions are the positions the store held at start.
	Positions() session.Positions
}

type ingest struct {
	cfg    IngestConfig
	js     jetstream.JetStream
	codecs []*subject.Codec // per shard: PREFIX.in.<k>
	origin uint64           // fnv64a(Node): this node's ingest envelopes
	boot   string           // Msg-Id stem: node, and a random id per process
	seq    atomic.Uint64    // Msg-Id counter
	shards []*shard
	local  IngestLocal
	// unread are this node's own messages forwarded and not yet read back
	// from the ingest, by counter (PendingOwn).
	unreadMu sync.Mutex
	unread   map[uint64]unreadOwn
	// consumerForTest, when set, makes the catch-ups' consumers: a test
	// plays a replica that lags.
	consumerForTest func(ctx context.Context, stream string, cfg jetstream.OrderedConsumerConfig) (jetstream.Consumer, error)
}

// unreadOwn is one of them, with when it was forwarded: one whose write
// failed never comes back and is forgotten after unreadFor.
type unreadOwn struct {
	m  *session.Message
	at time.Time
}

// unreadFor bounds how long an own message is waited for: far longer than
// a Commit may take.
const unreadFor = time.Minute

// shard is one ingest stream as this node reads it.
type shard struct {
	k      uint32
	stream string
	mu     sync.Mutex // held while a message is routed: CatchUp pauses the shard by taking it
	pos    atomic.Uint64
	// posSubject is the subject of the message at pos, "" when this run
	// has not routed one yet (pos from the store); under mu. A catch-up
	// reads up to pos and must see that message to know it read it all.
	posSubject string
	// Messages up to redoTo, or stored before redoBefore, may have been
	// routed by this node's last run before it crashed: DUP. Zero on a
	// shard this node never read.
	redoTo     uint64
	redoBefore time.Time
	messages   jetstream.MessagesContext
}

func newIngest(f *Fabric, cfg IngestConfig) (*ingest, error) {
	if cfg.Shards < 1 || cfg.Node == "" || cfg.Prefix == "" {
		return nil, fmt.Errorf("fabric: ingest needs a prefix, a node name and shards (got %q, %q, %d)", cfg.Prefix, cfg.Node, cfg.Shards)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Pull <= 0 {
		cfg.Pull = 256
	}
	js, err := jetstream.New(f.nc)
	if err != nil {
		return nil, fmt.Errorf("fabric: ingest: %w", err)
	}
	in := &ingest{cfg: cfg, js: js}
	for k := range cfg.Shards {
		c, err := subject.New(cfg.Prefix + ".in." + strconv.Itoa(k))
		if err != nil {
			return nil, fmt.Errorf("fabric: ingest prefix: %w", err)
		}
		in.codecs = append(in.codecs, c)
	}
	in.origin = originOf(cfg.Node)
	var id [6]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, fmt.Errorf("fabric: ingest id: %w", err)
	}
	// A process's ids never repeat another's: the dedup window must not
	// take a new message of a restarted node for an old one.
	in.boot = cfg.Node + "." + hex.EncodeToString(id[:]) + "."
	// The envelope's counter goes on across restarts (from the clock, in
	// ns): a catch-up tells a node's own messages it had routed from those
	// it had not by comparing them with its count at let-go (Own).
	in.seq.Store(uint64(time.Now().UnixNano()))
	return in, nil
}

// shardOf is the ingest shard of a publisher: FNV-1a of its client id, as
// store/jetstream shards its queues, so that one publisher's messages are
// in one stream, in order.
func (in *ingest) shardOf(client string) int {
	h := fnv.New32a()
	h.Write([]byte(client))
	return int(h.Sum32() % uint32(in.cfg.Shards))
}

// Forwards reports whether the fabric carries QoS ≥ 1 messages through the
// store (broker.Ingest): with an ingest configured.
func (f *Fabric) Forwards() bool { return f.ing != nil }

// Forward returns m as its ingest shard takes it (broker.Ingest), or false
// when it cannot go: no ingest, expired, or a topic too long for a subject
// (routed here only, as on core NATS, counted in Stats.TooLong).
func (f *Fabric) Forward(m *session.Message) (*session.Forwarded, bool) {
	in := f.ing
	if in == nil {
		return nil, false
	}
	var leftMs int64
	if m.Expires != 0 {
		left := time.Until(time.Unix(0, m.Expires))
		if left <= 0 {
			return nil, false // [MQTT-3.3.2-5]
		}
		leftMs = max(left.Milliseconds(), 1)
	}
	k := in.shardOf(m.Publisher)
	subj, err := in.codecs[k].AppendTopic(nil, m.Topic)
	if err != nil {
		f.stats.tooLong.Add(1)
		f.warn.Log(&f.log, zerolog.WarnLevel, "topic too long").Str("topic", truncate(m.Topic)).
			Str("client_id", m.Publisher).Err(err).Msg("cluster fabric: message not forwarded to other nodes")
		return nil, false
	}
	n := in.seq.Add(1)
	in.keepUnread(n, m)
	env := appendEnvelope(nil, m, in.origin, leftMs)
	setSeq(env, n)
	f.stats.forwarded.Add(1)
	return &session.Forwarded{Subject: string(subj), Data: env, ID: in.boot + strconv.FormatUint(n, 10)}, true
}

// redoClockMargin is how far the clocks of the NATS servers (which stamp
// stored messages) and this process may differ, for the DUP of re-read
// messages: a few messages too many get DUP, which QoS 1 allows.
const redoClockMargin = 10 * time.Second

// startIngest starts one ordered consumer per shard at the position local
// loaded. A node without positions (it never ran) starts each shard at its
// stream's end, and those positions are committed at once: it has nothing
// to catch up on, but from now on it must not skip what a restart would
// find missing.
func (f *Fabric) startIngest(local IngestLocal) error {
	in := f.ing
	in.local = local
	loaded := local.Positions()
	ctx, cancel := context.WithTimeout(context.Background(), in.startTimeout())
	defer cancel()
	for k := range in.cfg.Shards {
		sh := &shard{k: uint32(k), stream: in.cfg.Prefix + "_IN" + strconv.Itoa(k)}
		st, again, err := ask(ctx, in.cfg.Timeout, func(ctx context.Context) (jetstream.Stream, error) {
			return in.js.Stream(ctx, sh.stream)
		})
		f.askedAgain(sh.stream, "stream lookup", again, err)
		if err != nil {
			f.stopIngest()
			return fmt.Errorf("fabric: ingest stream %s: %w", sh.stream, err)
		}
		last := st.CachedInfo().State.LastSeq
		pos := loaded.At(k)
		if loaded == nil {
			pos = last
			local.RouteIngested(sh.k, pos)
		} else {
			// A committed 0 is a position: the stream was empty when this
			// node first read it. Taken for none, it made a node restarted
			// before routing its first message of the shard start at the
			// end and skip what was published meanwhile (TestFaultKill9
			// seed 1796066200031605877: s1 lost 40 messages).
			// What the last run may have routed without its position
			// committed. The stream info may come from a replica that has
			// not caught up after this node's restart, so the time the
			// server stored a message counts too: anything stored before
			// this run began, with a margin for the servers' clocks.
			sh.redoTo, sh.redoBefore = last, time.Now().Add(redoClockMargin)
			if first := st.CachedInfo().State.FirstSeq; pos+1 < first {
				f.log.Warn().Str("stream", sh.stream).Uint64("position", pos).Uint64("first", first).
					Msg("cluster fabric: messages older than the replay window are gone: this node missed them")
			}
		}
		sh.pos.Store(pos)
		cons, again, err := ask(ctx, in.cfg.Timeout, func(ctx context.Context) (jetstream.Consumer, error) {
			return in.js.OrderedConsumer(ctx, sh.stream, jetstream.OrderedConsumerConfig{
				DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: pos + 1,
			})
		})
		f.askedAgain(sh.stream, "consumer create", again, err)
		if err != nil {
			f.stopIngest()
			return fmt.Errorf("fabric: ingest consumer on %s: %w", sh.stream, err)
		}
		if sh.messages, err = cons.Messages(jetstream.PullMaxMessages(in.cfg.Pull)); err != nil {
			f.stopIngest()
			return fmt.Errorf("fabric: ingest consumer on %s: %w", sh.stream, err)
		}
		in.shards = append(in.shards, sh)
	}
	for _, sh := range in.shards {
		f.wg.Add(1)
		go f.readShard(sh)
	}
	return nil
}

// startTimeout bounds startIngest's requests together.
func (in *ingest) startTimeout() time.Duration {
	if in.cfg.StartTimeout > 0 {
		return in.cfg.StartTimeout
	}
	return in.cfg.Timeout * time.Duration(2+in.cfg.Shards)
}

// askedAgain logs a start request that needed more than one attempt: a
// restart that waited for its streams' leaders says so.
func (f *Fabric) askedAgain(stream, what string, attempts int, err error) {
	if attempts == 0 || err != nil { // a failure is the caller's error
		return
	}
	f.log.Info().Str("stream", stream).Int("attempts", attempts+1).
		Msg("cluster fabric: ingest " + what + " answered after asking again (the stream was electing a leader)")
}

// stopIngest stops the consumers; their goroutines end (Close waits).
func (f *Fabric) stopIngest() {
	if f.ing == nil {
		return
	}
	for _, sh := range f.ing.shards {
		sh.messages.Stop()
	}
}

// readShard routes shard sh's messages in stream order, one at a time: the
// next is asked for only when the broker took this one.
func (f *Fabric) readShard(sh *shard) {
	defer f.wg.Done()
	for {
		msg, err := sh.messages.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || errors.Is(err, nats.ErrConnectionClosed) {
				return
			}
			f.warn.Log(&f.log, zerolog.WarnLevel, "ingest read").Str("stream", sh.stream).Err(err).
				Msg("cluster fabric: reading the ingest")
			// The ordered consumer recreates itself from its last message;
			// a pause keeps a lasting fault from spinning.
			select {
			case <-f.done:
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		meta, err := msg.Metadata()
		if err != nil {
			f.stats.malformed.Add(1)
			continue
		}
		sh.mu.Lock()
		f.routeIngested(sh, msg.Subject(), msg.Data(), meta.Sequence.Stream, meta.Timestamp)
		sh.mu.Unlock()
	}
}

// routeIngested routes one ingest message read at seq — one envelope, or
// a batch of them (batch.go) — in one RouteIngested with the position;
// sh.mu is held.
func (f *Fabric) routeIngested(sh *shard, subject string, data []byte, seq uint64, stored time.Time) {
	in := f.ing
	if seq <= sh.pos.Load() {
		return // read already (a consumer recreated at an older point)
	}
	envs, batch, err := f.unpack(data)
	switch {
	case err != nil:
		f.stats.received.Add(1)
		f.stats.malformed.Add(1)
		f.warn.Log(&f.log, zerolog.WarnLevel, "malformed").Str("stream", sh.stream).Err(err).
			Msg("cluster fabric: ingest message dropped")
	case batch:
		f.stats.batches.Add(1)
	}
	f.stats.received.Add(uint64(len(envs)))
	redo := seq <= sh.redoTo || stored.Before(sh.redoBefore)
	ms := make([]*session.Message, 0, len(envs))
	for i := range envs {
		e := &envs[i]
		if e.origin == in.origin {
			f.stats.own.Add(1) // routed here when it was accepted
			in.readBack(e.seq)
			continue
		}
		m := &e.msg
		if e.leftMs > 0 {
			// The server's clock when it stored the message stands for the
			// publisher's: the time left counts from then [MQTT-3.3.2-6].
			m.Expires = stored.Add(msDuration(e.leftMs)).UnixNano()
		}
		m.Redelivered = redo
		if redo {
			f.stats.redelivered.Add(1)
		}
		ms = append(ms, m)
	}
	in.local.RouteIngested(sh.k, seq, ms...)
	f.stats.ingested.Add(uint64(len(ms)))
	sh.pos.Store(seq)
	sh.posSubject = subject
}

// Positions returns how far this node has routed each ingest shard: every
// message up to Positions()[k] went through RouteIngested, and its
// position op is in the journal (committed once the journal has committed
// what was appended before the call returned). Nil without an ingest.
func (f *Fabric) Positions() session.Positions {
	if f.ing == nil || len(f.ing.shards) == 0 {
		return nil
	}
	p := make(session.Positions, len(f.ing.shards))
	for i, sh := range f.ing.shards {
		p[i] = sh.pos.Load()
	}
	return p
}

// keepUnread remembers own message n until it is read back.
func (in *ingest) keepUnread(n uint64, m *session.Message) {
	now := time.Now()
	in.unreadMu.Lock()
	defer in.unreadMu.Unlock()
	if in.unread == nil {
		in.unread = map[uint64]unreadOwn{}
	}
	if len(in.unread) >= 1024 && len(in.unread)%1024 == 0 {
		for k, u := range in.unread {
			if now.Sub(u.at) > unreadFor {
				delete(in.unread, k) // its write failed: it never comes back
			}
		}
	}
	in.unread[n] = unreadOwn{m: m, at: now}
}

func (in *ingest) readBack(n uint64) {
	in.unreadMu.Lock()
	delete(in.unread, n)
	in.unreadMu.Unlock()
}

// PendingOwn returns this node's own QoS ≥ 1 messages that were forwarded
// and routed here as they were accepted but not yet read back from the
// ingest, in the order they were accepted (broker.Ingest). A session
// installed here now missed them: its catch-up range ends at this node's
// positions, which they are past, and the consumers skip them as this
// node's own when they read them. Call it with the consumers paused
// (CatchUp's install) and with no publish between its routing and its
// Forward (the broker holds them off), so that the list is exact.
func (f *Fabric) PendingOwn() []*session.Message {
	in := f.ing
	if in == nil {
		return nil
	}
	in.unreadMu.Lock()
	ns := make([]uint64, 0, len(in.unread))
	for n, u := range in.unread {
		if time.Since(u.at) <= unreadFor {
			ns = append(ns, n)
		}
	}
	slices.Sort(ns)
	ms := make([]*session.Message, len(ns))
	for i, n := range ns {
		ms[i] = in.unread[n].m
	}
	in.unreadMu.Unlock()
	return ms
}

// Own names the ingest messages a session's old node routed to it when it
// accepted them (decision 0056): Node's own messages up to its counter
// UpTo. A catch-up skips them. The zero Own skips nothing.
type Own struct {
	Node string
	UpTo uint64
}

// Forwarded is this node's own-message cut: every message it forwarded so
// far has a counter at or below it, and was routed to the local sessions as
// it was accepted.
func (f *Fabric) Forwarded() Own {
	if f.ing == nil {
		return Own{}
	}
	return Own{Node: f.ing.cfg.Node, UpTo: f.ing.seq.Load()}
}

// skips says whether the envelope (origin, seq) is one of own's messages.
func (o Own) skips(origin, seq uint64) bool {
	return o.Node != "" && origin == originOf(o.Node) && seq <= o.UpTo
}

func originOf(node string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(node))
	return h.Sum64()
}

func msDuration(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }
