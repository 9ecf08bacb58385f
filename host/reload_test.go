package host

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
)

type reloadEvent struct {
	plugin string
	err    error
}

// reloadHost serves the tagged plugin built with tag from a file in a fresh
// directory; reloads are reported on the returned channel.
func reloadHost(t *testing.T, engine, tag string) (*Host, string, <-chan reloadEvent, *logBuffer) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tagged.wasm")
	copyFile(t, taggedBuild(t, tag), path)
	events := make(chan reloadEvent, 64)
	cfg := one(engine, "tagged", path)
	cfg.ReloadDebounce = 20 * time.Millisecond
	// one's cache (the package's): a build compiled before costs no compile.
	// Deadlines are wall-clock: on a loaded machine (-race, 2 cores) a
	// descheduled call could overrun a tight one. This test is not about them.
	cfg.Plugins[0].CallTimeout = 10 * time.Second
	cfg.OnReload = func(name string, err error) { events <- reloadEvent{name, err} }
	h, logs := startHost(t, cfg)
	return h, path, events, logs
}

func taggedBuild(t *testing.T, tag string) string {
	return testPlugin(t, "tagged", "-X=main.tag="+tag)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// replaceByRename writes from's bytes next to to and renames them over it, as
// editors and build tools do.
func replaceByRename(t *testing.T, from, to string) {
	t.Helper()
	tmp := to + ".tmp"
	copyFile(t, from, tmp)
	if err := os.Rename(tmp, to); err != nil {
		t.Fatal(err)
	}
}

// tagOf asks the tagged plugin which build serves it.
func tagOf(t *testing.T, h *Host) string {
	t.Helper()
	res, err := h.Plugin("tagged").Authorize(context.Background(), &hooks.AuthzRequest{Client: &hooks.Client{}, Topic: "x"})
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	return res.ReasonString
}

func awaitReload(t *testing.T, events <-chan reloadEvent) error {
	t.Helper()
	select {
	case ev := <-events:
		return ev.err
	case <-time.After(2 * time.Minute): // a compile under -race on a busy machine
		t.Fatal("no reload within 2 minutes")
		return nil
	}
}

func TestReloadOnWriteThenRename(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		h, path, events, _ := reloadHost(t, engine, "A")
		if got := tagOf(t, h); got != "A" {
			t.Fatalf("tag = %q, want A", got)
		}
		replaceByRename(t, taggedBuild(t, "B"), path)
		if err := awaitReload(t, events); err != nil {
			t.Fatalf("reload: %v", err)
		}
		if got := tagOf(t, h); got != "B" {
			t.Errorf("after rename: tag = %q, want B", got)
		}
	})
}

func TestReloadOnCopyOver(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		h, path, events, _ := reloadHost(t, engine, "A")
		copyFile(t, taggedBuild(t, "B"), path)
		if err := awaitReload(t, events); err != nil {
			t.Fatalf("reload: %v", err)
		}
		if got := tagOf(t, h); got != "B" {
			t.Errorf("after copy: tag = %q, want B", got)
		}
	})
}

func TestBrokenModuleLeavesOldServing(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		for _, tc := range []struct{ file, logged string }{
			{"testdata/garbage.wasm", "compile"},
			{"testdata/noabi.wasm", "exports no plume_abi_version"},
			{"testdata/abi7.wasm", "declares ABI version 7"},
		} {
			t.Run(filepath.Base(tc.file), func(t *testing.T) {
				h, path, events, logs := reloadHost(t, engine, "A")
				replaceByRename(t, tc.file, path)
				err := awaitReload(t, events)
				if err == nil || !strings.Contains(err.Error(), tc.logged) {
					t.Fatalf("reload error = %v, want it to name %q", err, tc.logged)
				}
				if got := tagOf(t, h); got != "A" {
					t.Errorf("tag = %q, want the old module's A", got)
				}
				log := logs.String()
				if !strings.Contains(log, "the old module keeps serving") || !strings.Contains(log, tc.logged) {
					t.Errorf("log does not name the error:\n%s", log)
				}
			})
		}
	})
}

