package host

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
)

func authorize(h *Host, topic string) (hooks.AuthzResult, error) {
	c := &hooks.Client{ID: "c-" + topic, RemoteAddr: "127.0.0.1:1"}
	return h.Chain().Authorize(context.Background(), &hooks.AuthzRequest{Client: c, Topic: topic})
}

func authorizeDirect(h *Host, name, topic string) (hooks.AuthzResult, error) {
	c := &hooks.Client{ID: "c-" + topic, RemoteAddr: "127.0.0.1:1"}
	return h.Plugin(name).Authorize(context.Background(), &hooks.AuthzRequest{Client: c, Topic: topic})
}

// A plugin that loops forever is cut off at its deadline: the client is
// denied (authorize fails closed), the instance is replaced, and calls from
// other clients meanwhile are answered.
func TestEndlessLoopDeniedAtDeadline(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		cfg := one(engine, "hostile", testPlugin(t, "hostile"))
		cfg.Plugins[0].CallTimeout = 100 * time.Millisecond
		cfg.Plugins[0].PoolSize = 2
		h, logs := startHost(t, cfg)

		var wg sync.WaitGroup
		stop := make(chan struct{})
		var others, otherErrs int
		wg.Add(1)
		go func() { // another client, served by the other instance meanwhile
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := authorize(h, "fine")
				others++
				if err != nil || res.Verdict != hooks.Allow {
					otherErrs++
				}
			}
		}()
		start := time.Now()
		_, err := authorizeDirect(h, "hostile", "loop")
		took := time.Since(start)
		close(stop)
		wg.Wait()
		if !errors.Is(err, ErrDeadline) {
			t.Fatalf("loop: err = %v, want ErrDeadline", err)
		}
		if took < 100*time.Millisecond || took > 2*time.Second {
			t.Errorf("loop cut off after %s, want about the 100ms deadline", took)
		}
		if others == 0 || otherErrs != 0 {
			t.Errorf("other client: %d calls, %d failed during the loop; want some, none failed", others, otherErrs)
		}
		res, err := authorize(h, "loop") // through the chain: denied, not an error
		if err != nil || res.Verdict != hooks.Deny {
			t.Errorf("chain verdict for loop = %v, %v; want deny", res.Verdict, err)
		}
		if res, err := authorize(h, "fine"); err != nil || res.Verdict != hooks.Allow {
			t.Errorf("after the loop: %v, %v; want allow from a fresh instance", res.Verdict, err)
		}
		if n := h.Plugin("hostile").Traps(); n != 2 {
			t.Errorf("traps = %d, want 2", n)
		}
		if !strings.Contains(logs.String(), "plugin instance discarded") {
			t.Errorf("log does not mention the discarded instance:\n%s", logs)
		}
	})
}

// A plugin that allocates without end hits its memory cap and traps; the next
// call gets a fresh instance.
func TestMemoryBombCapped(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		cfg := one(engine, "hostile", testPlugin(t, "hostile"))
		cfg.Plugins[0].MemoryPages = 512 // 32 MiB
		cfg.Plugins[0].CallTimeout = 10 * time.Second
		h, logs := startHost(t, cfg)
		_, err := authorizeDirect(h, "hostile", "bomb")
		if !errors.Is(err, ErrTrap) {
			t.Fatalf("bomb: err = %v, want ErrTrap\n%s", err, logs)
		}
		if res, err := authorizeDirect(h, "hostile", "fine"); err != nil || res.Verdict != hooks.Allow {
			t.Errorf("after the bomb: %v, %v; want allow", res.Verdict, err)
		}
		if h.Plugin("hostile").Traps() != 1 {
			t.Errorf("traps = %d, want 1", h.Plugin("hostile").Traps())
		}
	})
}

// A Go panic ends the instance (the Go runtime exits); the panic message is
// logged and the next call is served.
func TestPanicReplacesInstance(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		h, logs := startHost(t, one(engine, "hostile", testPlugin(t, "hostile")))
		for i := 0; i < 3; i++ {
			if _, err := authorizeDirect(h, "hostile", "panic"); !errors.Is(err, ErrTrap) {
				t.Fatalf("panic %d: err = %v, want ErrTrap", i, err)
			}
			if res, err := authorizeDirect(h, "hostile", "fine"); err != nil || res.Verdict != hooks.Allow {
				t.Fatalf("after panic %d: %v, %v; want allow", i, res.Verdict, err)
			}
		}
		if !strings.Contains(logs.String(), "hostile plugin panics on purpose") {
			t.Errorf("log lacks the guest's panic message:\n%s", logs)
		}
	})
}

