package main

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// Each connection of a wave is opened once, by whichever worker takes it,
// and a second wave starts where the first ended.
func TestManyDialerOpensEachOnce(t *testing.T) {
	var mu sync.Mutex
	opened := make(map[int]int)
	d := manyDialer{workers: 8, what: "connection", total: 1000, open: func(i int) error {
		mu.Lock()
		opened[i]++
		mu.Unlock()
		return nil
	}}
	if err := d.run(0, 500); err != nil {
		t.Fatal(err)
	}
	if len(opened) != 500 {
		t.Fatalf("first wave opened %d connections, want 500", len(opened))
	}
	if err := d.run(500, 1000); err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if opened[i] != 1 {
			t.Fatalf("connection %d opened %d times", i, opened[i])
		}
	}
}

// The first error stops the dialling and names the connection. With one
// worker that is exact: nothing after the failed one is opened. With
// several, how many the others open before they see the stop depends on
// the scheduler, so only the error is checked.
func TestManyDialerStopsAtTheFirstError(t *testing.T) {
	const bad = 100
	refused := errors.New("refused")
	for _, workers := range []int{1, 4} {
		var mu sync.Mutex
		opened := 0
		d := manyDialer{workers: workers, what: "device", total: 10_000, open: func(i int) error {
			if i == bad {
				return refused
			}
			mu.Lock()
			opened++
			mu.Unlock()
			return nil
		}}
		err := d.run(0, 10_000)
		if !errors.Is(err, refused) || !strings.Contains(err.Error(), "device 101 of 10000") {
			t.Fatalf("%d workers: error %v, want device 101 of 10000 wrapping %v", workers, err, refused)
		}
		if workers == 1 && opened != bad {
			t.Fatalf("one worker opened %d, want the %d before the failed one", opened, bad)
		}
	}
}

// With a rate, connection i is opened no sooner than start + i/rate.
func TestManyDialerKeepsItsRate(t *testing.T) {
	start := time.Now()
	var mu sync.Mutex
	early := 0
	d := manyDialer{workers: 4, rate: 200, start: start, what: "device", total: 20, open: func(i int) error {
		if time.Since(start) < time.Duration(i)*time.Second/200 {
			mu.Lock()
			early++
			mu.Unlock()
		}
		return nil
	}}
	if err := d.run(0, 20); err != nil {
		t.Fatal(err)
	}
	if early > 0 {
		t.Fatalf("%d connections opened before their time", early)
	}
}
