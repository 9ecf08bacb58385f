package host

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/plumemq/plume/core/hooks"
)

// Limits of the key-value store and the per-client state.
const (
	maxKeyLen     = 1 << 10
	maxValueLen   = 1 << 20
	maxKVEntries  = 1 << 16
	maxClientData = 1 << 16
)

// shared is the state of one plugin that outlives its instances and its
// modules: the key-value store and the per-client state survive a reload.
type shared struct {
	mu      sync.Mutex
	kv      map[string][]byte
	clients sync.Map // *hooks.Client -> *clientEntry
}

type clientEntry struct {
	handle uint64
	mu     sync.Mutex
	state  []byte
}

// nextHandle numbers the clients that come without a hooks.Client.Handle, for
// the whole process, so a handle is never reused. Its numbers have the top bit
// set, so they never meet the broker's.
var nextHandle atomic.Uint64

const hostHandleBit = 1 << 63

func newShared() *shared { return &shared{kv: map[string][]byte{}} }

func (s *shared) client(c *hooks.Client) *clientEntry {
	if e, ok := s.clients.Load(c); ok {
		return e.(*clientEntry)
	}
	e, _ := s.clients.LoadOrStore(c, &clientEntry{handle: hostHandleBit | nextHandle.Add(1)})
	return e.(*clientEntry)
}

func (s *shared) forget(c *hooks.Client) { s.clients.Delete(c) }

func (s *shared) get(key string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.kv[key]
	return v, ok
}

// set stores a copy the caller gave up; it fails when the store is full.
func (s *shared) set(key string, v []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.kv[key]; !ok && len(s.kv) >= maxKVEntries {
		return false
	}
	s.kv[key] = v
	return true
}

func (s *shared) delete(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.kv[key]
	delete(s.kv, key)
	return ok
}

// add treats the value as a little-endian int64 (missing or of another size:
// zero) and adds delta atomically.
func (s *shared) add(key string, delta int64) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.kv[key]
	if !ok && len(s.kv) >= maxKVEntries {
		return 0, false
	}
	var n int64
	if len(v) == 8 {
		n = int64(binary.LittleEndian.Uint64(v))
	}
	n += delta
	// a fresh slice: readers may still be copying the old one out
	s.kv[key] = binary.LittleEndian.AppendUint64(make([]byte, 0, 8), uint64(n))
	return n, true
}