func TestSIGHUPStyleReloadPicksUpFileAndConfig(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		h, path, events, _ := reloadHost(t, engine, "A")
		// Reload with the file unchanged keeps the module; a changed file is loaded.
		cfg := h.cfg
		if err := h.Reload(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		<-events
		// The watcher may reload first; either way B must serve after Reload.
		copyFile(t, taggedBuild(t, "B"), path)
		if err := h.Reload(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		if got := tagOf(t, h); got != "B" {
			t.Errorf("after Reload: tag = %q, want B", got)
		}
		// Adding a plugin puts it in the chain in config order; removing it takes it out.
		cfg.Plugins = append([]PluginConfig{{Name: "minimal", Path: "testdata/minimal.wasm", PoolSize: 1}}, cfg.Plugins...)
		if err := h.Reload(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		if links := h.Chain().Links(); len(links) != 2 || links[0].Name != "minimal" || links[1].Name != "tagged" {
			t.Errorf("links = %v, want minimal, tagged", linkNames(links))
		}
		res, _ := authorize(h, "x")
		if res.Verdict != hooks.Allow {
			t.Errorf("chain verdict = %v, want allow from minimal (first in order)", res.Verdict)
		}
		cfg.Plugins = cfg.Plugins[1:]
		if err := h.Reload(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		if links := h.Chain().Links(); len(links) != 1 || links[0].Name != "tagged" {
			t.Errorf("links = %v, want tagged", linkNames(links))
		}
		// A bad new plugin is reported and left out; the rest keeps serving.
		cfg.Plugins = append(cfg.Plugins, PluginConfig{Name: "bad", Path: "testdata/noabi.wasm"})
		if err := h.Reload(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), `"bad"`) {
			t.Errorf("Reload with a bad plugin: %v; want an error naming it", err)
		}
		if links := h.Chain().Links(); len(links) != 1 {
			t.Errorf("links = %v, want tagged only", linkNames(links))
		}
	})
}

func linkNames(ls []hooks.Link) []string {
	var s []string
	for _, l := range ls {
		s = append(s, l.Name)
	}
	return s
}

// The module is swapped 20 times while four goroutines transform messages
// without pause: every call is answered, by the old or the new module, never
// with an error, and after each swap the new module is in force.
func TestTwentySwapsUnderConcurrentCalls(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		tags := []string{"A", "B", "C"}
		builds := map[string]string{}
		for _, tag := range tags {
			builds[tag] = taggedBuild(t, tag)
		}
		for _, tag := range tags {
			// Compiled before the load starts: a compile competing with four
			// busy callers under the race detector on two shared cores took
			// longer than any wait for a reload here should be.
			prime := one(engine, "prime", builds[tag])
			prime.Plugins[0].PoolSize = 1
			startHost(t, prime)
		}
		h, path, events, logs := reloadHost(t, engine, "A")
		p := h.Plugin("tagged")

		var calls, failures atomic.Int64
		var badMu sync.Mutex
		var bad []string
		stop := make(chan struct{})
		var wg sync.WaitGroup
		stopped := false
		defer func() { // on a failed swap too: spinning callers would slow the tests after
			if !stopped {
				close(stop)
				wg.Wait()
			}
		}()
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := &hooks.Client{ID: "w"}
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					m := &packets.Publish{Topic: "t", Payload: []byte("m")}
					err := p.Transform(context.Background(), c, m)
					calls.Add(1)
					got := string(m.Payload)
					if err != nil || (got != "m|A" && got != "m|B" && got != "m|C") {
						failures.Add(1)
						badMu.Lock()
						bad = append(bad, fmt.Sprintf("%q (%v)", got, err))
						badMu.Unlock()
					}
				}
			}()
		}
		for i := 1; i <= 20; i++ {
			tag := tags[i%len(tags)]
			replaceByRename(t, builds[tag], path)
			if err := awaitReload(t, events); err != nil {
				t.Fatalf("swap %d: %v", i, err)
			}
			if got := tagOf(t, h); got != tag {
				t.Fatalf("swap %d: tag = %q, want %s", i, got, tag)
			}
		}
		close(stop)
		wg.Wait()
		stopped = true
		if calls.Load() < 100 || failures.Load() != 0 {
			t.Errorf("%d calls, %d failed (%v)", calls.Load(), failures.Load(), bad[:min(len(bad), 5)])
		}
		if p.Traps() != 0 {
			t.Errorf("traps = %d during swaps\n%s", p.Traps(), logs)
		}
		t.Logf("%d calls across 20 swaps", calls.Load())
	})
}
