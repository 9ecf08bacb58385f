package disk

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/plumemq/plume/core/session"
	"github.com/plumemq/plume/store/internal/codec"
)

// Load returns everything stored, as the session.Store contract says, in
// three ordered scans and no map: the messages by id (kept in a slice that
// deliveries find theirs in by binary search, so that deliveries of one
// message share one *Message), then every client's keys in order (its
// record, its deliveries by Seq, its inbound ids), then the retained
// messages.
//
// Leftovers are deleted as Load finds them, with a warning: the keys of a
// client that has no record, deliveries whose message is missing, and
// messages no delivery refers to. None is returned. Atomic Commits leave
// none behind; they come from a broker that deleted a session's record
// without its deliveries, or a message still referred to.
//
// A value this store cannot have written fails Load with an error wrapping
// ErrCorrupt, and one of a newer version with session.ErrUnknownVersion;
// nothing is deleted then, and the data stays for whoever can read it.
func (s *Store) Load() (snap session.Snapshot, err error) {
	// Exclusively: its scans must see one state, and the leftovers it
	// deletes must still be leftovers (a concurrent Commit could refer to a
	// message found unreferenced). The broker loads once, before any Commit.
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return session.Snapshot{}, session.ErrClosed
	}
	if err := s.failed(); err != nil {
		return session.Snapshot{}, err
	}
	defer recoverFatal(&err, s.path)
	start := time.Now()
	l := loader{db: s.db}
	if err := l.messages(); err != nil {
		return session.Snapshot{}, fmt.Errorf("session store %s: load messages: %w", s.path, err)
	}
	if err := l.clients(); err != nil {
		return session.Snapshot{}, fmt.Errorf("session store %s: load sessions: %w", s.path, err)
	}
	if err := l.retained(); err != nil {
		return session.Snapshot{}, fmt.Errorf("session store %s: load retained messages: %w", s.path, err)
	}
	orphans := 0
	for i, used := range l.used {
		if !used {
			l.garbage = append(l.garbage, messageKey(l.ids[i]))
			orphans++
		}
	}
	if len(l.garbage) > 0 || len(l.garbageSpans) > 0 {
		ev := s.log.Warn().Str("path", s.path).Int("sessionless_clients", len(l.garbageSpans)).
			Int("deliveries_without_message", len(l.garbage)-orphans).Int("unreferenced_messages", orphans)
		if err := s.collect(&l); err != nil {
			ev.Err(err).Msg("session store: leftovers found on load could not be deleted; they are not returned")
		} else {
			ev.Msg("session store: deleted leftovers found on load")
		}
	}
	s.log.Debug().Str("path", s.path).Int("sessions", len(l.sessions)).Int("messages", len(l.msgs)-orphans).
		Int("retained", len(l.ret)).Dur("took_ms", time.Since(start)).Msg("session store loaded")
	return session.Snapshot{Sessions: l.sessions, Retained: l.ret}, nil
}

// collect deletes the leftovers l found, in one synced batch.
func (s *Store) collect(l *loader) error {
	b := s.db.NewBatch()
	for _, sp := range l.garbageSpans {
		if err := b.DeleteRange(sp.lo, sp.hi, nil); err != nil {
			return errors.Join(err, b.Close())
		}
	}
	for _, k := range l.garbage {
		if err := b.Delete(k, nil); err != nil {
			return errors.Join(err, b.Close())
		}
	}
	return errors.Join(s.db.Apply(b, pebble.Sync), b.Close())
}

// loader is one Load in progress.
type loader struct {
	db *pebble.DB
	// ids and msgs are the stored messages in id order; used says which a
	// returned delivery refers to.
	ids  []uint64
	msgs []*session.Message
	used []bool

	sessions []session.Record
	ret      []session.Message

	garbage      [][]byte // keys to delete
	garbageSpans []span   // client spans to delete
}

