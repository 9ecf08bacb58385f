package disk

import (
	"errors"
	"testing"
	"time"

	"github.com/plumemq/plume/core/setting"
)

func TestConfigDefaults(t *testing.T) {
	c := Config{Path: "/data"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Mode != ModeSync || c.SyncInterval != 100*time.Millisecond {
		t.Fatalf("defaults: mode %q, sync_interval %s; want sync, 100ms", c.Mode, c.SyncInterval)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, c := range []struct {
		cfg Config
		key string
	}{
		{Config{}, "path"},
		{Config{Path: "d", Mode: "fast"}, "mode"},
		{Config{Path: "d", Mode: "Sync"}, "mode"},
		{Config{Path: "d", Mode: ModeAsync, SyncInterval: -time.Second}, "sync_interval"},
		{Config{Path: "d", Mode: ModeAsync, SyncInterval: time.Microsecond}, "sync_interval"},
	} {
		err := c.cfg.Validate()
		var se *setting.Error
		if !errors.As(err, &se) || se.Key != c.key {
			t.Errorf("Validate(%+v) = %v, want a *setting.Error for %q", c.cfg, err, c.key)
		}
		if _, err := Open(c.cfg, testLog(t)); err == nil {
			t.Errorf("Open(%+v) succeeded", c.cfg)
		}
	}
}
