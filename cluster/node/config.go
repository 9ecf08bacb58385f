package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/plumemq/plume/core/setting"
)

// Defaults (decision 0053).
const (
	// DefaultClusterName is the NATS cluster's name when the file gives none.
	DefaultClusterName = "plume"
	// DefaultClientListen is where the embedded server takes NATS clients
	// (the nats CLI, a debugger): loopback, on a port the kernel picks, so
	// that three nodes on one host do not collide and nothing off the host
	// reaches it unless the file says so. The node's own connection is
	// in-process and does not use it.
	DefaultClientListen = "127.0.0.1:0"
	// DefaultStartTimeout bounds Start: the server ready, its routes to the
	// reachable peers up, a JetStream meta leader known.
	DefaultStartTimeout = time.Minute
	// SyncAlways is the sync value that fsyncs every JetStream write before
	// it is acknowledged (the default; decision 0053).
	SyncAlways = "always"
	// DataDirName is the folder under the broker's data directory that holds
	// JetStream's files when data_dir is not given.
	DataDirName = "jetstream"
	// DefaultReplayWindow is the ingest streams' MaxAge (decision 0055).
	DefaultReplayWindow = time.Hour
	// DefaultRouteTLSTimeout bounds a route's TLS handshake: generous, a
	// peer across a slow link still joins.
	DefaultRouteTLSTimeout = 5 * time.Second
	// maxReplicas is JetStream's own limit on a stream's replicas.
	maxReplicas = 5
)

// Config is the `cluster:` section. One key decides the mode: with nats_url
// the node connects to a NATS cluster the user runs (external); without it,
// it embeds a nats-server that joins the other nodes' cluster over routes
// (embedded, the one-binary default).
type Config struct {
	// Name is the NATS cluster's name, the same on every node (embedded).
	Name string `yaml:"name"`
	// Node is this node's name, unique in the cluster: the NATS server name
	// and the name membership and logs use (embedded; required).
	Node string `yaml:"node"`
	// Listen is the host:port the node's NATS routes listen on: where the
	// other nodes' peers entries point (embedded; required).
	Listen string `yaml:"listen"`
	// Peers are the other nodes' listen addresses (host:port). Listing this
	// node too is allowed, so that every node can share one list.
	Peers []string `yaml:"peers"`
	// ClientListen is where the embedded server accepts NATS clients
	// (default DefaultClientListen: loopback, a free port).
	ClientListen string `yaml:"client_listen"`
	// DataDir is JetStream's storage directory (default: DataDirName under
	// the broker's data directory, store.path or --data-dir, which the
	// binary resolves; Start refuses an empty one).
	DataDir string `yaml:"data_dir"`
	// Sync is when JetStream fsyncs: "always" (default: before a write is
	// acknowledged) or a duration, the fsync period (JetStream's own
	// default is 2m; decision 0053 says why Plume does not use it).
	Sync string `yaml:"sync"`
	// Replicas is how many copies of each stream and KV the cluster keeps
	// (1, 3 or 5; default 3 when the cluster has 3 or more nodes, else 1).
	Replicas int `yaml:"replicas"`
	// StartTimeout bounds Start (default DefaultStartTimeout).
	StartTimeout time.Duration `yaml:"start_timeout"`
	// ReplayWindow is how long the ingest keeps a QoS ≥ 1 message for a node
	// that was down or a session that moves (decision 0055); default
	// DefaultReplayWindow, at least a minute. Either mode.
	ReplayWindow time.Duration `yaml:"replay_window"`
	// SingleForwards writes each QoS ≥ 1 message to the ingest as a stream
	// message of its own, as Plume did before decision 0061, instead of
	// packing those of one commit to one shard into one. A node of an
	// earlier version drops packed messages (counted malformed): set it on
	// the upgraded nodes while any earlier one runs, clear it once none is
	// left. Either mode.
	SingleForwards bool `yaml:"single_forwards"`
	// ServerReference is where this node sends its MQTT 5.0 clients when it
	// drains on SIGTERM: DISCONNECT 0x9C Use another server with this
	// Server Reference (§4.11; typically the other nodes' or a load
	// balancer's host:port, space separated). Empty: 0x8B Server shutting
	// down (decision 0057). Either mode.
	ServerReference string `yaml:"server_reference"`

	// RouteTLS secures the routes between the embedded servers with
	// mutual TLS (embedded only; decision 0059): each node presents its
	// certificate and accepts only peers whose certificate the CA signed.
	// Without it the routes are plain TCP: fine on a private network, not
	// across one you do not trust.
	RouteTLS *RouteTLS `yaml:"route_tls"`

	// NATSURL is an existing NATS cluster's URLs, comma separated
	// (nats://host:4222,tls://host2:4222): the node embeds no server.
	NATSURL string `yaml:"nats_url"`
	// Credentials is a NATS credentials file (JWT and NKey seed), external.
	Credentials string `yaml:"credentials"`
	// TLS is the client side of TLS to an external cluster.
	TLS *TLS `yaml:"tls"`
}