// Without a grant a plugin cannot open a host file; with AllowFS it can read
// (only) the granted directory, and write nothing there.
func TestWASIFileAccessNeedsGrant(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		dir := t.TempDir()
		secret := filepath.Join(dir, "secret.txt")
		if err := os.WriteFile(secret, []byte("s3cret"), 0o600); err != nil {
			t.Fatal(err)
		}
		wasm := testPlugin(t, "hostile")

		h, _ := startHost(t, one(engine, "hostile", wasm))
		for _, path := range []string{secret, "/etc/passwd"} {
			res, err := authorizeDirect(h, "hostile", "open:"+path)
			if err != nil || res.Verdict != hooks.Deny {
				t.Errorf("open %s without grant: %v, %v; want deny (open failed)", path, res.Verdict, err)
			}
		}

		cfg := one(engine, "granted", wasm)
		cfg.Plugins[0].AllowFS = []string{dir}
		g, _ := startHost(t, cfg)
		if res, err := authorizeDirect(g, "granted", "open:"+secret); err != nil || res.Verdict != hooks.Allow {
			t.Errorf("open granted file: %v %q, %v; want allow", res.Verdict, res.ReasonString, err)
		}
		if res, err := authorizeDirect(g, "granted", "open:/etc/passwd"); err != nil || res.Verdict != hooks.Deny {
			t.Errorf("open outside the grant: %v, %v; want deny", res.Verdict, err)
		}
		// The grant is read-only: the guest can neither change a file in it
		// nor create one.
		for _, path := range []string{secret, filepath.Join(dir, "new.txt")} {
			if res, err := authorizeDirect(g, "granted", "write:"+path); err != nil || res.Verdict != hooks.Deny {
				t.Errorf("write %s in the grant: %v, %v; want deny (write failed)", path, res.Verdict, err)
			}
		}
		if b, err := os.ReadFile(secret); err != nil || string(b) != "s3cret" {
			t.Errorf("granted file now holds %q (%v), want it unchanged", b, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "new.txt")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a file was created in the read-only grant (stat: %v)", err)
		}
	})
}

// After Close, calls fail and the chain's policy denies; nothing panics.
func TestCallsAfterCloseFailClosed(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		h, err := New(context.Background(), nopLog(), one(engine, "minimal", "testdata/minimal.wasm"))
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := authorizeDirect(h, "minimal", "x"); !errors.Is(err, ErrClosed) {
			t.Errorf("plugin call after Close: %v, want ErrClosed", err)
		}
		if res, _ := authorize(h, "x"); res.Verdict != hooks.Deny {
			t.Errorf("chain verdict after Close = %v, want deny", res.Verdict)
		}
	})
}

// The same hostile behaviours from a Rust guest: a Rust panic is an
// `unreachable` trap, a failed allocation aborts, and std::thread::sleep is
// a WASI sleep that the deadline cuts short. The loop and the sleep run
// under a short deadline that must stop them; the panic and the bomb under a
// long one that must not (filling 16 MiB is slow on a loaded machine), so
// that no verdict depends on how busy the machine is.
func TestRustHostilePluginIsContained(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		wasm := rustPlugin(t, "hostile")
		short := one(engine, "hostile", wasm)
		short.Plugins[0].CallTimeout = 200 * time.Millisecond
		long := one(engine, "hostile", wasm)
		long.Plugins[0].CallTimeout = time.Minute
		long.Plugins[0].MemoryPages = 256 // 16 MiB
		for _, run := range []struct {
			cfg    Config
			topics []string
			want   error
		}{
			{short, []string{"loop", "sleep"}, ErrDeadline},
			{long, []string{"panic", "bomb"}, ErrTrap},
		} {
			h, logs := startHost(t, run.cfg)
			for i, topic := range run.topics {
				start := time.Now()
				if _, err := authorizeDirect(h, "hostile", topic); !errors.Is(err, run.want) {
					t.Errorf("%s: err = %v, want %v", topic, err, run.want)
				}
				if took := time.Since(start); run.want == ErrDeadline && took > 30*time.Second {
					t.Errorf("%s: cut off after %s, want about the 200ms deadline", topic, took)
				}
				if res, err := authorizeDirect(h, "hostile", "fine"); err != nil || res.Verdict != hooks.Allow {
					t.Errorf("after %s: %v, %v; want allow from a fresh instance", topic, res.Verdict, err)
				}
				if n := h.Plugin("hostile").Traps(); n != uint64(i+1) {
					t.Errorf("after %s: traps = %d, want %d", topic, n, i+1)
				}
			}
			if run.want == ErrTrap && !strings.Contains(logs.String(), "hostile rust plugin panics on purpose") {
				t.Errorf("log lacks the Rust panic message:\n%s", logs)
			}
		}
		h, _ := startHost(t, short)
		if res, err := authorizeDirect(h, "hostile", "open:/etc/passwd"); err != nil || res.Verdict != hooks.Deny {
			t.Errorf("open /etc/passwd: %v %q, %v; want deny", res.Verdict, res.ReasonString, err)
		}
	})
}

// An instance whose memory grew past three quarters of its cap is replaced
// after its call, which still succeeds, so that it does not trap later.
func TestGrownInstanceIsRecycled(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		cfg := one(engine, "probe", testPlugin(t, "probe"))
		cfg.Plugins[0].MemoryPages = 288 // 18 MiB: recycled above 13.5 MiB; this call takes it to ~15
		cfg.Plugins[0].PoolSize = 1
		// Copying 16 MiB about is slow under the race detector on a busy
		// machine; this test is not about deadlines.
		cfg.Plugins[0].CallTimeout = time.Minute
		h, _ := startHost(t, cfg)
		p := h.Plugin("probe")
		first := idleInstances(p.cur.Load())[0]
		m := &packets.Publish{Topic: "msg/big", Payload: make([]byte, 4<<20)} // the guest copies it four times
		grown := first.g.memorySize()
		if err := p.Transform(context.Background(), &hooks.Client{ID: "c"}, m); err != nil {
			t.Fatal(err)
		}
		grown = first.g.memorySize() - grown
		t.Logf("memory grew by %d MiB to %d MiB", grown>>20, first.g.memorySize()>>20)
		if idle := idleInstances(p.cur.Load()); len(idle) == 1 && idle[0] == first {
			t.Error("the grown instance went back to the pool")
		}
		if p.Traps() != 0 {
			t.Errorf("recycling counted as a trap")
		}
	})
}
