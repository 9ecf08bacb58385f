package jetstream

import (
	"errors"
	"testing"
	"time"

	"github.com/plumemq/plume/core/setting"
)

func TestConfigDefaults(t *testing.T) {
	c := Config{Node: "a"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Prefix != "plume" || c.Shards != 16 || c.Replicas != 1 || c.Timeout != 5*time.Second {
		t.Fatalf("defaults: %+v; want prefix plume, 16 shards, 1 replica, timeout 5s", c)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, c := range []struct {
		cfg Config
		key string
	}{
		{Config{}, "node"},
		{Config{Node: "a", Prefix: "a.b"}, "prefix"},
		{Config{Node: "a", Prefix: "a*"}, "prefix"},
		{Config{Node: "a", Shards: -1}, "shards"},
		{Config{Node: "a", Shards: 1025}, "shards"},
		{Config{Node: "a", Replicas: 2}, "replicas"},
		{Config{Node: "a", Timeout: -time.Second}, "timeout"},
	} {
		err := c.cfg.Validate()
		var se *setting.Error
		if !errors.As(err, &se) || se.Key != c.key {
			t.Errorf("Validate(%+v) = %v, want a *setting.Error for %q", c.cfg, err, c.key)
		}
	}
}
