package main

import (
	"math/bits"
	"time"
)

// histogram is a log-linear latency histogram with 1/64 relative precision:
// values below 128 ns have their own bucket, larger ones share a bucket with
// values that agree in their top 7 bits. It is not safe for concurrent use:
// each subscriber owns one and they are merged when the run ends.
type histogram struct {
	counts [64 * 64]uint64
	n      uint64
}

func bucketOf(v uint64) int {
	if v < 128 {
		return int(v)
	}
	shift := bits.Len64(v) - 7
	return shift*64 + int(v>>shift)
}

func bucketValue(i int) uint64 {
	if i < 128 {
		return uint64(i)
	}
	shift := i/64 - 1
	return uint64(i-shift*64) << shift
}

func (h *histogram) record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d))]++
	h.n++
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile returns the lower bound of the bucket holding quantile q (0..1).
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q * float64(h.n))
	if rank >= h.n {
		rank = h.n - 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen > rank {
			return time.Duration(bucketValue(i))
		}
	}
	return 0
}
