// Package node is a Plume node's place in a NATS cluster (issue 14,
// decision 0053). Start either embeds a nats-server with JetStream that
// joins the other nodes' cluster over routes, or connects to a NATS cluster
// the user runs; either way it returns once the node can use the cluster
// (JetStream answering, its meta leader known) and exposes what the routing
// fabric and the JetStream store build on: the connection, a JetStream
// context, the replica count for their streams, and membership and health
// for $SYS and /readyz.
//
// A broker without a cluster section has no Node: nothing here runs, and the
// broker's cluster checks are nil tests.
package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// ErrNotReady is what Ready and Start's timeout wrap: the node cannot use
// the cluster (no JetStream meta leader, or no connection).
var ErrNotReady = errors.New("cluster not ready")

// Node is a running cluster member. Its methods are safe for concurrent use.
type Node struct {
	cfg      Config
	log      zerolog.Logger
	name     string
	srv      *server.Server // nil when external
	nc       *nats.Conn
	dial     []nats.Option // how nc was made, without its name: for PublishConn (publish.go)
	pub      *nats.Conn    // PublishConn's, closed with nc
	js       jetstream.JetStream
	replicas int

	stop chan struct{}  // closed by Close: the membership watcher returns
	wg   sync.WaitGroup // the watcher

	mu      sync.Mutex
	members map[string]*Member // by name, this node included; never shrinks
	leader  string             // the JetStream meta leader last seen
	closed  bool

	quorum     atomic.Bool                       // Quorum (quorum.go); set by refreshLocked
	judged     bool                              // the first verdict was given (Start's, not logged)
	leaderless time.Time                         // since when no meta leader is known; zero while one is
	jsSilent   time.Time                         // external: since when JetStream has not answered; zero while it does
	onQuorum   func(ok bool, membersUp []string) // OnQuorumChange; under mu
}

// Start joins or connects to the cluster cfg describes (cfg validated) and
// returns once the node can use it: the embedded server accepts
// connections, has routes to every peer that answers on its address, and
// knows a JetStream meta leader; or, external, JetStream answers through the
// connection. It gives up after cfg.StartTimeout (or ctx) with an error
// saying what it still waited for, and leaves nothing running then.
func Start(ctx context.Context, cfg Config, log zerolog.Logger) (*Node, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	n := &Node{cfg: cfg, log: log, stop: make(chan struct{}), members: map[string]*Member{}}
	var err error
	if cfg.External() {
		err = n.connect(ctx)
	} else {
		err = n.embed(ctx)
	}
	if err != nil {
		n.shutdown()
		return nil, err
	}
	n.refresh() // the first membership: logged as it is, later changes as they come
	n.wg.Add(1)
	go n.watch()
	mode := "embedded"
	if cfg.External() {
		mode = "external"
	}
	ev := log.Info().Str("mode", mode).Str("node", n.name).Int("replicas", n.replicas)
	if n.srv != nil {
		ev = ev.Str("cluster", cfg.Name).Str("listen", cfg.Listen).Bool("route_tls", cfg.RouteTLS != nil).Str("client_url", n.srv.ClientURL()).
			Str("data_dir", cfg.DataDir).Str("sync", cfg.Sync)
	} else {
		ev = ev.Str("nats_url", n.nc.ConnectedUrlRedacted())
	}
	ev.Strs("members_up", n.up()).Msg("cluster joined")
	return n, nil
}

// embed starts the embedded server and waits for it to join.
func (n *Node) embed(ctx context.Context) error {
	cfg := &n.cfg
	n.name = cfg.Node
	if cfg.DataDir == "" {
		return errors.New("cluster.data_dir: required: JetStream's storage directory (or give the broker a data directory: store.path or --data-dir)")
	}
	opts, err := serverOptions(cfg)
	if err != nil {
		return err
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("cluster: nats-server: %w", err)
	}
	fatal := make(chan string, 1)
	srv.SetLoggerV2(natsLogger{log: n.log.With().Str("source", "nats-server").Logger(), fatal: fatal}, false, false, false)
	n.srv = srv
	srv.Start()
	if err := n.awaitListening(ctx, fatal); err != nil {
		return err
	}
	n.dial = []nats.Option{nats.InProcessServer(srv), nats.MaxReconnects(-1)}
	if n.nc, err = nats.Connect("", append(n.dial, nats.Name("plume "+n.name))...); err != nil {
		return fmt.Errorf("cluster: connect to the embedded NATS server: %w", err)
	}
	if n.js, err = jetstream.New(n.nc); err != nil {
		return fmt.Errorf("cluster: JetStream: %w", err)
	}
	n.replicas = cfg.Replicas
	return n.await(ctx, func() string {
		if missing := n.missingRoutes(); len(missing) > 0 {
			return "routes to the reachable peers " + strings.Join(missing, ", ")
		}
		return n.jetStreamWait(ctx)
	})
}

