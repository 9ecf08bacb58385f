package host

import (
	"encoding/binary"
	"sync"
	"sync/atomic"

	"github.com/plumemq/plume/core/hooks"
)

// Limits of the key-value store and the per-client state. The store's total
// is PluginConfig.KVMaxBytes.
const (
	maxKeyLen     = 1 << 10
	maxValueLen   = 1 << 20
	maxKVEntries  = 1 << 16
	maxClientData = 1 << 16
)

// shared is the state of one plugin that outlives its instances and its
// modules: the key-value store and the per-client state survive a reload.
type shared struct {
	mu sync.Mutex
	kv map[string][]byte
	// used is the bytes of keys and values held, what maxBytes caps: the
	// entry count and value size alone let a plugin hold 65,536 MiB-sized
	// values (64 GiB) of host memory.
	used     int64
	maxBytes int64
	clients  sync.Map // *hooks.Client -> *clientEntry
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

func newShared(maxBytes int64) *shared {
	return &shared{kv: map[string][]byte{}, maxBytes: maxBytes}
}

// setLimit applies a reloaded config's KVMaxBytes. Entries already held stay
// when it shrinks; writes that do not fit are refused until some are deleted.
func (s *shared) setLimit(maxBytes int64) {
	s.mu.Lock()
	s.maxBytes = maxBytes
	s.mu.Unlock()
}

// bytes is the store's accounted size: its keys and values.
func (s *shared) bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used
}

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

// fits reports whether key may hold n bytes of value: the store has room for
// a new entry, and its total after replacing the old value (if any) stays
// within the budget. The caller holds mu.
func (s *shared) fits(key string, old []byte, exists bool, n int) bool {
	if !exists && len(s.kv) >= maxKVEntries {
		return false
	}
	next := s.used + int64(n) - int64(len(old))
	if !exists {
		next += int64(len(key))
	}
	// A write that shrinks the store is always allowed, even above a budget
	// lowered by a reload: it is how the plugin gets back under it.
	return next <= s.maxBytes || next <= s.used
}

// put stores v under key, accounting it; the caller checked fits.
func (s *shared) put(key string, old []byte, exists bool, v []byte) {
	s.used += int64(len(v)) - int64(len(old))
	if !exists {
		s.used += int64(len(key))
	}
	s.kv[key] = v
}

// set stores a copy the caller gave up; it fails when the store is full or
// the value would take it over its byte budget.
func (s *shared) set(key string, v []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, exists := s.kv[key]
	if !s.fits(key, old, exists, len(v)) {
		return false
	}
	s.put(key, old, exists, v)
	return true
}

func (s *shared) delete(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.kv[key]
	if ok {
		s.used -= int64(len(key) + len(v))
		delete(s.kv, key)
	}
	return ok
}

// add treats the value as a little-endian int64 (missing or of another size:
// zero) and adds delta atomically.
func (s *shared) add(key string, delta int64) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, exists := s.kv[key]
	if !s.fits(key, old, exists, 8) {
		return 0, false
	}
	var n int64
	if len(old) == 8 {
		n = int64(binary.LittleEndian.Uint64(old))
	}
	n += delta
	// a fresh slice: readers may still be copying the old one out
	s.put(key, old, exists, binary.LittleEndian.AppendUint64(make([]byte, 0, 8), uint64(n)))
	return n, true
}
