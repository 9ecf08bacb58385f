// Package disk is a session.Store on disk, in a Pebble database: the store
// behind `plume --data-dir` (decision 0019).
package disk

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/session"
	"github.com/plumemq/plume/store/internal/codec"
)

// Store is a session.Store in a Pebble database in one directory.
//
// Durability, by Config.Mode:
//   - sync: Commit returns nil after its ops are fsynced (one Pebble batch
//     committed with pebble.Sync). A crash, of the process or the machine,
//     loses no Commit that returned nil. Concurrent Commits share one fsync.
//   - async: Commit returns nil once its ops are in Pebble's write-ahead
//     log, in memory, neither written to the file nor fsynced; a goroutine
//     fsyncs the log every half SyncInterval. A crash, of the process or the
//     machine, loses at most the Commits of that half interval (plus the
//     time one fsync takes). Window says SyncInterval: the broker's journal
//     commits at least every half of it (session.WindowedStore), so a change
//     is on disk within SyncInterval of being made.
//
// In both modes each Commit is atomic, and Commits are durable in order: a
// crash leaves the state after some prefix of the Commits. Commit and Load
// are safe for concurrent use; Load holds Commits back while it runs.
type Store struct {
	path string
	mode string
	log  zerolog.Logger
	wo   *pebble.WriteOptions

	// mu guards db: Commit and Load hold it shared, Close exclusively, so
	// that no call reaches a closed Pebble (which panics).
	mu     sync.RWMutex
	db     *pebble.DB            // nil once closed
	broken atomic.Pointer[error] // set when Pebble reported a fatal error: the db is unusable

	window   time.Duration // async: Config.SyncInterval; 0 in sync mode
	dirty    atomic.Bool   // async: a Commit since the last log sync
	stop     chan struct{}
	stopOnce sync.Once
	syncer   sync.WaitGroup
}

var _ session.WindowedStore = (*Store)(nil)

// Open opens or creates the store cfg describes; cfg is validated first.
// A directory that holds something else than a store this package wrote,
// or a store of a newer layout, is refused with an error naming it
// (ErrForeign, session.ErrUnknownVersion); nothing in it is changed. A
// directory another Store holds open, in this process or another, is
// refused too.
func Open(cfg Config, log zerolog.Logger) (*Store, error) {
	return open(cfg, log, nil)
}

// Path is the store's directory.
func (s *Store) Path() string { return s.path }

// Mode is the store's durability mode, ModeSync or ModeAsync.
func (s *Store) Mode() string { return s.mode }

// Window is what a crash may lose (session.WindowedStore): SyncInterval in
// async mode, 0 in sync mode.
func (s *Store) Window() time.Duration { return s.window }

// Commit applies ops atomically, in order, as one Pebble batch, and returns
// when they are as durable as the store's mode promises (Store).
func (s *Store) Commit(ops []session.Op) (err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return session.ErrClosed
	}
	if err := s.failed(); err != nil {
		return fmt.Errorf("%w: %w", session.ErrRejected, err) // Pebble is unusable until restarted
	}
	b := s.db.NewBatch()
	defer func() {
		if cerr := b.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("session store %s: %w", s.path, cerr)
		}
	}()
	var buf []byte
	for i := range ops {
		if buf, err = addOp(b, &ops[i], buf[:0]); err != nil {
			// The same op fails the same way again: not worth a retry.
			return fmt.Errorf("session store: op %d (%s): %w: %w", i, ops[i].Kind, session.ErrRejected, err)
		}
	}
	if b.Empty() {
		return nil
	}
	if err := s.apply(b); err != nil {
		return err
	}
	if s.mode == ModeAsync {
		s.dirty.Store(true) // after Apply: a sync that starts later covers it
	}
	return nil
}

// apply commits b, turning a Pebble fatal error (a panic of our logger, see
// pebbleLogger) into an error that also fails every later Commit: Pebble's
// commit pipeline is unusable after one.
func (s *Store) apply(b *pebble.Batch) (err error) {
	defer func() {
		var f fatal
		if errors.As(err, &f) {
			s.broken.CompareAndSwap(nil, &err)
		}
	}()
	defer recoverFatal(&err, s.path)
	if err := s.db.Apply(b, s.wo); err != nil {
		return fmt.Errorf("session store %s: commit: %w", s.path, err)
	}
	return nil
}

