// Package ops is the operations HTTP server: one listener, on loopback unless
// configured otherwise, for what operators and their tools ask a running
// broker. Today it serves
//
//	/healthz        200 "ok" while the broker serves, 503 and the reason once it stops
//	/debug/pprof/   Go's runtime profiles (net/http/pprof)
//
// and it is where /metrics and the admin API go (issue 12): each registers
// its handler with Handle before Serve. Caddy's admin endpoint (admin.go,
// loopback :2019) is the model: one surface, not a port per concern.
package ops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"
)

// Config configures the operations server.
type Config struct {
	// Address is "host:port"; port 0 picks a free port. Keep it on loopback:
	// profiles expose memory contents, payloads included.
	Address string
	// Health reports whether the broker serves: nil for yes, else why not.
	// nil Health means always healthy.
	Health func() error
}

// Server is the operations HTTP server.
type Server struct {
	cfg  Config
	mux  *http.ServeMux
	http *http.Server

	mu sync.Mutex
	ln net.Listener
}

// New returns a server with /healthz and /debug/pprof/ registered; it does
// not listen yet.
func New(cfg Config) *Server {
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /healthz", s.healthz)
	// pprof.Index serves the named profiles too (/debug/pprof/heap, ...).
	s.mux.HandleFunc("/debug/pprof/", pprof.Index)
	s.mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	s.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	s.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	s.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	// No WriteTimeout: a CPU profile or trace streams for as long as asked.
	s.http = &http.Server{Handler: s.mux, ReadHeaderTimeout: 5 * time.Second}
	return s
}

// Handle registers h for pattern (net/http.ServeMux syntax), for the
// endpoints to come (/metrics, the admin API). Call it before Serve.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Listen binds the address.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.Address)
	if err != nil {
		return fmt.Errorf("ops listen %s: %w", s.cfg.Address, err)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	return nil
}

// Addr is the bound address after Listen, else the configured one.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return s.ln.Addr().String()
	}
	return s.cfg.Address
}

// Serve answers requests until Shutdown; it blocks, and returns nil after a
// Shutdown.
func (s *Server) Serve() error {
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	if ln == nil {
		return errors.New("ops: Serve before Listen")
	}
	if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops listening and waits for requests in progress, or until ctx
// ends (a long profile), then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, s.http.Close())
	}
	// A Shutdown that came before Serve leaves the listener to us.
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		if cerr := s.ln.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = errors.Join(err, cerr)
		}
	}
	return err
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if s.cfg.Health != nil {
		if err := s.cfg.Health(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, err)
			return
		}
	}
	fmt.Fprintln(w, "ok")
}
