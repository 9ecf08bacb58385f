package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plumemq/plume/store/disk"
)

// The cluster section's rules are cluster/node's; the file's key and line
// are added here, as for every section.
func TestClusterErrorsNameTheKeyAndLine(t *testing.T) {
	const embedded = "cluster:\n  node: a\n  listen: 127.0.0.1:6222\n  data_dir: js\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"no node name", "cluster:\n  listen: 127.0.0.1:6222\n  data_dir: js\n",
			"line 1: cluster.node: required: this node's name, unique in the cluster"},
		{"listen without a port", "cluster:\n  node: a\n  listen: 127.0.0.1\n  data_dir: js\n",
			`line 3: cluster.listen: "127.0.0.1" is not host:port`},
		{"a bad peer", embedded + "  peers:\n    - 127.0.0.1:6223\n    - nowhere\n",
			`line 7: cluster.peers[1]: "nowhere" is not host:port`},
		{"more replicas than nodes", embedded + "  peers: [127.0.0.1:6223]\n  replicas: 3\n",
			"line 6: cluster.replicas: 3 is more than the cluster's 2 nodes (this one and its peers)"},
		{"an even replica count", embedded + "  peers: [127.0.0.1:6223, 127.0.0.1:6224]\n  replicas: 2\n",
			"line 6: cluster.replicas: 2: use an odd count (1, 3 or 5); a majority of 2 survives no more failures than one of 1"},
		{"a sync that is neither", embedded + "  sync: sometimes\n",
			`line 5: cluster.sync: "sometimes" is not always nor a duration like 1s`},
		{"both modes", "cluster:\n  nats_url: nats://n1:4222\n  listen: 127.0.0.1:6222\n",
			"line 3: cluster.listen: applies to the embedded server only, not with nats_url"},
		{"a bad nats_url", "cluster:\n  nats_url: http://n1:4222\n",
			`line 2: cluster.nats_url: "http://n1:4222": the scheme is nats:// or tls://`},
		{"credentials on the embedded server", embedded + "  credentials: a.creds\n",
			"line 5: cluster.credentials: applies to nats_url only: the embedded server needs none"},
		{"a replay window under a minute", embedded + "  replay_window: 30s\n",
			"line 5: cluster.replay_window: 30s is under a minute: a node's restart must fit in it"},
		{"a replay window under a minute, external", "cluster:\n  nats_url: nats://n1:4222\n  replay_window: 1s\n",
			"line 3: cluster.replay_window: 1s is under a minute: a node's restart must fit in it"},
		{"a blank server_reference", embedded + "  server_reference: \"  \"\n",
			"line 5: cluster.server_reference: blank: give where clients should go, or leave it out"},
		{"route_tls without its key", embedded + "  route_tls:\n    cert_file: n.pem\n    ca_file: ca.pem\n",
			"line 5: cluster.route_tls.key_file: required: routes use mutual TLS, every node needs its certificate, key and the CA"},
		{"route_tls with nats_url", "cluster:\n  nats_url: nats://n1:4222\n  route_tls: {cert_file: n.pem}\n",
			"line 3: cluster.route_tls: applies to the embedded server only, not with nats_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.yaml))
			if err == nil || err.Error() != tc.want {
				t.Errorf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestClusterDefaults(t *testing.T) {
	cfg, err := Parse(strings.NewReader("store:\n  path: /var/lib/plume\ncluster:\n  node: a\n  listen: 127.0.0.1:6222\n" +
		"  peers: [127.0.0.1:6222, 127.0.0.1:6223, 127.0.0.1:6224]\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Cluster
	if want := filepath.Join("/var/lib/plume", "jetstream"); cfg.ClusterDataDir() != want {
		t.Errorf("data_dir %q, want %q: under the broker's data directory", cfg.ClusterDataDir(), want)
	}
	// The node's own address in peers is not a fourth node: one list serves every node.
	if c.Nodes() != 3 || c.Replicas != 3 {
		t.Errorf("%d nodes, replicas %d; want 3 and R3", c.Nodes(), c.Replicas)
	}
	if c.ReplayWindow != time.Hour {
		t.Errorf("replay_window %s, want 1h", c.ReplayWindow)
	}
	if c.Sync != "always" || c.Name != "plume" || c.ClientListen != "127.0.0.1:0" {
		t.Errorf("sync %q, name %q, client_listen %q: want always, plume, 127.0.0.1:0", c.Sync, c.Name, c.ClientListen)
	}
	cfg, err = Parse(strings.NewReader("cluster:\n  node: a\n  listen: 127.0.0.1:6222\n  data_dir: js\n  peers: [127.0.0.1:6223]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cluster.Replicas != 1 {
		t.Errorf("two nodes: replicas %d, want 1", cfg.Cluster.Replicas)
	}
	// --data-dir sets store.path after the file is read: the default
	// follows it, resolved when the node starts.
	cfg, err = Parse(strings.NewReader("cluster:\n  node: a\n  listen: 127.0.0.1:6222\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.ClusterDataDir(); got != "" {
		t.Errorf("no data directory anywhere: %q, want \"\" (Start refuses it)", got)
	}
	cfg.Store = &disk.Config{Path: "/srv/plume"}
	if got, want := cfg.ClusterDataDir(), filepath.Join("/srv/plume", "jetstream"); got != want {
		t.Errorf("after --data-dir: %q, want %q", got, want)
	}
}

// The example's cluster section, uncommented, loads: its keys are the
// struct's, and one peers list serves every node (this node's own entry,
// on this machine, is not a fourth node).
func TestAnnotatedExampleClusterSectionLoads(t *testing.T) {
	b, err := os.ReadFile("../../../../examples/plume.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(b), "\n# cluster:\n")
	if !ok {
		t.Fatal("examples/plume.yaml has no commented cluster: section")
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	var yaml strings.Builder
	yaml.WriteString("store: {path: /var/lib/plume}\ncluster:\n")
	for line := range strings.Lines(block) {
		if !strings.HasPrefix(line, "#   ") || strings.HasPrefix(line, "#   # ") {
			break // the end of the section, or the other mode's keys
		}
		yaml.WriteString(strings.Replace(line[2:], "plume-1:", host+":", 1))
	}
	cfg, err := Parse(strings.NewReader(yaml.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, yaml.String())
	}
	if c := cfg.Cluster; c.Node != "plume-1" || len(c.Peers) != 3 || c.Nodes() != 3 || c.Replicas != 3 || c.Sync != "always" {
		t.Errorf("node %q, peers %v (%d nodes), replicas %d, sync %q", c.Node, c.Peers, c.Nodes(), c.Replicas, c.Sync)
	}
}
