package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

var (
	errPasses = errors.New("no answer yet")
	errFinal  = errors.New("refused")
)

func passes(err error) bool { return errors.Is(err, errPasses) }

// A passing failure is asked again until an answer comes; each attempt has
// its own deadline, not the caller's.
func TestDoAsksAgainUntilAnAnswer(t *testing.T) {
	calls := 0
	v, attempts, err := Do(context.Background(), time.Minute, passes, func(ctx context.Context) (int, error) {
		calls++
		if d, ok := ctx.Deadline(); !ok || time.Until(d) > time.Minute {
			t.Errorf("attempt %d without its own deadline", calls)
		}
		if calls < 3 {
			return 0, errPasses
		}
		return 42, nil
	})
	if err != nil || v != 42 || attempts != 2 || calls != 3 {
		t.Fatalf("Do = %d, %d attempts, %v after %d calls; want 42 after 2 failed attempts", v, attempts, err, calls)
	}
}

// A failure that does not pass is returned at once.
func TestDoReturnsARefusalAtOnce(t *testing.T) {
	calls := 0
	_, attempts, err := Do(context.Background(), time.Minute, passes, func(context.Context) (int, error) {
		calls++
		return 0, errFinal
	})
	if !errors.Is(err, errFinal) || attempts != 0 || calls != 1 {
		t.Fatalf("Do = %d attempts, %v after %d calls; want the refusal after one call", attempts, err, calls)
	}
}

// When the caller's deadline ends, the error says so and names the last
// attempt's failure.
func TestDoEndsWithTheCallersDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, _, err := Do(ctx, time.Minute, passes, func(context.Context) (int, error) { return 0, errPasses })
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, errPasses) {
		t.Fatalf("Do = %v; want the deadline and the last attempt's error", err)
	}
}
