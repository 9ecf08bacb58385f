package budget_test

import (
	"sync"
	"testing"

	"github.com/plumemq/plume/core/budget"
)

func TestTakeStopsAtTheLimitAndGiveMakesRoom(t *testing.T) {
	b := budget.New(10)
	if !b.Take(6) || b.Take(5) || !b.Take(4) {
		t.Fatalf("6, then 5 over, then 4: used %d", b.Used())
	}
	b.Give(6)
	if !b.Take(6) || b.Used() != 10 {
		t.Fatalf("used %d after giving 6 back and taking 6, want 10", b.Used())
	}
	b.Force(5) // already held: counted past the limit
	if b.Used() != 15 || b.Take(1) {
		t.Fatalf("after Force: used %d, want 15 and nothing more taken", b.Used())
	}
}

func TestNoLimitCountsAndNilDoesNothing(t *testing.T) {
	b := budget.New(0)
	if !b.Take(1<<40) || b.Used() != 1<<40 {
		t.Fatalf("unbounded budget used %d", b.Used())
	}
	var none *budget.Bytes
	if !none.Take(1<<40) || none.Used() != 0 || none.Limit() != 0 {
		t.Fatal("a nil budget refused or counted")
	}
	none.Give(1)
	none.Force(1)
}

func TestConcurrentTakesNeverPassTheLimit(t *testing.T) {
	b := budget.New(1000)
	var wg sync.WaitGroup
	var mu sync.Mutex
	taken := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				if b.Take(3) {
					mu.Lock()
					taken += 3
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if taken > 1000 || int64(taken) != b.Used() {
		t.Fatalf("taken %d, used %d, limit 1000", taken, b.Used())
	}
}

func TestSetLimitBoundsLaterTakesAndKeepsWhatIsHeld(t *testing.T) {
	b := budget.New(10)
	if !b.Take(8) {
		t.Fatal("8 of 10 refused")
	}
	b.SetLimit(5) // lowered below what is held
	if b.Take(1) || b.Used() != 8 {
		t.Fatalf("after lowering to 5 with 8 held: took 1 more or used %d != 8", b.Used())
	}
	b.SetLimit(20)
	if !b.Take(12) || b.Limit() != 20 {
		t.Fatalf("after raising to 20: 12 more refused, or limit %d", b.Limit())
	}
	b.SetLimit(0) // no bound
	if !b.Take(1 << 40) {
		t.Fatal("unbounded budget refused a take")
	}
}
