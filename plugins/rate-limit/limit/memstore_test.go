package limit

import (
	"encoding/binary"
	"sync"
)

// memStore is the host's store (host/store.go) in miniature: one lock,
// values as bytes, counters as 8-byte little-endian, and a cap on entries.
type memStore struct {
	mu      sync.Mutex
	m       map[string][]byte
	maxKeys int
}

func newMemStore() *memStore { return &memStore{m: map[string][]byte{}, maxKeys: 1 << 16} }

func (s *memStore) room(key string) bool {
	_, ok := s.m[key]
	return ok || len(s.m) < s.maxKeys
}

func (s *memStore) Add(key string, delta int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.room(key) {
		return 0
	}
	var n int64
	if v := s.m[key]; len(v) == 8 {
		n = int64(binary.LittleEndian.Uint64(v))
	}
	n += delta
	s.m[key] = binary.LittleEndian.AppendUint64(nil, uint64(n))
	return n
}

func (s *memStore) Get(key string) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	if !ok || len(v) != 8 {
		return 0, ok
	}
	return int64(binary.LittleEndian.Uint64(v)), true
}

func (s *memStore) Set(key string, v int64) bool {
	return s.SetString(key, string(binary.LittleEndian.AppendUint64(nil, uint64(v))))
}

func (s *memStore) GetString(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	return string(v), ok
}

func (s *memStore) SetString(key, v string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.room(key) {
		return false
	}
	s.m[key] = []byte(v)
	return true
}

func (s *memStore) Delete(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
}

func (s *memStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
