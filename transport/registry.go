package transport

import (
	"errors"
	"fmt"
	"strings"

	"github.com/plumemq/plume/core/setting"
)

// Config is one listener as the config file gives it.
type Config struct {
	// Name identifies the listener in logs and to hooks (hooks.Client.Listener).
	Name string `yaml:"name"`
	// Type is a registered listener type (Types); "" means tcp.
	Type string `yaml:"type"`
	// Address is "host:port"; port 0 picks a free port.
	Address string `yaml:"address"`
	// ProxyProtocol requires a PROXY protocol header (v1 or v2) on every
	// connection, as a load balancer sends it: the broker sees the client's
	// address from it (proxy.go).
	ProxyProtocol bool `yaml:"proxy_protocol"`
}

// kind is a listener type: its name in the config and its constructor.
type kind struct {
	name string
	new  func(Config) Listener
}

// kinds are the listener types, in the order error messages list them. A new
// transport adds its row here and its file beside tcp.go; the order is fixed
// in this one place rather than by init functions, so that what a binary
// accepts can be read off this list.
var kinds = []kind{
	{"tcp", func(c Config) Listener {
		t := NewTCP(c.Name, c.Address)
		t.proxy = c.ProxyProtocol
		return t
	}},
}

// Types lists the listener types, in registry order.
func Types() []string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.name
	}
	return names
}

// ErrUnknownType reports a listener type that is not registered.
var ErrUnknownType = errors.New("is not supported")

// Validate fills in the default type and checks c. Errors are
// *setting.Error naming the key at fault ("type", "address"), for the caller
// to put under where the listener sits in its file (setting.In).
func (c *Config) Validate() error {
	if c.Type == "" {
		c.Type = "tcp"
	}
	if lookup(c.Type) == nil {
		return &setting.Error{Key: "type", Err: fmt.Errorf("%q %w (%s)", c.Type, ErrUnknownType, strings.Join(Types(), ", "))}
	}
	if c.Address == "" {
		return setting.Errorf("address", "required")
	}
	return nil
}

// New makes the listener c describes; it does not bind yet (Listener.Listen).
func New(c Config) (Listener, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("listener %q: %w", c.Name, err)
	}
	return lookup(c.Type).new(c), nil
}

func lookup(name string) *kind {
	for i := range kinds {
		if kinds[i].name == name {
			return &kinds[i]
		}
	}
	return nil
}
