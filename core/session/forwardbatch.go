package session

import (
	"encoding/binary"
	"errors"
)

// A store that keeps a cluster's ingest may pack the Forwards of one
// Commit that go to the same ingest shard into one stream message, a
// forward batch (decision 0061): one replicated write instead of one per
// message. The fabric that reads the ingest unpacks it. The format is
// shared here because the two sides are different packages
// (store/jetstream writes it, cluster/fabric reads it):
//
//	version  1 byte: ForwardBatchVersion
//	count    uvarint: how many Forwarded.Data follow (at least 2)
//	each     uvarint length + the Forwarded.Data, as the fabric made it
//
// An envelope (cluster/fabric) starts with its own version, 1, so a reader
// tells the two apart by the first byte, and a reader that knows only
// envelopes counts a batch as malformed rather than misroute it.
const ForwardBatchVersion = 2

// ErrForwardBatch is every malformed forward batch.
var ErrForwardBatch = errors.New("malformed forward batch")

// IsForwardBatch reports whether b is a forward batch (by its first byte).
func IsForwardBatch(b []byte) bool { return len(b) > 0 && b[0] == ForwardBatchVersion }

// ForwardBatchHeader bounds the bytes a batch adds before its entries.
const ForwardBatchHeader = 1 + binary.MaxVarintLen64

// ForwardBatchEntrySize bounds the bytes an entry of n bytes takes in a batch.
func ForwardBatchEntrySize(n int) int { return binary.MaxVarintLen64 + n }

// AppendForwardBatch appends the batch of data to dst.
func AppendForwardBatch(dst []byte, data [][]byte) []byte {
	dst = append(dst, ForwardBatchVersion)
	dst = binary.AppendUvarint(dst, uint64(len(data)))
	for _, d := range data {
		dst = binary.AppendUvarint(dst, uint64(len(d)))
		dst = append(dst, d...)
	}
	return dst
}

// SplitForwardBatch returns the entries of batch b, in the order they
// were packed. They alias b.
func SplitForwardBatch(b []byte) ([][]byte, error) {
	if !IsForwardBatch(b) {
		return nil, ErrForwardBatch
	}
	b = b[1:]
	n, k := binary.Uvarint(b)
	// Each entry takes at least one byte (its length).
	if k <= 0 || n < 1 || n > uint64(len(b)-k) {
		return nil, ErrForwardBatch
	}
	b = b[k:]
	out := make([][]byte, 0, n)
	for range n {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, ErrForwardBatch
		}
		out = append(out, b[k:k+int(l):k+int(l)])
		b = b[k+int(l):]
	}
	if len(b) != 0 {
		return nil, ErrForwardBatch
	}
	return out, nil
}