// scan calls f with each key and value of sp, in order. f may return a key
// to continue from (SeekGE) instead of the next one.
func (l *loader) scan(sp span, f func(k, v []byte) (seek []byte, err error)) (err error) {
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: sp.lo, UpperBound: sp.hi})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, it.Close()) }()
	for valid := it.First(); valid; {
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		seek, err := f(it.Key(), v)
		if err != nil {
			return err
		}
		if seek != nil {
			valid = it.SeekGE(seek)
		} else {
			valid = it.Next()
		}
	}
	return it.Error()
}

func (l *loader) messages() error {
	return l.scan(messageSpan, func(k, v []byte) ([]byte, error) {
		id, err := messageID(k)
		if err != nil {
			return nil, err
		}
		m := new(session.Message)
		if err := codec.DecodeMessage(v, m); err != nil {
			return nil, fmt.Errorf("message %d: %w", id, err)
		}
		if m.ID != id {
			return nil, fmt.Errorf("message %d: holds id %d: %w", id, m.ID, ErrCorrupt)
		}
		l.ids = append(l.ids, id)
		l.msgs = append(l.msgs, m)
		return nil, nil
	})
}

// message returns the stored message id and marks it used, or nil.
func (l *loader) message(id uint64) *session.Message {
	i, found := slices.BinarySearch(l.ids, id)
	if !found {
		return nil
	}
	l.used[i] = true
	return l.msgs[i]
}

func (l *loader) clients() error {
	l.used = make([]bool, len(l.ids))
	var cur []byte // the key prefix of the client being read
	return l.scan(clientsSpan, func(key, v []byte) ([]byte, error) {
		k, err := splitClientKey(key)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(k.prefix, cur) {
			cur = append(cur[:0], k.prefix...)
			if k.kind != kindRecord {
				// A client with keys but no record: skip them all.
				sp := clientSpan(k.client())
				l.garbageSpans = append(l.garbageSpans, sp)
				return sp.hi, nil
			}
			r, err := codec.DecodeRecord(k.client(), v)
			if err != nil {
				return nil, err
			}
			l.sessions = append(l.sessions, r)
			return nil, nil
		}
		r := &l.sessions[len(l.sessions)-1]
		switch k.kind {
		case kindDelivery:
			seq, err := k.seq()
			if err != nil {
				return nil, err
			}
			d, id, err := codec.DecodeDelivery(v)
			if err != nil {
				return nil, fmt.Errorf("delivery %d of %q: %w", seq, r.ID, err)
			}
			d.Seq = seq
			if id != 0 {
				if d.Msg = l.message(id); d.Msg == nil {
					l.garbage = append(l.garbage, bytes.Clone(key))
					return nil, nil
				}
			}
			if d.PacketID != 0 {
				r.Inflight = append(r.Inflight, d)
			} else {
				r.Queued = append(r.Queued, d)
			}
		case kindInbound:
			id, err := k.packetID()
			if err != nil {
				return nil, err
			}
			if len(v) != 0 {
				return nil, fmt.Errorf("inbound id %d of %q: a value of %d bytes: %w", id, r.ID, len(v), ErrCorrupt)
			}
			r.InboundQoS2 = append(r.InboundQoS2, id)
		default:
			return nil, fmt.Errorf("key %q: kind %d: %w", key, k.kind, ErrCorrupt)
		}
		return nil, nil
	})
}

func (l *loader) retained() error {
	return l.scan(retainedSpan, func(k, v []byte) ([]byte, error) {
		var m session.Message
		if err := codec.DecodeMessage(v, &m); err != nil {
			return nil, fmt.Errorf("retained message %q: %w", k[1:], err)
		}
		if m.Topic != string(k[1:]) {
			return nil, fmt.Errorf("retained message %q: holds topic %q: %w", k[1:], m.Topic, ErrCorrupt)
		}
		l.ret = append(l.ret, m)
		return nil, nil
	})
}
