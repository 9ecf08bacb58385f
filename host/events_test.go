package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// eventLog collects what WithEvents reports.
type eventLog struct {
	mu  sync.Mutex
	evs []Event
}

func (l *eventLog) add(ev Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evs = append(l.evs, ev)
}

func (l *eventLog) of(kind EventKind) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Event
	for _, ev := range l.evs {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

func fileHash(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func startWithEvents(t *testing.T, cfg Config) (*Host, *eventLog) {
	t.Helper()
	evs := &eventLog{}
	h, err := New(context.Background(), zerolog.Nop(), cfg, WithEvents(evs.add))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	return h, evs
}

// One load, one swap (with both modules' hashes) and one failed reload
// give one event each.
func TestEventsReportLoadSwapAndFailedReload(t *testing.T) {
	path := t.TempDir() + "/tagged.wasm"
	copyFile(t, taggedBuild(t, "a"), path)
	hashA := fileHash(t, path)
	reloads := make(chan reloadEvent, 8)
	cfg := one("", "tagged", path)
	cfg.ReloadDebounce = 20 * time.Millisecond
	cfg.Plugins[0].CallTimeout = 10 * time.Second
	cfg.OnReload = func(name string, err error) { reloads <- reloadEvent{name, err} }
	_, evs := startWithEvents(t, cfg)

	if got := evs.of(PluginLoaded); len(got) != 1 || got[0].Plugin != "tagged" || got[0].Hash != hashA || got[0].Path != path {
		t.Fatalf("loaded events = %+v, want one for tagged with hash %s", got, hashA)
	}
	replaceByRename(t, taggedBuild(t, "b"), path)
	hashB := fileHash(t, path)
	if err := awaitReload(t, reloads); err != nil {
		t.Fatalf("reload to b: %v", err)
	}
	if got := evs.of(PluginSwapped); len(got) != 1 || got[0].OldHash != hashA || got[0].Hash != hashB {
		t.Fatalf("swapped events = %+v, want one from %s to %s", got, hashA, hashB)
	}
	replaceByRename(t, "testdata/garbage.wasm", path)
	if err := awaitReload(t, reloads); err == nil {
		t.Fatal("garbage reloaded without error")
	}
	got := evs.of(PluginFailed)
	if len(got) != 1 || got[0].Cause != "reload" || got[0].Hash != hashB || got[0].Err == nil {
		t.Fatalf("failed events = %+v, want one reload failure with b (%s) still serving", got, hashB)
	}
	if n := len(evs.of(PluginLoaded)) + len(evs.of(PluginSwapped)); n != 2 {
		t.Errorf("%d load and swap events in all, want 2", n)
	}
}

// A trapped call and a call cut off at its deadline each report one failure,
// naming the cause and the extension point.
func TestEventsReportTrapsAndDeadlines(t *testing.T) {
	cfg := one("", "hostile", testPlugin(t, "hostile"))
	cfg.Plugins[0].CallTimeout = 100 * time.Millisecond
	h, evs := startWithEvents(t, cfg)
	if _, err := authorizeDirect(h, "hostile", "panic"); err == nil {
		t.Fatal("panic: no error")
	}
	if _, err := authorizeDirect(h, "hostile", "loop"); err == nil {
		t.Fatal("loop: no error")
	}
	got := evs.of(PluginFailed)
	if len(got) != 2 || got[0].Cause != "trap" || got[1].Cause != "deadline" ||
		got[0].Point != "authorize" || got[1].Point != "authorize" {
		t.Fatalf("failed events = %+v, want a trap then a deadline, both in authorize", got)
	}
}
