package jetstream

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plumemq/plume/core/retry"
)

// request runs one JetStream API request with its own timeout and runs it
// again (core/retry), until the caller's ctx ends, when it got no answer or
// a transient one. A clustered nats-server (v2.15.2) stays silent rather than answer
// some requests about a stream whose creation another client proposed and
// that has no leader yet: STREAM.INFO on a non-leader, and the create and
// update of racing CreateOrUpdateStream calls (the update, accepted against
// the in-flight create, takes the reply over and is marked answered before
// the group elects a leader, so neither caller hears back). One timeout for
// a whole sequence of requests would wait for that answer forever; the
// requests given here are idempotent, so asking again is safe.
func request[T any](ctx context.Context, timeout time.Duration, do func(context.Context) (T, error)) (T, error) {
	v, _, err := retry.Do(ctx, timeout, transient, do)
	return v, err
}

// errCodeNoPeers is nats-server's JSClusterNoPeersErrF (nats.go has no
// name for it).
const errCodeNoPeers jetstream.ErrorCode = 10005

// errNotYet marks an answer that says a stream known to exist is missing.
var errNotYet = errors.New("not visible yet")

// transient tells an unanswered request, or an answer saying the cluster
// cannot serve it yet, from a refusal.
func transient(err error) bool {
	var api *jetstream.APIError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout), errors.Is(err, nats.ErrNoResponders),
		errors.Is(err, errNotYet),
		// A publish no stream answered: after a node's restart, its
		// streams recover their files and elect leaders before they take
		// writes (test/cluster's kill -9 test: Load's read barriers).
		errors.Is(err, jetstream.ErrNoStreamResponse):
		return true
	case errors.As(err, &api):
		// 503: JetStream cluster not available, stream offline. 10005, no
		// suitable peers for placement: the meta leader places a replica
		// only on a server whose JetStream it has heard from, which nodes
		// started together report a moment after the meta leader exists
		// (test/cluster met it); a peer that stays down makes Open fail on
		// its deadline with this error.
		return api.Code == 503 || api.ErrorCode == errCodeNoPeers
	}
	return false
}