// readyPoll is how long each look at the embedded server's listeners waits
// before Start checks whether one of them failed.
const readyPoll = 100 * time.Millisecond

// awaitListening waits until the embedded server's listeners are bound.
// A listener that cannot bind (the port taken, the address not this
// host's) is fatal to nats-server, which says so through its logger and
// never becomes ready: Start returns that error at once rather than wait
// out start_timeout.
func (n *Node) awaitListening(ctx context.Context, fatal <-chan string) error {
	for !n.srv.ReadyForConnections(readyPoll) {
		select {
		case msg := <-fatal:
			return fmt.Errorf("cluster: the embedded NATS server (routes %s, clients %s) cannot start: %w",
				n.cfg.Listen, n.cfg.ClientListen, errors.New(msg))
		case <-ctx.Done():
			return fmt.Errorf("cluster: the embedded NATS server (routes %s, clients %s) did not start within %s: %w",
				n.cfg.Listen, n.cfg.ClientListen, n.cfg.StartTimeout, ErrNotReady)
		default:
		}
	}
	return nil
}

// serverOptions is the embedded server's configuration.
func serverOptions(cfg *Config) (*server.Options, error) {
	rhost, rport, _ := net.SplitHostPort(cfg.Listen) // Validate checked both
	chost, cport, _ := net.SplitHostPort(cfg.ClientListen)
	routePort, _ := strconv.Atoi(rport)
	clientPort, _ := strconv.Atoi(cport)
	if clientPort == 0 {
		clientPort = server.RANDOM_PORT // nats-server reads 0 as its default, 4222
	}
	var routes []*url.URL
	for _, p := range cfg.Peers {
		if cfg.isSelf(p) {
			continue
		}
		u, err := url.Parse("nats-route://" + p)
		if err != nil {
			return nil, fmt.Errorf("cluster: peer %q: %w", p, err)
		}
		routes = append(routes, u)
	}
	always, every := cfg.SyncInterval()
	opts := &server.Options{
		ServerName: cfg.Node,
		Host:       chost,
		Port:       clientPort,
		Cluster: server.ClusterOpts{
			// nats-server retries a configured route for as long as it
			// runs: nodes start in any order.
			Name: cfg.Name, Host: rhost, Port: routePort,
		},
		Routes:       routes,
		JetStream:    true,
		StoreDir:     cfg.DataDir,
		SyncAlways:   always,
		SyncInterval: every,
		NoSigs:       true, // the binary owns the process's signals
		MaxPayload:   8 << 20,
	}
	if t := cfg.RouteTLS; t != nil {
		c, err := t.config()
		if err != nil {
			return nil, fmt.Errorf("cluster.route_tls: %w", err)
		}
		opts.Cluster.TLSConfig, opts.Cluster.TLSTimeout = c, t.Timeout.Seconds()
	}
	if len(routes) == 0 {
		// nats-server refuses clustered JetStream without a route to make:
		// a node without peers runs JetStream alone, and takes no routes.
		opts.Cluster = server.ClusterOpts{}
	}
	return opts, nil
}

// connect connects to an external cluster and waits for JetStream.
func (n *Node) connect(ctx context.Context) error {
	cfg := &n.cfg
	opts := []nats.Option{nats.MaxReconnects(-1), nats.Name("plume"),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			n.log.Warn().Err(err).Msg("cluster: disconnected from NATS; reconnecting")
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			n.log.Info().Str("nats_url", c.ConnectedUrlRedacted()).Str("server", c.ConnectedServerName()).Msg("cluster: reconnected to NATS")
		}),
	}
	if cfg.Credentials != "" {
		opts = append(opts, nats.UserCredentials(cfg.Credentials))
	}
	if t := cfg.TLS; t != nil {
		if t.CAFile != "" {
			opts = append(opts, nats.RootCAs(t.CAFile))
		}
		if t.CertFile != "" {
			opts = append(opts, nats.ClientCert(t.CertFile, t.KeyFile))
		}
	}
	n.dial = opts
	var err error
	if n.nc, err = nats.Connect(cfg.NATSURL, opts...); err != nil {
		return fmt.Errorf("cluster: connect to nats_url %s: %w", cfg.NATSURL, err)
	}
	n.name = n.nc.ConnectedServerName()
	if n.js, err = jetstream.New(n.nc); err != nil {
		return fmt.Errorf("cluster: JetStream: %w", err)
	}
	if err := n.await(ctx, func() string { return n.jetStreamWait(ctx) }); err != nil {
		return err
	}
	servers := len(n.nc.Servers())
	n.replicas = cfg.Replicas
	if n.replicas == 0 {
		n.replicas = 1
		if servers >= 3 {
			n.replicas = 3
		}
	}
	if err := cfg.checkReplicasAgainst(n.replicas, servers); err != nil {
		return err
	}
	return nil
}

