package jetstream

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// transient asks again for what the cluster may answer in a moment, and
// gives up at once on a refusal.
func TestTransient(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{context.DeadlineExceeded, true},
		{fmt.Errorf("stream x: %w", nats.ErrTimeout), true},
		{nats.ErrNoResponders, true},
		{&jetstream.APIError{Code: 503, ErrorCode: 10008, Description: "JetStream system temporarily unavailable"}, true},
		{&jetstream.APIError{Code: 400, ErrorCode: 10005, Description: "no suitable peers for placement"}, true},
		{fmt.Errorf("%w: %w", errNotYet, jetstream.ErrStreamNotFound), true},
		{fmt.Errorf("read barrier in p_Q5: %w", jetstream.ErrNoStreamResponse), true},
		{jetstream.ErrStreamNameAlreadyInUse, false},
		{jetstream.ErrStreamNotFound, false},
		{&jetstream.APIError{Code: 400, ErrorCode: 10052, Description: "invalid stream config"}, false},
		{errors.New("other"), false},
	} {
		if got := transient(c.err); got != c.want {
			t.Errorf("transient(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// request asks again while unanswered, stops at a refusal, and ends with
// its context, saying what the last attempt got.
func TestRequestRetriesUntilAnswered(t *testing.T) {
	calls := 0
	got, err := request(context.Background(), time.Second, func(ctx context.Context) (int, error) {
		calls++
		if calls < 3 {
			<-ctx.Done() // no answer: the attempt's own timeout ends it
			return 0, ctx.Err()
		}
		return 7, nil
	})
	if err != nil || got != 7 || calls != 3 {
		t.Fatalf("request: %d, %v after %d calls, want 7 after 3", got, err, calls)
	}
	calls = 0
	if _, err := request(context.Background(), time.Second, func(context.Context) (int, error) {
		calls++
		return 0, jetstream.ErrStreamNameAlreadyInUse
	}); !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) || calls != 1 {
		t.Fatalf("a refusal: %v after %d calls, want it after 1", err, calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := request(ctx, time.Second, func(context.Context) (int, error) {
		return 0, nats.ErrNoResponders
	}); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("ended context: %v, want the last attempt's error", err)
	}
}
