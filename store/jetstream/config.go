package jetstream

import (
	"regexp"
	"time"

	"github.com/plumemq/plume/core/setting"
)

// Defaults of Config.
const (
	DefaultPrefix  = "plume"
	DefaultShards  = 16
	DefaultTimeout = 5 * time.Second
	// DefaultReplayWindow is how long the ingest keeps a message (decision
	// 0055): a node down for longer misses what is older.
	DefaultReplayWindow = time.Hour
)

// Config is the store as the config file gives it. The NATS connection is
// not part of it: the cluster node (cluster/) owns the connection and hands
// it to Open.
type Config struct {
	// Prefix names the store's streams (PREFIX_Q0…, PREFIX_RETAINED,
	// PREFIX_LOG, KV bucket PREFIX_sessions) and subjects (prefix.q.…).
	// Default DefaultPrefix; letters, digits, '-' and '_'.
	Prefix string `yaml:"prefix"`
	// Node is this node's name, unique in the cluster: it scopes the
	// node's commit log and message ids, and sessions say which node owns
	// them. Required.
	Node string `yaml:"node"`
	// Shards is how many queue streams hold deliveries and messages
	// (sharded by client id and by message id). Fixed when the store is
	// first created: a different value later is refused. Default
	// DefaultShards.
	Shards int `yaml:"shards"`
	// Replicas of each stream and of the KV bucket: 1, 3 or 5. Default 1.
	Replicas int `yaml:"replicas"`
	// Timeout bounds each JetStream request (a publish acknowledgement, a
	// purge, a read). Default DefaultTimeout.
	Timeout time.Duration `yaml:"timeout"`
	// ReplayWindow is the MaxAge of the ingest streams (decision 0055): how
	// long a QoS ≥ 1 message stays readable for a node that was down or a
	// session that moves. Default DefaultReplayWindow; at least a minute.
	ReplayWindow time.Duration `yaml:"replay_window"`
	// SingleForwards writes each Forward to the ingest as a message of its
	// own, as before decision 0061, instead of packing a Commit's Forwards
	// to one shard into one message. A node that cannot read packed
	// messages drops them: set while any such node is in the cluster (a
	// rolling upgrade), and clear once none is left.
	SingleForwards bool `yaml:"single_forwards"`
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Validate fills in the defaults and checks c. Errors are *setting.Error
// naming the key at fault, for the caller to put under its section.
func (c *Config) Validate() error {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.Shards == 0 {
		c.Shards = DefaultShards
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.ReplayWindow == 0 {
		c.ReplayWindow = DefaultReplayWindow
	}
	switch {
	case !namePattern.MatchString(c.Prefix):
		return setting.Errorf("prefix", "%q: only letters, digits, '-' and '_' (it names streams and subjects)", c.Prefix)
	case c.Node == "":
		return setting.Errorf("node", "required: this node's name, unique in the cluster")
	case c.Shards < 1 || c.Shards > 1024:
		return setting.Errorf("shards", "%d is not between 1 and 1024", c.Shards)
	case c.Replicas != 1 && c.Replicas != 3 && c.Replicas != 5:
		return setting.Errorf("replicas", "%d is not 1, 3 or 5", c.Replicas)
	case c.Timeout < 0:
		return setting.Errorf("timeout", "%s is negative", c.Timeout)
	case c.ReplayWindow < time.Minute:
		return setting.Errorf("replay_window", "%s is under a minute (a restart must fit in it)", c.ReplayWindow)
	}
	return nil
}