// TLS is the client's TLS to an external NATS cluster.
type TLS struct {
	CAFile   string `yaml:"ca_file"`   // the servers' CA (default: the system's)
	CertFile string `yaml:"cert_file"` // client certificate, with key_file
	KeyFile  string `yaml:"key_file"`
}

// RouteTLS is the embedded server's TLS on its routes. Each node's
// certificate serves both ends of a route (a node accepts routes and makes
// them): issue it for server and client authentication, with the names or
// addresses the peers dial (peers entries) among its SANs.
type RouteTLS struct {
	CertFile string `yaml:"cert_file"` // this node's certificate (PEM)
	KeyFile  string `yaml:"key_file"`  // its private key (PEM)
	CAFile   string `yaml:"ca_file"`   // the CA that signs every node's certificate
	// Timeout bounds a route's TLS handshake (default DefaultRouteTLSTimeout).
	Timeout time.Duration `yaml:"timeout"`
}

// External reports whether the node connects to a cluster the user runs.
func (c *Config) External() bool { return c.NATSURL != "" }

// Nodes is how many nodes the embedded cluster is configured with: this one
// and its distinct peers other than itself.
func (c *Config) Nodes() int {
	n := 1
	seen := map[string]bool{}
	for _, p := range c.Peers {
		if !c.isSelf(p) && !seen[p] {
			seen[p] = true
			n++
		}
	}
	return n
}

// isSelf reports whether peer is this node's own listen address: the same
// string, or the same port on a host name or address of this machine (a
// node listening on 0.0.0.0:6222 is plume-1:6222 in the shared list).
// nats-server skips a route to itself on its own; the node must not count
// it as a peer to wait for, nor as a node for the replica count.
func (c *Config) isSelf(peer string) bool {
	if peer == c.Listen {
		return true
	}
	host, port, err := net.SplitHostPort(peer)
	_, lport, lerr := net.SplitHostPort(c.Listen)
	if err != nil || lerr != nil || port != lport {
		return false
	}
	return isLocalHost(host)
}

// isLocalHost reports whether host names this machine: its name, or one of
// its interfaces' addresses (looked up with a bound: a slow resolver must
// not hold start-up).
func isLocalHost(host string) bool {
	if name, err := os.Hostname(); err == nil && strings.EqualFold(host, name) {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return false
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, ip := range ips {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip.IP) {
				return true
			}
		}
	}
	return false
}

// SyncInterval is Sync as nats-server takes it: always, or the period.
func (c *Config) SyncInterval() (always bool, every time.Duration) {
	if c.Sync == SyncAlways {
		return true, 0
	}
	d, _ := time.ParseDuration(c.Sync) // Validate has parsed it
	return false, d
}

// Validate fills in the defaults and checks c. Errors are *setting.Error
// naming the key at fault, for the caller to put under "cluster"; every
// one found is returned, joined.
func (c *Config) Validate() error {
	if c.ReplayWindow == 0 {
		c.ReplayWindow = DefaultReplayWindow
	}
	var err error
	if c.External() {
		err = c.validateExternal()
	} else {
		err = c.validateEmbedded()
	}
	if c.ReplayWindow < time.Minute {
		err = errors.Join(err, setting.Errorf("replay_window", "%s is under a minute: a node's restart must fit in it", c.ReplayWindow))
	}
	if c.ServerReference != "" && strings.TrimSpace(c.ServerReference) == "" {
		err = errors.Join(err, setting.Errorf("server_reference", "blank: give where clients should go, or leave it out"))
	}
	return err
}

