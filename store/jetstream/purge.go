package jetstream

import (
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Purge markers. A DeleteSession purges the client's subjects in its queue
// stream: a purge is an API request, and leaves no message behind. A read
// through a replica that lags (readAll) may deliver a client's deliveries
// before the replica applies the purge, and nothing after them says they
// are gone: a session deleted and created again, or adopted and written
// again by the same node, would get back deliveries it had finished. So
// the purge is followed by a marker on c.<client>.p, and a read drops
// every message of that client at a stream sequence before the marker's.
//
// The marker is written as a tombstone is (the KV-Operation header), so
// that a reader of a version before it skips it rather than fail on its
// subject; it expires as a tombstone does, much later: a read that
// started before it was written only has to see it if its replica lagged.

// purgeMarkerTTL is how long a purge marker stays. It has to outlive any
// read whose replica lags the purge, seconds in the fault runs.
const purgeMarkerTTL = 10 * time.Minute

// hdrPurged marks a purge marker.
const hdrPurged = "Plume-Purged"

// purgeMarker is the subject of client's purge marker.
func (n *names) purgeMarker(client string) string { return n.clientPrefix(client) + "p" }

// markPurge makes m a purge marker.
func markPurge(m *nats.Msg) {
	m.Header.Set(kvOperation, "PURGE")
	m.Header.Set(hdrPurged, "1")
	m.Header.Set(jetstream.MsgTTLHeader, purgeMarkerTTL.String())
}
