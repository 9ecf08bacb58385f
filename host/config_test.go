package host

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/setting"
)

// The host owns the chain's rules; each refusal names its key as plume.yaml
// spells it under plugins, so the binary can point at the user's line.
func TestValidateNamesTheKey(t *testing.T) {
	ok := PluginConfig{Name: "a", Path: "a.wasm"}
	with := func(f func(*PluginConfig)) Config {
		p := ok
		f(&p)
		return Config{Plugins: []PluginConfig{ok, p}}
	}
	for _, tc := range []struct {
		cfg Config
		key string
	}{
		{Config{Engine: "v8"}, "engine"},
		{with(func(p *PluginConfig) { p.Name = "b"; p.CallTimeout = -time.Second }), "chain[1].call_timeout"},
		{with(func(p *PluginConfig) {}), "chain[1].name"},
		{with(func(p *PluginConfig) { p.Name, p.Path = "b", "" }), "chain[1].path"},
		{with(func(p *PluginConfig) { p.Name, p.PoolSize = "b", -1 }), "chain[1].pool_size"},
		{with(func(p *PluginConfig) { p.Name, p.KVMaxBytes = "b", -1 }), "chain[1].kv_max_bytes"},
		{with(func(p *PluginConfig) { p.Name, p.MemoryPages = "b", 65537 }), "chain[1].memory_pages"},
		{with(func(p *PluginConfig) { p.Name, p.Fuel = "b", 1 }), "chain[1].fuel"},
		{with(func(p *PluginConfig) { p.Name, p.OnError.Auth = "b", "open" }), "chain[1].on_error.auth"},
		{with(func(p *PluginConfig) { p.Name, p.OnError.Message = "b", "closed" }), "chain[1].on_error.message"},
	} {
		err := tc.cfg.Validate()
		var e *setting.Error
		if !errors.As(err, &e) || e.Key != tc.key {
			t.Errorf("%+v: %v; want an error for %s", tc.cfg, err, tc.key)
		}
		if _, err := New(context.Background(), nopLog(), tc.cfg); !errors.As(err, &e) || e.Key != tc.key {
			t.Errorf("New refused it with %v; want the same key %s", err, tc.key)
		}
	}
	if valid := with(func(p *PluginConfig) { p.Name = "b" }); valid.Validate() != nil {
		t.Errorf("a valid chain: %v", valid.Validate())
	}
}

// on_error's words reach the chain as its failure policy.
func TestOnErrorIsTheChainsPolicy(t *testing.T) {
	for _, tc := range []struct {
		o    OnError
		want hooks.Failure
	}{
		{OnError{}, hooks.Failure{}},
		{OnError{Auth: FailOpen, Message: FailClosed}, hooks.Failure{AuthFailOpen: true, MessageFailClosed: true}},
		{OnError{Auth: FailClosed, Message: FailOpen}, hooks.Failure{}},
	} {
		if got := tc.o.failure(); got != tc.want {
			t.Errorf("%+v: %+v, want %+v", tc.o, got, tc.want)
		}
	}
	var p Policy
	if err := p.UnmarshalText([]byte("fail-open")); err != nil || p != FailOpen {
		t.Errorf("fail-open: %q, %v", p, err)
	}
	if err := p.UnmarshalText([]byte("maybe")); err == nil {
		t.Error("maybe accepted")
	}
}