// checkReplicasAgainst refuses replicas above the servers an external
// cluster announced.
func (c *Config) checkReplicasAgainst(replicas, servers int) error {
	if replicas > servers {
		return fmt.Errorf("cluster: replicas %d is more than the %d servers of the NATS cluster at %s", replicas, servers, c.NATSURL)
	}
	return nil
}

// jetStreamWait is what JetStream still lacks: "" once it answers an
// account info request, which needs a meta leader.
func (n *Node) jetStreamWait(ctx context.Context) string {
	if n.srv != nil && n.metaLeader() == "" {
		return "a JetStream meta leader (a majority of the nodes up)"
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := n.js.AccountInfo(rctx); err != nil {
		return "JetStream to answer (" + err.Error() + ")"
	}
	return ""
}

// await polls waiting until it returns "" (ready) or ctx ends; the error
// then says what was still missing.
func (n *Node) await(ctx context.Context, waiting func() string) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		what := waiting()
		if what == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: node %s gave up after %s waiting for %s: %w", n.name, n.cfg.StartTimeout, what, ErrNotReady)
		case <-tick.C:
		}
	}
}

// missingRoutes lists the peers that accept a TCP connection on their
// address while the server has fewer routes than that: a peer that is
// down does not hold the start up (its route comes when it does), one
// that is up must be joined before the node says it is.
func (n *Node) missingRoutes() []string {
	var reachable []string
	for _, p := range n.cfg.Peers {
		if n.cfg.isSelf(p) {
			continue
		}
		c, err := net.DialTimeout("tcp", p, time.Second)
		if err != nil {
			continue
		}
		_ = c.Close() // a probe: nothing was sent
		reachable = append(reachable, p)
	}
	if len(n.routeNames()) >= len(reachable) {
		return nil
	}
	return reachable
}

// Name is this node's name: the embedded server's, or the name of the
// external server it is connected to.
func (n *Node) Name() string { return n.name }

// Conn is the node's NATS connection: in-process to the embedded server,
// or to the external cluster. Close drains it.
func (n *Node) Conn() *nats.Conn { return n.nc }

// JetStream is a JetStream context on Conn.
func (n *Node) JetStream() jetstream.JetStream { return n.js }

// Replicas is how many replicas streams and KV buckets the node creates
// should have (Config.Replicas, its default resolved).
func (n *Node) Replicas() int { return n.replicas }

// ClientURL is where the embedded server takes NATS clients ("" external).
func (n *Node) ClientURL() string {
	if n.srv == nil {
		return ""
	}
	return n.srv.ClientURL()
}

// closeWait bounds each step of Close when ctx has no deadline.
const closeWait = 10 * time.Second

// Close drains the connection (what it published is flushed, its
// subscriptions end) and shuts the embedded server down, waiting for both
// within ctx. A second Close does nothing.
func (n *Node) Close(ctx context.Context) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	close(n.stop)
	n.wg.Wait()
	var err error
	n.closePublishConn()
	if n.nc != nil {
		drained := make(chan struct{})
		n.nc.SetClosedHandler(func(*nats.Conn) { close(drained) })
		if derr := n.nc.Drain(); derr != nil {
			n.nc.Close()
		} else {
			wait := closeWait
			if d, ok := ctx.Deadline(); ok {
				wait = time.Until(d)
			}
			select {
			case <-drained:
			case <-time.After(wait):
				n.nc.Close()
				err = fmt.Errorf("cluster: draining the NATS connection took over %s", wait)
			}
		}
	}
	n.shutdown()
	n.log.Info().Str("node", n.name).Msg("cluster: left")
	return err
}

// shutdown closes what Start opened, without draining.
func (n *Node) shutdown() {
	n.closePublishConn()
	if n.nc != nil && !n.nc.IsClosed() {
		n.nc.Close()
	}
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
	}
}
