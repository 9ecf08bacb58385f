package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/plumemq/plume/cluster/fabric"
	"github.com/plumemq/plume/cluster/node"
	"github.com/plumemq/plume/cluster/takeover"
	"github.com/plumemq/plume/cmd/plume/internal/config"
	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/session"
	"github.com/plumemq/plume/core/setting"
	"github.com/plumemq/plume/host"
	"github.com/plumemq/plume/ops"
	"github.com/plumemq/plume/ops/audit"
	"github.com/plumemq/plume/ops/dashboard"
	"github.com/plumemq/plume/store/disk"
	jsstore "github.com/plumemq/plume/store/jetstream"
	"github.com/plumemq/plume/transport"
)

// server is a running broker with its listeners.
type server struct {
	log        zerolog.Logger
	broker     *broker.Broker
	plugins    *host.Host // nil without a config file
	configPath string
	// cfg is the configuration in force (reload.go compares the file with
	// it); flags re-applies the command line's overrides to a file re-read.
	cfg   config.Config
	flags func(*config.Config)
	// reloadMu runs one reload at a time, and none once stop has begun.
	reloadMu sync.Mutex
	// lmu guards listeners and running, which a reload changes.
	lmu       sync.Mutex
	listeners []transport.Listener
	running   map[string]config.Listener // by name: what each listener serves with
	wg        sync.WaitGroup
	cancel    context.CancelFunc // stops the config watcher
	stopCerts context.CancelFunc // stops the certificate watcher
	ops       *ops.Server        // nil without http.address (--http)
	store     session.Store      // nil without a store: sessions live in memory
	storeAt   string             // where the store is, for its log lines
	started   atomic.Bool        // store recovered, plugins loaded, listeners bound: /readyz answers 200
	stopping  atomic.Bool        // stop has begun: /healthz answers 503
	audit     *audit.Logger      // nil without an audit section (audit.go)
	cluster   *node.Node         // nil without a cluster section (cluster.go)
	fabric    *fabric.Fabric     // routes between the nodes; nil without a cluster section
	jsCfg     jsstore.Config     // the cluster store's configuration, defaults filled (cluster.go)
	jsOpenFor time.Duration      // how long opening the cluster store may take: cluster.start_timeout at least (cluster.go)
	mover     *takeover.Mover    // moves sessions between the nodes; nil without a cluster section

	dashboard *dashboard.Dashboard // nil without http.address (--http)
}

// start wires a broker from cfg and starts serving its listeners.
func start(cfg config.Config, configPath string, logOut io.Writer) (*server, error) {
	log, err := newLogger(cfg.Log, logOut)
	if err != nil {
		return nil, err
	}
	policies := listenerPolicies(cfg)
	var addrs []string
	for _, l := range cfg.Listeners {
		addrs = append(addrs, l.Address)
	}
	first := log.Info().Str("version", version)
	if configPath == "" {
		first = first.Str("config", "embedded default")
	} else {
		first = first.Str("config", configPath)
	}
	first.Msg("plume starting on " + strings.Join(addrs, ", "))

	s := &server{log: log, configPath: configPath, cfg: cfg, running: map[string]config.Listener{}}
	if err := s.openAudit(cfg.Audit, log); err != nil {
		return nil, err
	}
	started := false
	defer func() {
		if !started {
			s.closeAudit()
		}
	}()
	opts := brokerOptions(cfg, log, policies)
	s.observe(&opts)
	if configPath != "" {
		// With a config file there is a plugin host, even with no plugins yet:
		// editing the file's plugin section (or SIGHUP) adds them live.
		ctx, cancel := context.WithCancel(context.Background())
		s.cancel = cancel
		h, err := host.New(ctx, log.With().Str("component", "plugins").Logger(), cfg.Plugins, s.hostOptions()...)
		if err != nil {
			cancel()
			return nil, err
		}
		s.plugins = h
		opts.Hooks = h.Chain()
		if err := s.watchConfig(ctx); err != nil {
			log.Warn().Err(err).Msg("config file not watched; SIGHUP still reloads plugins")
		}
	}
	logAdmission(log, cfg.Listeners, policies, s.plugins) // admission.go
	if err := s.startCluster(cfg, log, &opts); err != nil {
		s.closePlugins()
		return nil, err
	}
	if err := s.openStore(cfg.Store, log, &opts); err != nil {
		s.closeCluster()
		s.closePlugins()
		return nil, err
	}
	b, err := broker.New(opts)
	if err != nil {
		s.closeStore()
		s.closeCluster()
		s.closePlugins()
		return nil, err
	}
	s.broker = b
	if err := s.joinFabric(b); err != nil {
		_ = b.Shutdown(context.Background())
		s.closeStore()
		s.closeCluster()
		s.closePlugins()
		return nil, err
	}
	// Bind every listener before serving any: a taken port stops start-up
	// before a client is accepted.
	bound := make([]transport.Listener, 0, len(cfg.Listeners))
	for _, lc := range cfg.Listeners {
		l, err := bindListener(lc)
		if err != nil {
			for _, l := range bound {
				_ = l.Close()
			}
			_ = b.Shutdown(context.Background())
			s.closeStore()
			s.closeCluster()
			s.closePlugins()
			return nil, err
		}
		bound = append(bound, l)
	}
	for i, l := range bound {
		s.serveListener(l, cfg.Listeners[i], policies[l.Name()])
	}
	s.restartCertWatch()
	started = true // from here on, stop closes the audit log
	s.started.Store(true)
	if cfg.HTTP.Address != "" {
		if err := s.startOps(cfg.HTTP); err != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = s.stop(ctx) // the ops error is the one to report
			return nil, err
		}
	}
	return s, nil
}

