package fabric

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/plumemq/plume/cluster/subject"
	"github.com/plumemq/plume/core/session"
)

// ErrNoIngest is CatchUp's error on a fabric without an ingest.
var ErrNoIngest = errors.New("fabric: no ingest configured")

// CatchUp brings a session that moves here (decision 0055, part 3) up to
// this node's routing. It pauses the shards' consumers between two
// messages, calls install — which puts the session in this node's router
// and returns its non-shared MQTT filters (nil: nothing was installed,
// nothing is read) — then reads every ingest message in (from[k],
// Positions()[k]] of each shard k whose topic matches one of the filters,
// in stream order per shard, calls deliver for each with m.Redelivered set
// (the old owner may have sent it) — but those of own, which the old owner
// routed to the session as it accepted them — and lets the consumers go on. So the
// range ends exactly where live routing resumes, and the session gets
// the range before anything routed after it. install and deliver must not
// call back into the fabric. A message older than the replay window is
// gone: CatchUp delivers from the first one left and reports the shards
// that lost some (ErrReplayWindow).
//
// Every shard is waited for first, until this node has routed up to from
// (the old owner had routed further) and up to through, the stream's end
// as AwaitPositions read it once the old owner had let go or died (nil:
// the end as it is when CatchUp begins), so that every message the old
// owner put in the session — its own, routed as it accepted them and
// written to the ingest in the same commit, which may lie beyond both
// nodes' positions — is in the range, where own skips it. Installed at a
// lower point, this node's live routing would give the session those
// again (without DUP), and the range would miss this node's own messages
// accepted before the catch-up began but not yet read back (its consumers
// skip them). The wait ends with ctx, before anything is installed.
func (f *Fabric) CatchUp(ctx context.Context, from, through session.Positions, own Own, install func() []string, deliver func(*session.Message)) error {
	in := f.ing
	if in == nil || len(in.shards) == 0 {
		return ErrNoIngest
	}
	// Without through, the streams' ends are read before the install: a
	// JetStream that cannot answer fails the move with nothing installed.
	// With it, they serve only to tell what aged out of the replay window,
	// and a stream that does not answer is not checked: the session was
	// claimed for this node, and a catch-up failing before its install
	// would leave it claimed and never installed.
	infos := make([]*jetstream.StreamInfo, len(in.shards))
	upTo := make(session.Positions, len(in.shards))
	for i, sh := range in.shards {
		upTo[i] = max(from.At(int(sh.k)), through.At(int(sh.k)))
		st, err := in.js.Stream(ctx, sh.stream)
		if err != nil && through == nil {
			return fmt.Errorf("fabric: catch-up on %s: %w", sh.stream, err)
		}
		if err != nil {
			f.warn.Log(&f.log, zerolog.WarnLevel, "catch-up info").Str("stream", sh.stream).Err(err).
				Msg("cluster fabric: catch-up without the replay window's check")
			continue
		}
		infos[i] = st.CachedInfo()
		if through == nil {
			upTo[i] = max(upTo[i], infos[i].State.LastSeq)
		}
	}
	if err := f.awaitPositions(ctx, upTo); err != nil {
		return err
	}
	defer f.Pause()() // all of them: a session's range ends at one point of every shard
	filters := install()
	match := matcher(filters)
	var lost []error
	var late []lateRange
	for i, sh := range in.shards {
		start, to := from.At(int(sh.k)), sh.pos.Load()
		end := sh.posSubject // the shard is paused: the subject of the message at to
		if start >= to || len(filters) == 0 {
			continue
		}
		var subjects []string
		for _, flt := range filters {
			s, err := in.codecs[sh.k].Filter(flt)
			if err != nil {
				return fmt.Errorf("fabric: catch-up filter %q: %w", flt, err)
			}
			subjects = append(subjects, s...)
		}
		// Batches (decision 0061) are under a subject of their own, whatever
		// their messages' topics: read whole, and filtered here (match).
		subjects = append(subjects, in.codecs[sh.k].Prefix()+batchToken)
		// "a/#" and "a/b" make filters that nats-server refuses together.
		subjects = subject.WithoutSubsumed(subjects)
		if infos[i] != nil && infos[i].State.FirstSeq > start+1 { // nil: not checked (above)
			first := infos[i].State.FirstSeq
			lost = append(lost, fmt.Errorf("%s: (%d, %d) %w", sh.stream, start, first, ErrReplayWindow))
		}
		if late != nil {
			late = append(late, lateRange{sh, start, to, end, subjects})
			continue
		}
		if read, err := f.catchUpRetrying(ctx, sh, start, to, end, subjects, match, own, deliver); err != nil {
			late = append(late, lateRange{sh, read, to, end, subjects})
		}
	}
	if late != nil {
		f.readLate(late, match, own, deliver)
	}
	f.stats.caughtUp.Add(1)
	return errors.Join(lost...)
}

