package disk

import (
	"time"

	"github.com/plumemq/plume/core/setting"
)

// The durability modes (Config.Mode).
const (
	// ModeSync: Commit returns after the write is fsynced.
	ModeSync = "sync"
	// ModeAsync: Commit returns after the write is in the log; the log is
	// fsynced every SyncInterval.
	ModeAsync = "async"
)

// DefaultSyncInterval is how often async mode fsyncs the log by default.
const DefaultSyncInterval = 100 * time.Millisecond

// Config is the store as the config file gives it (`store:`).
type Config struct {
	// Path is the directory of the database. It is made if missing; an
	// existing one must be empty or hold a store this package wrote.
	Path string `yaml:"path"`
	// Mode is ModeSync (the default) or ModeAsync: what a Commit returning
	// nil promises (Store).
	Mode string `yaml:"mode"`
	// SyncInterval bounds what a crash loses in async mode: the log is
	// fsynced this often (default DefaultSyncInterval). Unused in sync mode.
	SyncInterval time.Duration `yaml:"sync_interval"`
}

// Validate fills in the defaults and checks c. Errors are *setting.Error
// naming the key at fault ("path", "mode", "sync_interval"), for the caller
// to put under the section it read c from (setting.In("store", err)).
func (c *Config) Validate() error {
	if c.Mode == "" {
		c.Mode = ModeSync
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = DefaultSyncInterval
	}
	switch {
	case c.Path == "":
		return setting.Errorf("path", "required: the directory the store keeps its files in")
	case c.Mode != ModeSync && c.Mode != ModeAsync:
		return setting.Errorf("mode", "%q is not %s or %s", c.Mode, ModeSync, ModeAsync)
	case c.SyncInterval < 0:
		return setting.Errorf("sync_interval", "%s is negative", c.SyncInterval)
	case c.SyncInterval < time.Millisecond:
		// A sync more often than this is sync mode with extra steps.
		return setting.Errorf("sync_interval", "%s is below 1ms; use mode %s", c.SyncInterval, ModeSync)
	}
	return nil
}
