//go:build race

package cluster

// raceEnabled: the test runs under the race detector, and so does the broker.
const raceEnabled = true