func (c *Config) validateEmbedded() error {
	var errs []error
	if c.Name == "" {
		c.Name = DefaultClusterName
	}
	if c.ClientListen == "" {
		c.ClientListen = DefaultClientListen
	}
	if c.Sync == "" {
		c.Sync = SyncAlways
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.Replicas == 0 {
		c.Replicas = 1
		if c.Nodes() >= 3 {
			c.Replicas = 3
		}
	}
	if strings.ContainsAny(c.Name, " \t.*>") {
		errs = append(errs, setting.Errorf("name", "%q: a NATS cluster name holds no spaces, '.', '*' or '>'", c.Name))
	}
	switch {
	case c.Node == "":
		errs = append(errs, setting.Errorf("node", "required: this node's name, unique in the cluster"))
	case strings.ContainsAny(c.Node, " \t.*>"):
		errs = append(errs, setting.Errorf("node", "%q: a node name holds no spaces, '.', '*' or '>'", c.Node))
	}
	if c.Listen == "" {
		errs = append(errs, setting.Errorf("listen", "required: the host:port this node's routes listen on (or nats_url for a NATS cluster you run)"))
	} else if err := hostPort(c.Listen, false); err != nil {
		errs = append(errs, setting.Errorf("listen", "%w", err))
	}
	if err := hostPort(c.ClientListen, true); err != nil {
		errs = append(errs, setting.Errorf("client_listen", "%w", err))
	}
	for i, p := range c.Peers {
		if err := hostPort(p, false); err != nil {
			errs = append(errs, setting.Errorf(fmt.Sprintf("peers[%d]", i), "%w", err))
		}
	}
	if c.Sync != SyncAlways {
		d, err := time.ParseDuration(c.Sync)
		switch {
		case err != nil:
			errs = append(errs, setting.Errorf("sync", "%q is not %s nor a duration like 1s", c.Sync, SyncAlways))
		case d < time.Millisecond:
			errs = append(errs, setting.Errorf("sync", "%s is below 1ms; use %s", d, SyncAlways))
		}
	}
	if err := c.checkReplicas(c.Nodes()); err != nil {
		errs = append(errs, err)
	}
	if c.StartTimeout < 0 {
		errs = append(errs, setting.Errorf("start_timeout", "%s is negative", c.StartTimeout))
	}
	if t := c.RouteTLS; t != nil {
		errs = append(errs, t.validate()...)
	}
	for _, k := range []set{{"credentials", c.Credentials != ""}, {"tls", c.TLS != nil}} {
		if k.set {
			errs = append(errs, setting.Errorf(k.key, "applies to nats_url only: the embedded server needs none"))
		}
	}
	return errors.Join(errs...)
}

func (c *Config) validateExternal() error {
	var errs []error
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	for _, u := range strings.Split(c.NATSURL, ",") {
		p, err := url.Parse(strings.TrimSpace(u))
		switch {
		case err != nil:
			errs = append(errs, setting.Errorf("nats_url", "%q: %w", u, err))
		case p.Scheme != "nats" && p.Scheme != "tls":
			errs = append(errs, setting.Errorf("nats_url", "%q: the scheme is nats:// or tls://", u))
		case p.Host == "":
			errs = append(errs, setting.Errorf("nats_url", "%q: no host", u))
		}
	}
	// The embedded server's keys mean nothing here: one key decides, and a
	// file that sets both says two things.
	for _, k := range []set{
		{"name", c.Name != ""}, {"node", c.Node != ""}, {"listen", c.Listen != ""}, {"peers", len(c.Peers) > 0},
		{"client_listen", c.ClientListen != ""}, {"data_dir", c.DataDir != ""}, {"sync", c.Sync != ""},
		{"route_tls", c.RouteTLS != nil},
	} {
		if k.set {
			errs = append(errs, setting.Errorf(k.key, "applies to the embedded server only, not with nats_url"))
		}
	}
	if c.Replicas != 0 {
		// The external cluster's size is known only once connected: Start
		// checks replicas against it.
		if err := c.checkReplicas(maxReplicas); err != nil {
			errs = append(errs, err)
		}
	}
	if t := c.TLS; t != nil && (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, setting.Errorf("tls.key_file", "cert_file and key_file go together"))
	}
	if c.StartTimeout < 0 {
		errs = append(errs, setting.Errorf("start_timeout", "%s is negative", c.StartTimeout))
	}
	return errors.Join(errs...)
}

// set is whether the file gave a key, for the rules on keys of one mode.
type set struct {
	key string
	set bool
}

// checkReplicas checks replicas against a cluster of nodes nodes.
func (c *Config) checkReplicas(nodes int) error {
	switch {
	case c.Replicas < 1 || c.Replicas > maxReplicas:
		return setting.Errorf("replicas", "%d is not between 1 and %d", c.Replicas, maxReplicas)
	case c.Replicas%2 == 0:
		// An even count buys no more failures survived than the odd one
		// below it, and costs a copy: JetStream's quorum is a majority.
		return setting.Errorf("replicas", "%d: use an odd count (1, 3 or 5); a majority of %d survives no more failures than one of %d", c.Replicas, c.Replicas, c.Replicas-1)
	case c.Replicas > nodes:
		return setting.Errorf("replicas", "%d is more than the cluster's %d nodes (this one and its peers)", c.Replicas, nodes)
	}
	return nil
}

// hostPort checks a host:port; port 0 (a free port) only if zeroOK.
func hostPort(addr string, zeroOK bool) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || (n == 0 && !zeroOK) {
		return fmt.Errorf("%q: the port is not a number from 1 to 65535", addr)
	}
	return nil
}
