package main

import (
	"math"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/cmd/plume/internal/gcpace"
)

// applyGC puts the config's gc section in force for the process, at start-up
// and on each reload that changes it, and logs what the collector now runs
// with (decision 0040).
func applyGC(log *zerolog.Logger, c gcpace.Config) gcpace.Settings {
	s := gcpace.Apply(c, nil)
	ev := log.Info().Int("gc_percent", s.Percent).Str("gc_percent_from", s.From).Int64("gc_min_heap", s.MinHeap)
	if s.MemoryLimit != math.MaxInt64 {
		ev = ev.Int64("gc_memory_limit", s.MemoryLimit)
	}
	ev.Msg("garbage collector paced")
	return s
}
