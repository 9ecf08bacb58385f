package session

import (
	"sync"
)

// Record is the durable state of one session.
type Record struct {
	ID             string
	Owner          Owner
	Expiry         uint32 // Session Expiry Interval, seconds
	DisconnectedAt int64  // Unix ns; 0 while connected
	Subscriptions  []Subscription
	Inflight       []Delivery
	Queued         []Delivery
	InboundQoS2    []uint16
	Will           *Will // a will waiting for its delay, nil if none
}

// Owner is the identity a session belongs to: the one that created it. Only
// a client of the same identity resumes it (decision 0011). The zero Owner is
// the anonymous identity.
type Owner struct {
	Authenticated bool   // an authenticate hook allowed the creator; false = anonymous
	Principal     string // the creator's principal, or its username; "" when anonymous
}

// Will is a will message waiting to be published at PublishAt (Unix ns).
type Will struct {
	Msg       Message
	PublishAt int64
}

// Snapshot is everything a Store holds, as read back at start-up.
type Snapshot struct {
	Sessions []Record
	Retained []Message
}

// Store keeps what must survive a broker restart. The broker saves a session
// when its connection ends (and at shutdown), deletes it when it expires or is
// cleaned, and writes retained messages through as they change. A durable
// implementation (a later issue) drops in here; MemoryStore serves tests and
// embedders that restart a broker inside one process.
type Store interface {
	SaveSession(r Record) error
	DeleteSession(id string) error
	SaveRetained(m Message) error
	DeleteRetained(topic string) error
	Load() (Snapshot, error)
}

// MemoryStore is a Store in maps. Safe for concurrent use.
type MemoryStore struct {
	mu       sync.Mutex
	sessions map[string]Record
	retained map[string]Message
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{sessions: map[string]Record{}, retained: map[string]Message{}}
}

// SaveSession stores r, replacing any record with its id.
func (m *MemoryStore) SaveSession(r Record) error {
	m.mu.Lock()
	m.sessions[r.ID] = r
	m.mu.Unlock()
	return nil
}

// DeleteSession removes the record of id.
func (m *MemoryStore) DeleteSession(id string) error {
	m.mu.Lock()
	delete(m.sessions, id)
	m.mu.Unlock()
	return nil
}

// SaveRetained stores msg as the retained message of its topic.
func (m *MemoryStore) SaveRetained(msg Message) error {
	m.mu.Lock()
	m.retained[msg.Topic] = msg
	m.mu.Unlock()
	return nil
}

// DeleteRetained removes the retained message of topic.
func (m *MemoryStore) DeleteRetained(topic string) error {
	m.mu.Lock()
	delete(m.retained, topic)
	m.mu.Unlock()
	return nil
}

// Load returns copies of everything stored.
func (m *MemoryStore) Load() (Snapshot, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var s Snapshot
	for _, r := range m.sessions {
		s.Sessions = append(s.Sessions, r)
	}
	for _, msg := range m.retained {
		s.Retained = append(s.Retained, msg)
	}
	return s, nil
}
