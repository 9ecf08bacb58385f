// Package limit is the rate-limit plugin's logic, apart from the Wasm glue so
// that it runs natively under go test: token buckets kept in the plugin's
// shared key-value store (GCRA on kv_add), the sweeper that keeps the store
// bounded, and the config.
package limit

// Store is the plugin's key-value store: the host's kv_* imports, shared by
// every instance of the plugin (plugin-sdk/ABI.md section 4). Add is the one
// atomic operation; nothing offers compare-and-set.
type Store interface {
	// Add adds delta to the int64 counter under key (missing counts as 0)
	// atomically and returns the new value; 0 when the store refused (full).
	Add(key string, delta int64) int64
	// Get returns the counter under key.
	Get(key string) (int64, bool)
	// Set stores v under key; false when the store refused (full).
	Set(key string, v int64) bool
	// GetString returns the bytes under key as a string.
	GetString(key string) (string, bool)
	// SetString stores v under key; false when the store refused (full).
	SetString(key, v string) bool
	// Delete removes key.
	Delete(key string)
}