func (s *server) closeListeners() {
	for _, l := range s.listening() {
		_ = l.Close()
	}
}

// stop shuts the broker down (closing its listeners), then the operations
// endpoint, and waits for every goroutine the server started.
func (s *server) stop(ctx context.Context) error {
	s.stopping.Store(true)
	s.reloadMu.Lock() // a reload under way ends first; none starts after
	defer s.reloadMu.Unlock()
	err := s.broker.Shutdown(ctx)
	s.closeStore()   // after Shutdown, whose last commits need it
	s.closeCluster() // after the store, which may write through it
	s.closeListeners()
	if s.stopCerts != nil {
		s.stopCerts()
	}
	s.closePlugins()
	s.stopOps() // last: /healthz says 503 while the broker drains
	s.wg.Wait()
	s.closeAudit() // after the broker and plugins: their last events are in it
	return err
}

// openStore opens the session store as opts.Store — JetStream on a cluster
// node (cluster.go), else the disk store cfg asks for, if any — and says at
// start-up where sessions are kept.
func (s *server) openStore(cfg *disk.Config, log zerolog.Logger, opts *broker.Options) error {
	if s.cluster != nil {
		return s.openClusterStore(log, opts) // cluster.go
	}
	if cfg == nil {
		log.Info().Str("store", "memory").Msg("session store: in memory; sessions and retained messages end with the process (--data-dir keeps them)")
		return nil
	}
	st, err := disk.Open(*cfg, log.With().Str("component", "store").Logger())
	if err != nil {
		return err // it names the store and its directory
	}
	s.store, s.storeAt, opts.Store = st, st.Path(), st
	msg := "session store: on disk; acknowledged messages are fsynced first"
	if cfg.Mode == disk.ModeAsync {
		msg = fmt.Sprintf("session store: on disk, async; changes reach the disk within %s, a crash may lose what was acknowledged in that window", cfg.SyncInterval)
	}
	log.Info().Str("store", "disk").Str("path", st.Path()).Str("mode", st.Mode()).Msg(msg)
	return nil
}

// storeCloseWait bounds closing the store at exit: a commit stuck on a
// hung disk holds it, and the process must still end. Pebble replays its
// log at the next start; what was acknowledged is in it.
const storeCloseWait = 5 * time.Second

// closeStore closes the store, if there is one.
func (s *server) closeStore() {
	if s.store == nil {
		return
	}
	closed := make(chan error, 1)
	go func() { closed <- s.store.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			s.log.Error().Err(err).Str("path", s.storeAt).Msg("closing the session store")
		}
	case <-time.After(storeCloseWait):
		s.log.Error().Str("path", s.storeAt).Dur("waited_ms", storeCloseWait).
			Msg("the session store did not close (a commit is stuck): exiting without it; the next start replays its log")
	}
}

// closePlugins stops the config watcher and the plugin host.
func (s *server) closePlugins() {
	if s.cancel != nil {
		s.cancel()
	}
	if s.plugins != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.plugins.Close(ctx)
	}
}

// listenerPolicies is what each listener admits, its defaults resolved.
func listenerPolicies(cfg config.Config) map[string]broker.ListenerPolicy {
	m := make(map[string]broker.ListenerPolicy, len(cfg.Listeners))
	for _, l := range cfg.Listeners {
		m[l.Name] = broker.ListenerPolicy{
			AllowAnonymous:        allowAnonymous(cfg, l),
			MaxConnections:        l.MaxConnections,
			UseIdentityAsUsername: l.UseIdentityAsUsername,
		}
	}
	return m
}

// allowAnonymous is l's rule for clients no plugin authenticated: its own
// allow_anonymous, else the file's, else true only on a loopback listener
// that does not take the PROXY protocol (behind a local balancer, loopback
// connections come from anywhere).
func allowAnonymous(cfg config.Config, l config.Listener) bool {
	switch {
	case l.AllowAnonymous != nil:
		return *l.AllowAnonymous
	case cfg.AllowAnonymous != nil:
		return *cfg.AllowAnonymous
	}
	return setting.IsLoopback(l.Address) && !l.ProxyProtocol
}

// brokerOptions is the broker's section of the file with what the binary
// wires in code: the logger, each listener's admission rules, and the
// version. A connection from a listener the file does not name (none today)
// would be held to the strictest rule: no anonymous clients.
func brokerOptions(cfg config.Config, log zerolog.Logger, policies map[string]broker.ListenerPolicy) broker.Options {
	o := cfg.Broker
	o.Log, o.Listeners, o.Version = log, policies, "plume "+version
	return o
}

// newLogger makes the zerolog logger: human-readable on a terminal, JSON otherwise.
func newLogger(c config.Log, out io.Writer) (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(c.Level)
	if err != nil {
		return zerolog.Logger{}, fmt.Errorf("log.level: %w", err)
	}
	console := c.Format == "console"
	if c.Format == "auto" {
		if f, ok := out.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			console = true
		}
	}
	if console {
		out = zerolog.ConsoleWriter{Out: out, TimeFormat: time.TimeOnly}
	}
	// The level is zerolog's global one, which a reload changes (log.level)
	// for every logger made from this one, at the cost of one atomic load
	// per log call, which zerolog pays anyway. It is process-wide: one
	// broker per process.
	zerolog.SetGlobalLevel(level)
	return zerolog.New(out).With().Timestamp().Logger(), nil
}
