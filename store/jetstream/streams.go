package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// metaShards is the log stream's metadata key holding the shard count the
// store was created with: client ids map to shards by it, so it cannot
// change under existing data.
const metaShards = "plume-shards"

// ErrShards reports a store opened with a shard count other than the one it
// was created with.
var ErrShards = errors.New("jetstream store created with another shard count")

// ensure creates or updates the streams and the bucket. Every stream keeps
// one message per subject (a key's current value), in files, with the
// configured replicas; nothing expires but tombstones (Nats-TTL).
func (s *Store) ensure(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout*time.Duration(4+s.cfg.Shards))
	defer cancel()
	n := &s.names
	if st, err := s.js.Stream(ctx, n.logName); err == nil {
		if got := st.CachedInfo().Config.Metadata[metaShards]; got != strconv.Itoa(s.cfg.Shards) {
			return fmt.Errorf("shards %d, the store has %s: %w", s.cfg.Shards, got, ErrShards)
		}
	} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("stream %s: %w", n.logName, err)
	}
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
	if s.logs, err = s.js.CreateOrUpdateStream(ctx, logCfg); err != nil {
		return fmt.Errorf("stream %s: %w", n.logName, err)
	}
	s.kv, err = s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: n.bucket, History: 1, Storage: jetstream.FileStorage, Replicas: s.cfg.Replicas,
		LimitMarkerTTL: tombstoneTTL, // allows Nats-TTL on delete markers
	})
	if err != nil {
		return fmt.Errorf("bucket %s: %w", n.bucket, err)
	}
	if s.kvSt, err = s.js.Stream(ctx, "KV_"+n.bucket); err != nil {
		return fmt.Errorf("bucket %s: %w", n.bucket, err)
	}
	retCfg := base(n.retain, n.prefix+".r.>")
	retCfg.Subjects = append(retCfg.Subjects, n.prefix+".rb.>") // read barriers
	if s.ret, err = s.js.CreateOrUpdateStream(ctx, retCfg); err != nil {
		return fmt.Errorf("stream %s: %w", n.retain, err)
	}
	s.queues = make([]jetstream.Stream, s.cfg.Shards)
	for k := range s.queues {
		if s.queues[k], err = s.js.CreateOrUpdateStream(ctx, base(n.queueStream(k), n.queueSubjects(k))); err != nil {
			return fmt.Errorf("stream %s: %w", n.queueStream(k), err)
		}
	}
	return nil
}