// lateRange is what is left of a shard's catch-up range when ctx ended.
type lateRange struct {
	sh        *shard
	start, to uint64
	end       string // the subject of the message at to, "" if unknown
	subjects  []string
}

// readLate delivers what is left of a catch-up's ranges, on a goroutine of
// its own, reading again until it has it or the fabric closes. The
// session is installed by then: a range cut short was lost to it for good
// — its client, refused, resumed the installed session here on its next
// CONNECT (TestFaultKill9 seed 1796080832879662629: the stream's leader had
// just been killed, its election outlasted the CONNECT's deadline, and s1
// lost 66 messages). Read with the consumers running, the range's messages
// come after newer ones the session got meanwhile: late, with DUP, never
// lost. Until they are read the session carries its positions in the
// store only until its next write, as after any catch-up.
func (f *Fabric) readLate(late []lateRange, match func(string) bool, own Own, deliver func(*session.Message)) {
	f.log.Warn().Int("shards", len(late)).Str("stream", late[0].sh.stream).Uint64("from", late[0].start).
		Msg("cluster fabric: the catch-up's deadline passed; the rest of its range comes after newer messages")
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-f.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		for _, r := range late {
			if _, err := f.catchUpRetrying(ctx, r.sh, r.start, r.to, r.end, r.subjects, match, own, deliver); err != nil {
				f.log.Error().Err(err).Str("stream", r.sh.stream).Uint64("from", r.start).Uint64("to", r.to).
					Msg("cluster fabric: the rest of a catch-up's range was not read before the fabric closed")
				return
			}
		}
	}()
}

// Pause stops every shard's consumer between two messages, and returns
// the call that lets them go on (broker.Ingest). While they are paused
// Positions does not move: a session that leaves or enters the router then
// does so at one exact point of every shard. Without an ingest it does
// nothing.
func (f *Fabric) Pause() (resume func()) {
	if f.ing == nil {
		return func() {}
	}
	shards := f.ing.shards
	for _, sh := range shards {
		sh.mu.Lock()
	}
	return func() {
		for _, sh := range shards {
			sh.mu.Unlock()
		}
	}
}

// ErrReplayWindow reports messages of a catch-up's range that the ingest
// no longer holds (older than cluster.replay_window).
var ErrReplayWindow = errors.New("ingest messages older than the replay window are gone")

