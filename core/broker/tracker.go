package broker

import "sync"

// tracker counts the goroutines the broker starts, so Shutdown can wait for
// them. Unlike sync.WaitGroup it may grow from zero while someone waits: a
// will published by a timer, or a parked connection woken during shutdown,
// starts goroutines at any time.
type tracker struct {
	mu   sync.Mutex
	n    int
	zero sync.Cond
}

// Add counts one more goroutine.
func (t *tracker) Add(n int) {
	t.mu.Lock()
	t.n += n
	t.mu.Unlock()
}

// Done counts one goroutine out.
func (t *tracker) Done() {
	t.mu.Lock()
	t.n--
	if t.n == 0 && t.zero.L != nil {
		t.zero.Broadcast()
	}
	t.mu.Unlock()
}

// Wait returns when no counted goroutine runs.
func (t *tracker) Wait() {
	t.mu.Lock()
	if t.zero.L == nil {
		t.zero.L = &t.mu
	}
	for t.n > 0 {
		t.zero.Wait()
	}
	t.mu.Unlock()
}
