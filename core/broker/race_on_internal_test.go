//go:build race

package broker

// raceEnabled: the race detector changes allocation counts (sync.Pool drops
// items at random under it), so tests that count allocations skip.
const raceEnabled = true
