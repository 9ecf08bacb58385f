// Package ops is the operations HTTP server: one listener, on loopback unless
// configured otherwise, for what operators and their tools ask a running
// broker. It serves
//
//	/healthz        200 "ok" while the broker serves, 503 and the reason once it stops
//	/readyz         200 "ready" once it is ready to serve (Config.Ready), else 503 and why
//	/debug/pprof/   Go's runtime profiles (net/http/pprof)
//
// and what others register with Handle before Serve: /metrics, the admin API
// (ops/admin), the dashboard. Caddy's admin endpoint (admin.go, loopback
// :2019) is the model: one surface, not a port per concern. With TLS it
// serves HTTPS; with Auth every endpoint but /healthz and /readyz asks for a
// bearer token or a basic-auth password (auth.go), and Validate refuses an
// address off loopback without Auth (docs/decisions/0030-admin-api.md).
package ops

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"
)

// Config configures the operations server: the http section of plume.yaml
// (the yaml keys) and what the binary wires in code.
type Config struct {
	// Address is "host:port"; port 0 picks a free port; "" is off. Off
	// loopback, Auth is required: profiles expose memory contents, payloads
	// included, and the admin API disconnects clients.
	Address string `yaml:"address"`
	// TLS, when set, serves HTTPS.
	TLS *TLS `yaml:"tls"`
	// Auth, when configured, guards every endpoint but /healthz and /readyz.
	Auth Auth `yaml:"auth"`

	// Health reports whether the broker serves: nil for yes, else why not.
	// nil Health means always healthy.
	Health func() error `yaml:"-"`
	// Ready reports whether the broker is ready for clients (listeners
	// bound, plugins loaded, store recovered): nil for yes, else why not.
	// nil Ready means ready whenever healthy.
	Ready func() error `yaml:"-"`
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
	s.mux.HandleFunc("GET /readyz", s.readyz)
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

// Listen validates the config, reads its files (certificates, token,
// password file) and binds the address. Errors about the config are
// *setting.Error naming the key.
func (s *Server) Listen() error {
	if err := s.cfg.Validate(); err != nil {
		return err
	}
	au, err := newAuthenticator(s.cfg.Auth)
	if err != nil {
		return err
	}
	var tc *tls.Config
	if s.cfg.TLS != nil {
		if tc, err = s.cfg.TLS.tlsConfig(); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", s.cfg.Address)
	if err != nil {
		return fmt.Errorf("ops listen %s: %w", s.cfg.Address, err)
	}
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	// Before Serve, which reads it: credentials first, then the routes.
	s.http.Handler = au.guard(s.mux)
	return nil
}

// Scheme is "https" with TLS, else "http".
func (s *Server) Scheme() string {
	if s.cfg.TLS != nil {
		return "https"
	}
	return "http"
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
	probe(w, "ok", s.cfg.Health)
}

// readyz is not ready while unhealthy: a broker shutting down takes no
// new clients.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	probe(w, "ready", s.cfg.Health, s.cfg.Ready)
}

// probe answers ok when every check passes (a nil one passes), else 503
// with the first failure.
func probe(w http.ResponseWriter, ok string, checks ...func() error) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	for _, check := range checks {
		if check == nil {
			continue
		}
		if err := check(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, err)
			return
		}
	}
	fmt.Fprintln(w, ok)
}
