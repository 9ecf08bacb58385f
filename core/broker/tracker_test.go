package broker

import (
	"testing"
	"time"
)

func TestTrackerWaitsForGoroutinesAddedWhileWaiting(t *testing.T) {
	var tr tracker
	tr.Add(1)
	release := make(chan struct{})
	lateDone := make(chan struct{})
	go func() {
		<-release
		tr.Add(1) // a goroutine started while Wait runs
		tr.Done()
		go func() { time.Sleep(10 * time.Millisecond); close(lateDone); tr.Done() }()
	}()
	waited := make(chan struct{})
	go func() { tr.Wait(); close(waited) }()
	close(release)
	select {
	case <-waited:
		select {
		case <-lateDone:
		default:
			t.Fatal("Wait returned before the goroutine added during it was done")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait never returned")
	}
}
