package session

import (
	"fmt"
	"sync"
)

// MemoryStore is a Store in maps, for tests and for embedders that restart a
// broker inside one process (hand the next broker the same MemoryStore).
// Durability: none past the value's life; a nil error means Load will return
// the write while the MemoryStore lives and is not closed. Safe for
// concurrent use.
type MemoryStore struct {
	mu       sync.Mutex
	sessions map[string]Record
	retained map[string]Message
	closed   bool
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{sessions: map[string]Record{}, retained: map[string]Message{}}
}

// SaveSession stores r, replacing any record with its id.
func (m *MemoryStore) SaveSession(r Record) error {
	if r.Version != FormatVersion {
		return fmt.Errorf("save session %q: version %d: %w (this store writes %d)", r.ID, r.Version, ErrUnknownVersion, FormatVersion)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.sessions[r.ID] = r
	return nil
}

// DeleteSession removes the record of id.
func (m *MemoryStore) DeleteSession(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	delete(m.sessions, id)
	return nil
}

// SaveRetained stores msg as the retained message of its topic.
func (m *MemoryStore) SaveRetained(msg Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.retained[msg.Topic] = msg
	return nil
}

// DeleteRetained removes the retained message of topic.
func (m *MemoryStore) DeleteRetained(topic string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	delete(m.retained, topic)
	return nil
}

// Load returns everything stored.
func (m *MemoryStore) Load() (Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Snapshot{}, ErrClosed
	}
	var s Snapshot
	for _, r := range m.sessions {
		s.Sessions = append(s.Sessions, r)
	}
	for _, msg := range m.retained {
		s.Retained = append(s.Retained, msg)
	}
	return s, nil
}

// Close makes later calls fail with ErrClosed; what was stored is dropped.
func (m *MemoryStore) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.sessions, m.retained = nil, nil
	return nil
}
