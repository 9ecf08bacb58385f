package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/plumemq/plume/core/retry"
)

// metaShards is the log stream's metadata key holding the shard count the
// store was created with: client ids map to shards by it, so it cannot
// change under existing data.
const metaShards = "plume-shards"

// ErrShards reports a store opened with a shard count other than the one it
// was created with.
var ErrShards = errors.New("jetstream store created with another shard count")

// ensure creates the streams and the bucket, or updates them when they
// exist with another configuration. Every stream keeps one message per
// subject (a key's current value), in files, with the configured replicas;
// nothing expires but tombstones (Nats-TTL). Several nodes open the store at
// once when a cluster starts: each request has its own timeout and is asked
// again when unanswered (request), and the create comes first because the
// server answers concurrent creates of one configuration to every caller,
// where an update racing a create leaves both unanswered.
func (s *Store) ensure(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout*time.Duration(5+2*s.cfg.Shards))
	defer cancel()
	n := &s.names
	base := func(name, subjects string) jetstream.StreamConfig {
		return jetstream.StreamConfig{
			Name: name, Subjects: []string{subjects}, Storage: jetstream.FileStorage, Replicas: s.cfg.Replicas,
			Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardOld, MaxMsgsPerSubject: 1,
			AllowMsgTTL: true, // no AllowDirect: a replica answering a direct get may lag the leader
		}
	}
	var err error
	// The log first: its metadata marks the store as created.
	logCfg := base(n.logName, n.prefix+".log.>")
	logCfg.Metadata = map[string]string{metaShards: strconv.Itoa(s.cfg.Shards)}
	// Msg-Id dedup of a log write retried after a timeout: the retry comes
	// within the Commit's deadline, and the window's ids cost server memory.
	logCfg.Duplicates = max(30*time.Second, 4*s.cfg.Timeout)
	if s.logs, err = s.stream(ctx, logCfg, s.checkShards); err != nil {
		return fmt.Errorf("stream %s: %w", n.logName, err)
	}
	if err := s.checkShards(s.logs); err != nil {
		return err
	}
	if s.kv, err = s.bucket(ctx); err != nil {
		return fmt.Errorf("bucket %s: %w", n.bucket, err)
	}
	if s.kvSt, err = s.led(ctx, "KV_"+n.bucket, nil); err != nil {
		return fmt.Errorf("bucket %s: %w", n.bucket, err)
	}
	retCfg := base(n.retain, n.prefix+".r.>")
	retCfg.Subjects = append(retCfg.Subjects, n.prefix+".rb.>") // read barriers
	if s.ret, err = s.stream(ctx, retCfg, nil); err != nil {
		return fmt.Errorf("stream %s: %w", n.retain, err)
	}
	if s.pos, err = s.stream(ctx, base(n.positionStream(), n.prefix+".pos.>"), nil); err != nil {
		return fmt.Errorf("stream %s: %w", n.positionStream(), err)
	}
	for k := range s.cfg.Shards {
		// The ingest is a log, not a map: every message stays for the
		// replay window. Msg-Id dedup makes a retried Forward count once.
		in := base(IngestStream(n.prefix, k), IngestSubjects(n.prefix, k))
		in.MaxMsgsPerSubject, in.AllowMsgTTL = 0, false
		in.MaxAge = s.cfg.ReplayWindow
		in.Duplicates = min(s.cfg.ReplayWindow, max(2*time.Minute, 4*s.cfg.Timeout))
		if _, err = s.stream(ctx, in, nil); err != nil {
			return fmt.Errorf("stream %s: %w", in.Name, err)
		}
	}
	s.queues = make([]jetstream.Stream, s.cfg.Shards)
	for k := range s.queues {
		if s.queues[k], err = s.stream(ctx, base(n.queueStream(k), n.queueSubjects(k)), nil); err != nil {
			return fmt.Errorf("stream %s: %w", n.queueStream(k), err)
		}
	}
	return nil
}

// stream creates the stream of cfg, or, when it exists with another
// configuration, checks the existing one with check (nil: no check) and
// updates it. A create of an existing stream with the same configuration
// succeeds: the server treats it as a repeat.
func (s *Store) stream(ctx context.Context, cfg jetstream.StreamConfig, check func(jetstream.Stream) error) (jetstream.Stream, error) {
	st, err := request(ctx, s.cfg.Timeout, func(ctx context.Context) (jetstream.Stream, error) {
		return s.js.CreateStream(ctx, cfg)
	})
	if err == nil {
		return s.led(ctx, cfg.Name, st)
	}
	if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return nil, err
	}
	if check != nil {
		old, err := s.led(ctx, cfg.Name, nil)
		if err != nil {
			return nil, err
		}
		if err := check(old); err != nil {
			return nil, err
		}
	}
	if st, err = request(ctx, s.cfg.Timeout, func(ctx context.Context) (jetstream.Stream, error) {
		return s.js.UpdateStream(ctx, cfg)
	}); err != nil {
		return nil, err
	}
	return s.led(ctx, cfg.Name, st)
}

// led returns the stream named name, which exists, once its replicas
// elected a leader, asking for its info again until then (st: the info
// already had, or nil). A create repeated by another node is answered by
// every member as soon as the stream exists, before the election; until it
// ends, the server leaves reads (STREAM.MSG.GET, STREAM.INFO) unanswered and
// publishes unacknowledged, so Open would hang on its first read of the
// log. A member whose copy of the assignment lags answers "not found".
func (s *Store) led(ctx context.Context, name string, st jetstream.Stream) (jetstream.Stream, error) {
	wait := retry.First
	for {
		if st != nil {
			if c := st.CachedInfo().Cluster; c == nil || c.Leader != "" {
				return st, nil
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("no leader elected: %w", ctx.Err())
			case <-t.C:
			}
			wait = min(2*wait, retry.Max)
		}
		var err error
		if st, err = request(ctx, s.cfg.Timeout, func(ctx context.Context) (jetstream.Stream, error) {
			st, err := s.js.Stream(ctx, name)
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				return nil, fmt.Errorf("%w: %w", errNotYet, err)
			}
			return st, err
		}); err != nil {
			return nil, err
		}
	}
}

// checkShards refuses a log stream created with another shard count.
func (s *Store) checkShards(st jetstream.Stream) error {
	if got := st.CachedInfo().Config.Metadata[metaShards]; got != strconv.Itoa(s.cfg.Shards) {
		return fmt.Errorf("shards %d, the store has %s: %w", s.cfg.Shards, got, ErrShards)
	}
	return nil
}

// bucket creates the session KV bucket, or updates it when it exists with
// another configuration (see stream).
func (s *Store) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	cfg := jetstream.KeyValueConfig{
		Bucket: s.names.bucket, History: 1, Storage: jetstream.FileStorage, Replicas: s.cfg.Replicas,
		LimitMarkerTTL: tombstoneTTL, // allows Nats-TTL on delete markers
	}
	kv, err := request(ctx, s.cfg.Timeout, func(ctx context.Context) (jetstream.KeyValue, error) {
		return s.js.CreateKeyValue(ctx, cfg)
	})
	if !errors.Is(err, jetstream.ErrBucketExists) {
		return kv, err
	}
	return request(ctx, s.cfg.Timeout, func(ctx context.Context) (jetstream.KeyValue, error) {
		return s.js.UpdateKeyValue(ctx, cfg)
	})
}