// catchUpRetrying reads (start, to] of sh as catchUpShard does, and after
// a failure goes on from the last message read until ctx ends: the session
// is installed by then, and a range cut short would be lost to it. It
// returns where it got to when ctx ends (readLate goes on from there).
func (f *Fabric) catchUpRetrying(ctx context.Context, sh *shard, start, to uint64, end string, subjects []string, match func(topic string) bool, own Own, deliver func(*session.Message)) (uint64, error) {
	for {
		// Each attempt has its own deadline: a request the server lost
		// while it was away is answered by no one, and would hold the
		// whole catch-up's.
		actx, cancel := context.WithTimeout(ctx, f.catchUpAttempt())
		read, err := f.catchUpShard(actx, sh, start, to, end, subjects, match, own, deliver)
		cancel()
		if err == nil {
			return to, nil
		}
		start = max(start, read)
		f.warn.Log(&f.log, zerolog.WarnLevel, "catch-up read").Str("stream", sh.stream).Uint64("from", start).
			Err(err).Msg("cluster fabric: catch-up read failed; reading again")
		select {
		case <-ctx.Done():
			return start, fmt.Errorf("%w (%w)", err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// catchUpAttempt is how long one attempt of a catch-up's read may take.
func (f *Fabric) catchUpAttempt() time.Duration {
	if t := f.ing.cfg.Timeout; t > 0 {
		return t
	}
	return 5 * time.Second
}

// catchUpShard reads (start, to] of sh under subjects with an ordered
// consumer of its own, and delivers the messages whose topic match takes:
// a batch holds messages of any topic (decision 0061). It returns the last
// stream sequence it read (delivered or skipped), start when none.
//
// The consumer reads whichever replica nats-server put it on, and a
// replica that a restarted node's server is still catching up holds only
// the stream's beginning: its read ends early, as if nothing more matched
// (TestFaultKill9 seed 1796096636821462122: s2 lost the 60 messages the
// taking node had accepted in the second before the move, read through
// the replica of a node back a second earlier). So the consumer also
// takes end, the subject of the message at to, and a read that ends
// without that message ends with ErrReplicaBehind, to be read again —
// unless the message left the stream meanwhile (the replay window).
func (f *Fabric) catchUpShard(ctx context.Context, sh *shard, start, to uint64, end string, subjects []string, match func(topic string) bool, own Own, deliver func(*session.Message)) (uint64, error) {
	in := f.ing
	if end == "" {
		// Not routed by this run (its position came from the store): the
		// stream's leader names it.
		s, err := f.subjectAt(ctx, sh, to)
		if err != nil {
			return start, err
		}
		end = s
	}
	filters := subjects
	if end != "" && !slices.ContainsFunc(subjects, func(s string) bool { return subject.Subsumes(s, end) }) {
		filters = append(slices.Clip(subjects), end) // a literal subject: it subsumes none of them
	}
	cons, err := in.readConsumer(ctx, sh.stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: filters, DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: start + 1,
	})
	if err != nil {
		return start, fmt.Errorf("fabric: catch-up consumer on %s: %w", sh.stream, err)
	}
	read := start
	for {
		batch, err := cons.FetchNoWait(in.cfg.Pull)
		if err != nil {
			return read, fmt.Errorf("fabric: catch-up on %s: %w", sh.stream, err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			meta, err := msg.Metadata()
			if err != nil {
				continue
			}
			seq := meta.Sequence.Stream
			if seq > to {
				return read, nil // live routing has it from here
			}
			read = seq
			envs, _, err := f.unpack(msg.Data())
			if err != nil {
				f.stats.malformed.Add(1)
			}
			for i := range envs {
				e := &envs[i]
				if own.skips(e.origin, e.seq) || !match(e.msg.Topic) {
					continue
				}
				m := &e.msg
				if e.leftMs > 0 {
					m.Expires = meta.Timestamp.Add(msDuration(e.leftMs)).UnixNano()
				}
				m.Redelivered = true
				deliver(m)
			}
			if seq == to {
				return read, nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return read, fmt.Errorf("fabric: catch-up on %s: %w", sh.stream, err)
		}
		if n == 0 {
			if end == "" {
				return read, nil // nothing more under the filters up to the stream's end
			}
			if s, err := f.subjectAt(ctx, sh, to); err == nil && s == "" {
				return read, nil // the message at to is gone: nothing tells how far the read got
			}
			return read, fmt.Errorf("fabric: catch-up on %s: read up to %d of %d: %w", sh.stream, read, to, ErrReplicaBehind)
		}
		if err := ctx.Err(); err != nil {
			return read, fmt.Errorf("fabric: catch-up on %s: %w", sh.stream, err)
		}
	}
}

// ErrReplicaBehind reports a catch-up read that ended before the end of
// its range: the replica that served it had not caught up yet.
var ErrReplicaBehind = errors.New("the replica read is behind the stream")

// subjectAt is the subject of the message at seq of sh's stream as the
// stream's leader has it ("" when it has none): the ingest streams have no
// direct gets, so a GetMsg goes to the leader.
func (f *Fabric) subjectAt(ctx context.Context, sh *shard, seq uint64) (string, error) {
	st, err := f.ing.js.Stream(ctx, sh.stream)
	if err != nil {
		return "", fmt.Errorf("fabric: catch-up on %s: %w", sh.stream, err)
	}
	m, err := st.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("fabric: catch-up on %s: the message at %d: %w", sh.stream, seq, err)
	}
	return m.Subject, nil
}

// readConsumer makes a catch-up's consumer: in.js's ordered consumer, or
// the test's stand-in (consumerForTest).
func (in *ingest) readConsumer(ctx context.Context, stream string, cfg jetstream.OrderedConsumerConfig) (jetstream.Consumer, error) {
	if in.consumerForTest != nil {
		return in.consumerForTest(ctx, stream, cfg)
	}
	return in.js.OrderedConsumer(ctx, stream, cfg)
}

// AwaitPositions waits until this node has routed every shard up to from
// and up to each ingest stream's end as it is when it is called, and
// returns those ends: the through of a CatchUp. A node taking a session
// over waits before it claims it (decision 0056), once the old owner let
// go or died: the wait a catch-up needs happens with nothing claimed yet,
// so that a node too far behind refuses the move and leaves the session
// where it was instead of claiming it and failing its catch-up (the
// session stranded, unplaced, its positions only in this node's memory).
func (f *Fabric) AwaitPositions(ctx context.Context, from session.Positions) (session.Positions, error) {
	in := f.ing
	if in == nil || len(in.shards) == 0 {
		return nil, ErrNoIngest
	}
	ends := make(session.Positions, len(in.shards))
	upTo := make(session.Positions, len(in.shards))
	for i, sh := range in.shards {
		st, err := in.js.Stream(ctx, sh.stream)
		if err != nil {
			return nil, fmt.Errorf("fabric: the end of %s: %w", sh.stream, err)
		}
		ends[i] = st.CachedInfo().State.LastSeq
		upTo[i] = max(from.At(int(sh.k)), ends[i])
	}
	return ends, f.awaitPositions(ctx, upTo)
}

// awaitPositions waits until this node has routed every shard up to from
// (positions only grow: it still holds once the shards are paused).
// Shards are indexed by their number.
func (f *Fabric) awaitPositions(ctx context.Context, from session.Positions) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		behind := false
		for _, sh := range f.ing.shards {
			behind = behind || sh.pos.Load() < from.At(int(sh.k))
		}
		if !behind {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("fabric: catch-up: this node has not routed up to %v: %w", from, ctx.Err())
		case <-t.C:
		}
	}
}
