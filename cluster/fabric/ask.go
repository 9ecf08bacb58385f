package fabric

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/plumemq/plume/core/retry"
)

// A node restarted after a kill -9 starts while the streams it reads elect
// leaders: a STREAM.INFO or a consumer create sent then gets no answer (a
// non-leader stays silent), no responders, a 503, or "stream not found"
// from a server whose JetStream has not yet recovered the stream's
// assignment. Round 2's fault runs saw a restart fail on the first of these
// ("ingest stream plume_IN2: context deadline exceeded"), the one request
// having waited out the whole start. So the ingest's start asks each
// request again, each attempt with its own timeout, until the start's
// deadline (cluster.start_timeout): the requests are lookups and ephemeral
// consumer creates, safe to ask twice. (store/jetstream's request does the
// same for the store, with its own idea of what passes.)

// ask runs do with retry.Do while its failure passes: each attempt bounded
// by timeout, until ctx ends. attempts counts the failed ones, for the
// caller's log.
func ask[T any](ctx context.Context, timeout time.Duration, do func(context.Context) (T, error)) (T, int, error) {
	return retry.Do(ctx, timeout, passing, do)
}

// passing tells an answer a JetStream still electing leaders gives (or
// none at all) from a refusal.
func passing(err error) bool {
	var api *jetstream.APIError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout),
		errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, jetstream.ErrStreamNotFound):
		return true
	case errors.As(err, &api):
		// 503: JetStream not available yet, stream offline.
		return api.Code == 503 || api.ErrorCode == jetstream.JSErrCodeStreamNotFound
	}
	return false
}
