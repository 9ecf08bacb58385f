package host

import (
	"github.com/plumemq/plume/core/setting"
)

// ShadowConfig is a chain entry's candidate: the keys of a chain entry that
// say which plugin runs and how (path or builtin, config, pool_size,
// call_timeout, memory_pages, ...), with their defaults, plus Queue. Its
// answers are never applied, so it takes no name (it is "NAME/shadow" in
// logs and Host.Plugin), no on_error and no shadow of its own.
type ShadowConfig struct {
	PluginConfig `yaml:",inline"`
	// Queue bounds the events waiting for the candidate (default
	// DefaultShadowQueue), split evenly among its pool_size workers. An
	// event that finds its worker's share full is dropped and counted:
	// the serving path never waits for a candidate.
	Queue int `yaml:"queue"`
}

// DefaultShadowQueue is ShadowConfig.Queue's default.
const DefaultShadowQueue = 1024

// shadowName is the name of the candidate of the plugin called name.
func shadowName(name string) string { return name + "/shadow" }

// candidate is the PluginConfig the candidate of the chain entry called
// name is loaded with.
func (s *ShadowConfig) candidate(name string) PluginConfig {
	pc := s.PluginConfig
	pc.Name, pc.Shadow, pc.OnError = shadowName(name), nil, OnError{}
	return pc
}

// queue is Queue with its default.
func (s *ShadowConfig) queue() int {
	if s.Queue == 0 {
		return DefaultShadowQueue
	}
	return s.Queue
}

// validate checks a chain entry's shadow (nil: none); name is the entry's
// and seen holds the names before it.
func (s *ShadowConfig) validate(engine, name string, seen map[string]bool) error {
	switch {
	case s == nil:
		return nil
	case s.Name != "":
		return setting.Errorf("name", "a shadow is named after its chain entry (%q); remove this key", shadowName(name))
	case s.OnError != OnError{}:
		return setting.Errorf("on_error", "a shadow's answers are never applied, so it has no failure policy; its failures are counted")
	case s.Shadow != nil:
		return setting.Errorf("shadow", "a shadow has no shadow of its own")
	case s.Queue < 0:
		return setting.Errorf("queue", "must not be negative (use 0 for the default, %d)", DefaultShadowQueue)
	case seen[shadowName(name)]:
		return setting.Errorf("name", "%q, the name of this shadow, is a chain entry's name already", shadowName(name))
	}
	pc := s.candidate(name)
	return pc.validate(engine, map[string]bool{})
}
