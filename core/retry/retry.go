// Package retry asks a request again while its failure passes: each
// attempt with a deadline of its own, so that a request nobody will ever
// answer (a JetStream stream between leaders stays silent rather than
// refuse) costs one attempt, not the caller's whole deadline, with a
// backoff between attempts.
package retry

import (
	"context"
	"fmt"
	"time"
)

// Backoff between attempts: First, doubling up to Max.
const (
	First = 50 * time.Millisecond
	Max   = time.Second
)

// Do runs do, each attempt bounded by timeout, until it succeeds, fails
// with an error passing does not accept, or ctx ends; an error of ctx's
// end also names the last attempt's. attempts counts the failed attempts
// that were asked again.
func Do[T any](ctx context.Context, timeout time.Duration, passing func(error) bool, do func(context.Context) (T, error)) (v T, attempts int, err error) {
	wait := First
	for {
		attempt, cancel := context.WithTimeout(ctx, timeout)
		v, err = do(attempt)
		cancel()
		if err == nil || !passing(err) {
			return v, attempts, err
		}
		if ctx.Err() != nil {
			return v, attempts, fmt.Errorf("%w (last attempt: %w)", ctx.Err(), err)
		}
		attempts++
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return v, attempts, fmt.Errorf("%w (last attempt: %w)", ctx.Err(), err)
		case <-t.C:
		}
		wait = min(2*wait, Max)
	}
}
