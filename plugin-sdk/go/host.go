package plume

import (
	"time"
)

// Level is a log level of Log.
type Level uint32

// The log levels, numbered as in ABI.md.
const (
	LevelDebug Level = iota
	LevelInfo
	LevelWarn
	LevelError
)

// Log writes msg to the broker's log at level, tagged with the plugin's name.
func Log(level Level, msg string) { hostLog(uint32(level), strPtr(msg), uint32(len(msg))) }

// Config returns the plugin's config: the raw bytes the broker config gives it.
func Config() []byte {
	b, _ := pull(func(b []byte) int32 { return hostConfigGet(bytesPtr(b), uint32(len(b))) })
	return append([]byte(nil), b...)
}

// KVGet returns the value stored under key in the plugin's key-value store,
// which all instances of the plugin share, and whether it was there.
func KVGet(key string) ([]byte, bool) {
	b, ok := pull(func(b []byte) int32 {
		return hostKVGet(strPtr(key), uint32(len(key)), bytesPtr(b), uint32(len(b)))
	})
	if !ok {
		return nil, false
	}
	return append([]byte(nil), b...), true
}

// KVSet stores value under key. It reports false when the host refused (key or
// value too large, store full).
func KVSet(key string, value []byte) bool {
	return hostKVSet(strPtr(key), uint32(len(key)), bytesPtr(value), uint32(len(value))) >= 0
}

// KVDelete removes key and reports whether it was there.
func KVDelete(key string) bool { return hostKVDelete(strPtr(key), uint32(len(key))) >= 0 }

// KVAdd atomically adds delta to the 64-bit counter under key (missing counts
// as zero) and returns the new value: counters and rate limits shared by every
// instance of the plugin.
func KVAdd(key string, delta int64) int64 { return hostKVAdd(strPtr(key), uint32(len(key)), delta) }

// Now returns the host's wall-clock time.
func Now() time.Time { return time.Unix(0, hostNow()) }

// Random fills b with cryptographically secure random bytes from the host.
func Random(b []byte) { hostRandom(bytesPtr(b), uint32(len(b))) }
