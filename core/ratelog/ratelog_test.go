package ratelog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer is a log destination that timers and callers share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// tally reads the JSON lines: lines with message msg, lines with message
// summary, and the suppressed counts of both.
func tally(t *testing.T, out *syncBuffer, msg, summary string) (lines, summaries int, suppressed uint64) {
	t.Helper()
	out.mu.Lock()
	defer out.mu.Unlock()
	sc := bufio.NewScanner(bytes.NewReader(out.b.Bytes()))
	for sc.Scan() {
		var l struct {
			Message    string `json:"message"`
			Suppressed uint64 `json:"suppressed"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		switch l.Message {
		case msg:
			lines++
		case summary:
			summaries++
		default:
			t.Fatalf("unexpected line %q", sc.Text())
		}
		suppressed += l.Suppressed
	}
	return lines, summaries, suppressed
}

func newLogged(every time.Duration, burst int) (*Limiter, *zerolog.Logger, *syncBuffer) {
	out := &syncBuffer{}
	log := zerolog.New(out)
	l := New(every, burst, func(key string, n uint64) {
		log.Warn().Str("key", key).Uint64("suppressed", n).Msg("repeated warnings suppressed")
	})
	return l, &log, out
}

// A million occurrences of one cause inside one interval write one line, and
// Close reports the rest: one more line whose count makes the total exact.
func TestMillionRepeatsWriteTwoLinesThatAddUp(t *testing.T) {
	const total = 1_000_000
	l, log, out := newLogged(time.Hour, 1)
	for range total {
		l.Log(log, zerolog.WarnLevel, "client-1").Str("client_id", "client-1").Msg("message dropped")
	}
	l.Close()
	lines, summaries, suppressed := tally(t, out, "message dropped", "repeated warnings suppressed")
	if lines != 1 || summaries != 1 {
		t.Fatalf("%d lines and %d summaries, want 1 and 1", lines, summaries)
	}
	if uint64(lines)+suppressed != total {
		t.Fatalf("lines %d + suppressed %d = %d, want %d", lines, suppressed, uint64(lines)+suppressed, total)
	}
}

// With a short interval, the lines written stay within burst per interval
// (plus the reports of quiet ends), and lines plus suppressed counts add up
// exactly while timers report concurrently with callers.
func TestLinesAreBoundedPerIntervalAndCountsAddUp(t *testing.T) {
	const (
		total = 1_000_000
		every = 2 * time.Millisecond
		burst = 3
	)
	l, log, out := newLogged(every, burst)
	var wg sync.WaitGroup
	start := time.Now()
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprint("cause-", g%2) // two causes, two goroutines each
			for range total / 4 {
				l.Log(log, zerolog.WarnLevel, key).Msg("message dropped")
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	l.Close()
	lines, summaries, suppressed := tally(t, out, "message dropped", "repeated warnings suppressed")
	if got := uint64(lines) + suppressed; got != total {
		t.Fatalf("lines %d + suppressed %d = %d, want %d", lines, suppressed, got, total)
	}
	// Each key writes at most burst lines per interval, and each of its
	// intervals may end in one report; Close adds one report per key.
	intervals := int(elapsed/every) + 2
	if bound := 2 * (burst + 1) * intervals; lines+summaries > bound {
		t.Fatalf("%d lines in %v, want at most %d", lines+summaries, elapsed, bound)
	}
	if lines+summaries >= total/10 {
		t.Fatalf("%d lines for %d occurrences: not limited", lines+summaries, total)
	}
}

func TestQuietKeyReportsItsCountAtTheIntervalsEnd(t *testing.T) {
	reported := make(chan uint64, 4)
	l := New(20*time.Millisecond, 1, func(_ string, n uint64) { reported <- n })
	for range 5 {
		l.Allow("k")
	}
	select {
	case n := <-reported:
		if n != 4 {
			t.Fatalf("reported %d suppressed, want 4", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no report after the interval ended")
	}
	// The report settled the count: what follows is counted afresh, and
	// lines written, counts carried and reports add up to it exactly.
	var accounted uint64
	for range 3 {
		if n, ok := l.Allow("k"); ok {
			accounted += 1 + n
		}
	}
	l.Close()
	for len(reported) > 0 {
		accounted += <-reported
	}
	if accounted != 3 {
		t.Fatalf("accounted %d occurrences after the report, want 3", accounted)
	}
}

func TestKeysAreBounded(t *testing.T) {
	l := New(time.Hour, 1, func(string, uint64) {})
	defer l.Close()
	for i := range 3 * maxKeys {
		l.Allow(fmt.Sprint("client-", i))
		l.Allow(fmt.Sprint("client-", i)) // held back: the key stays active
	}
	l.mu.Lock()
	n := len(l.keys)
	_, overflow := l.keys[Overflow]
	l.mu.Unlock()
	if n > maxKeys+1 || !overflow {
		t.Fatalf("%d keys remembered (overflow %v), want at most %d and the overflow key", n, overflow, maxKeys+1)
	}
}