// failed returns the fatal error Pebble reported, if any.
func (s *Store) failed() error {
	if p := s.broken.Load(); p != nil {
		return *p
	}
	return nil
}

// addOp adds op to b; buf is scratch space for the value, returned grown.
func addOp(b *pebble.Batch, op *session.Op, buf []byte) ([]byte, error) {
	var err error
	switch op.Kind {
	case session.PutSession:
		if buf, err = codec.AppendRecord(buf, op.Record); err != nil {
			return buf, err
		}
		err = b.Set(recordKey(op.Record.ID), buf, nil)
	case session.DeleteSession:
		sp := clientSpan(op.Client)
		err = b.DeleteRange(sp.lo, sp.hi, nil)
	case session.PutMessage:
		if op.Message.ID == 0 {
			return buf, fmt.Errorf("message on %q has no ID", op.Message.Topic)
		}
		if buf, err = codec.AppendMessage(buf, op.Message); err != nil {
			return buf, err
		}
		err = b.Set(messageKey(op.Message.ID), buf, nil)
	case session.DeleteMessage:
		err = b.Delete(messageKey(op.MessageID), nil)
	case session.PutDelivery:
		if op.Delivery.Msg != nil && op.Delivery.Msg.ID == 0 {
			return buf, fmt.Errorf("delivery %d of %q: its message has no ID", op.Delivery.Seq, op.Client)
		}
		buf = codec.AppendDelivery(buf, &op.Delivery)
		err = b.Set(deliveryKey(op.Client, op.Delivery.Seq), buf, nil)
	case session.DeleteDelivery:
		err = b.Delete(deliveryKey(op.Client, op.Seq), nil)
	case session.PutInbound:
		err = b.Set(inboundKey(op.Client, op.PacketID), nil, nil)
	case session.DeleteInbound:
		err = b.Delete(inboundKey(op.Client, op.PacketID), nil)
	case session.PutRetained:
		if buf, err = codec.AppendMessage(buf, op.Message); err != nil {
			return buf, err
		}
		err = b.Set(retainedKey(op.Message.Topic), buf, nil)
	case session.DeleteRetained:
		err = b.Delete(retainedKey(op.Topic), nil)
	case session.Forward, session.Position:
		// A cluster node's ops (decision 0055): the broker appends them only
		// with a cluster fabric, whose store is store/jetstream. Refused
		// rather than dropped: a forward dropped would lose the message.
		return buf, fmt.Errorf("%s op: a single-node store keeps no cluster state", op.Kind)
	default:
		return buf, fmt.Errorf("unknown op kind %d", op.Kind)
	}
	return buf, err
}

// syncLoop is async mode's log sync, owned by the Store and stopped by Close.
func (s *Store) syncLoop(every time.Duration) {
	defer s.syncer.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if err := s.syncLog(); err != nil {
				s.log.Error().Err(err).Str("path", s.path).Msg("session store: log sync failed; will retry")
			}
		}
	}
}

// syncLog fsyncs the write-ahead log if a Commit wrote to it since the last
// sync. An empty LogData batch committed with pebble.Sync does it: Pebble's
// commit pipeline syncs the log up to and including that batch.
func (s *Store) syncLog() (err error) {
	if !s.dirty.Swap(false) {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil || s.failed() != nil {
		return nil
	}
	defer func() {
		if err != nil {
			s.dirty.Store(true)
		}
	}()
	defer recoverFatal(&err, s.path)
	return s.db.LogData(nil, pebble.Sync)
}

// Close stops the log sync, syncs the log and closes the database. Later
// calls fail with session.ErrClosed; a second Close returns nil.
func (s *Store) Close() error {
	s.stopOnce.Do(func() { close(s.stop) })
	s.syncer.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	db := s.db
	s.db = nil
	if err := s.failed(); err != nil {
		// Pebble's Close may wait on the pipeline that failed; the process
		// is expected to exit, and the lock goes with it.
		return err
	}
	var errs []error
	if s.mode == ModeAsync {
		if err := db.LogData(nil, pebble.Sync); err != nil {
			errs = append(errs, fmt.Errorf("sync log: %w", err))
		}
	}
	if err := db.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("session store %s: close: %w", s.path, err)
	}
	return nil
}

// ErrCorrupt reports a key or value this store cannot have written: the
// files were damaged or changed by something else.
var ErrCorrupt = codec.ErrCorrupt
