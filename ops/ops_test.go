package ops_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plumemq/plume/ops"
)

var client = &http.Client{Timeout: 10 * time.Second}

// start serves s on a loopback port until the test ends.
func start(t *testing.T, cfg ops.Config) *ops.Server {
	t.Helper()
	cfg.Address = "127.0.0.1:0"
	s := ops.New(cfg)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestHealthzFollowsTheBroker(t *testing.T) {
	var stopping atomic.Bool
	s := start(t, ops.Config{Health: func() error {
		if stopping.Load() {
			return errors.New("shutting down")
		}
		return nil
	}})
	if code, body := get(t, "http://"+s.Addr()+"/healthz"); code != http.StatusOK || strings.TrimSpace(body) != "ok" {
		t.Fatalf("/healthz while serving: %d %q, want 200 ok", code, body)
	}
	stopping.Store(true)
	if code, body := get(t, "http://"+s.Addr()+"/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "shutting down") {
		t.Fatalf("/healthz while stopping: %d %q, want 503 with the reason", code, body)
	}
}

func TestPprofIsServed(t *testing.T) {
	s := start(t, ops.Config{})
	if code, body := get(t, "http://"+s.Addr()+"/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Fatalf("/debug/pprof/: %d, want 200 listing the profiles", code)
	}
	if code, body := get(t, "http://"+s.Addr()+"/debug/pprof/goroutine?debug=1"); code != http.StatusOK || !strings.Contains(body, "goroutine profile") {
		t.Fatalf("/debug/pprof/goroutine: %d, want 200 with the profile", code)
	}
	if code, _ := get(t, "http://"+s.Addr()+"/nothing-here"); code != http.StatusNotFound {
		t.Fatalf("unknown path: %d, want 404", code)
	}
}

func TestHandleAddsAnEndpoint(t *testing.T) {
	cfg := ops.Config{Address: "127.0.0.1:0"}
	s := ops.New(cfg)
	s.Handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "plume_up 1\n")
	}))
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve() }()
	defer func() { _ = s.Shutdown(context.Background()) }()
	if code, body := get(t, "http://"+s.Addr()+"/metrics"); code != http.StatusOK || body != "plume_up 1\n" {
		t.Fatalf("/metrics: %d %q", code, body)
	}
}

func TestShutdownStopsListening(t *testing.T) {
	s := ops.New(ops.Config{Address: "127.0.0.1:0"})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	addr := s.Addr()
	if code, _ := get(t, "http://"+addr+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz: %d", code)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve after Shutdown: %v, want nil", err)
	}
	if _, err := client.Get("http://" + addr + "/healthz"); err == nil {
		t.Fatal("still answering after Shutdown")
	}
}

func TestListenOnATakenAddressFails(t *testing.T) {
	first := ops.New(ops.Config{Address: "127.0.0.1:0"})
	if err := first.Listen(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = first.Shutdown(context.Background()) }()
	go func() { _ = first.Serve() }()
	if err := ops.New(ops.Config{Address: first.Addr()}).Listen(); err == nil || !strings.Contains(err.Error(), first.Addr()) {
		t.Fatalf("second Listen: %v, want an error naming %s", err, first.Addr())
	}
}
