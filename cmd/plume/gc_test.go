//go:build unix

package main

import (
	"io"
	"os"
	"path/filepath"
	"runtime/metrics"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/plumemq/plume/cmd/plume/internal/gcpace"
	"github.com/plumemq/plume/core/setting"
)

// gcPercent is the collector's GOGC now, read without changing it.
func gcPercent() uint64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func restoreGC(t *testing.T) {
	t.Cleanup(func() {
		p, none := 100, setting.ByteSize(0)
		gcpace.Apply(gcpace.Config{Percent: &p, MinHeap: &none}, nil)
	})
}

// The binary puts the file's gc section in force at start-up.
func TestGCSectionAppliedAtStartUp(t *testing.T) {
	restoreGC(t)
	path := filepath.Join(t.TempDir(), "plume.yaml")
	yaml := "listeners: [{address: '127.0.0.1:0'}]\nlog: {level: warn}\ngc: {percent: 345, min_heap: 0}\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() { done <- run([]string{"--config", path}, io.Discard, io.Discard) }()
	deadline := time.Now().Add(30 * time.Second)
	for gcPercent() != 345 {
		select {
		case code := <-done:
			t.Fatalf("plume exited with %d before applying gc.percent", code)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("GOGC %d 30 s after start, want 345", gcPercent())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// run's signal handler is installed before start: SIGTERM stops it.
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := <-done; code != 0 {
		t.Fatalf("plume exited with %d", code)
	}
}

// A reload that changes the gc section applies it at once.
func TestReloadGC(t *testing.T) {
	restoreGC(t)
	srv, _ := startFromYAML(t, t.TempDir(), "listeners: [{address: '127.0.0.1:0'}]\n")
	res := rewrite(t, srv, "listeners: [{address: '127.0.0.1:0'}]\ngc: {percent: 275, min_heap: 0}\n")
	if res.Err != nil || !slices.Equal(res.Applied, []string{"gc.percent", "gc.min_heap"}) {
		t.Fatalf("reload: %+v", res)
	}
	if got := gcPercent(); got != 275 {
		t.Fatalf("GOGC %d after the reload, want 275", got)
	}
}
