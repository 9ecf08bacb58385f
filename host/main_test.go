package host

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/plumemq/plume/host/internal/wasmbuild"
)

// testCache is a compilation cache shared by the package's tests: each module
// is compiled once per run, however many hosts load it. Compiling a Go guest
// costs about a second, and ten times that under the race detector, which
// made the tests' verdicts depend on how busy the machine was.
var testCache string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "plume-host-cache-")
	if err != nil {
		panic(err)
	}
	testCache = dir
	code := m.Run()
	os.RemoveAll(dir)
	wasmbuild.Cleanup()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

// testPlugin builds host/testdata/plugins/<name> and returns the .wasm path.
func testPlugin(tb testing.TB, name string, ldflags ...string) string {
	tb.Helper()
	return wasmbuild.Go(tb, "testdata/plugins", "./"+name, ldflags...)
}

// rustPlugin builds host/testdata/plugins-rust/<name> with cargo, or skips.
func rustPlugin(tb testing.TB, name string) string {
	tb.Helper()
	return wasmbuild.Rust(tb, "testdata/plugins-rust/"+name)
}

// logBuffer collects log output for assertions; safe for concurrent writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startHost starts a Host on cfg and closes it when the test ends.
func startHost(tb testing.TB, cfg Config) (*Host, *logBuffer) {
	tb.Helper()
	logs := &logBuffer{}
	h, err := New(context.Background(), zerolog.New(logs), cfg)
	if err != nil {
		tb.Fatalf("New: %v\nlog:\n%s", err, logs)
	}
	tb.Cleanup(func() {
		if err := h.Close(context.Background()); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return h, logs
}

// one returns a Config of a single plugin at path, run by engine, compiled
// through the package's cache.
func one(engine, name, path string) Config {
	return Config{Engine: engine, CacheDir: testCache, Plugins: []PluginConfig{{Name: name, Path: path, PoolSize: 2, CallTimeout: 200 * time.Millisecond}}}
}

// eachEngine runs f as a subtest per engine built into the test binary:
// wazero, and wasmtime too under -tags wasmtime. The host's behaviour must
// not depend on the engine, so its tests are written once.
func eachEngine(t *testing.T, f func(t *testing.T, engine string)) {
	t.Helper()
	for _, engine := range Engines() {
		t.Run(engine, func(t *testing.T) { f(t, engine) })
	}
}

func nopLog() zerolog.Logger { return zerolog.Nop() }

func listFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return err
	})
	return out, err
}

// idleInstances returns the instances waiting in m's pool (for tests that
// look inside it), leaving the pool as it was.
func idleInstances(m *module) []*instance { return m.pool.idle() }
