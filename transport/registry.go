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

	// TLS (types tls and wss; tls.go). Relative paths are the caller's to
	// resolve: cmd/plume takes them from the config file's folder.

	// CertFile and KeyFile are the server's PEM certificate (chain) and key.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile holds the PEM CA certificates that sign client
	// certificates (mutual TLS).
	ClientCAFile string `yaml:"client_ca_file"`
	// ClientAuth is none, request (verify a certificate if the client sends
	// one) or require; "" means require with a ClientCAFile, else none.
	ClientAuth string `yaml:"client_auth"`
	// MinVersion is "1.2" (the default) or "1.3".
	MinVersion string `yaml:"min_version"`

	// Admission (broker.ListenerPolicy): what this listener lets in.

	// MaxConnections bounds the connections open at once on this listener;
	// 0 means no limit of its own (the broker-wide limits.max_connections
	// still applies).
	MaxConnections int `yaml:"max_connections"`
	// AllowAnonymous admits clients that no authentication plugin decided
	// on; unset, the file's top-level allow_anonymous decides, and without
	// that, whether this listener is on loopback.
	AllowAnonymous *bool `yaml:"allow_anonymous"`
	// UseIdentityAsUsername makes the verified client certificate's common
	// name the client's username and identity, as Mosquitto's option of the
	// same name: a device authenticates by its certificate alone.
	UseIdentityAsUsername bool `yaml:"use_identity_as_username"`

	// WebSocket (types ws and wss; ws.go).

	// Path is the URL path upgraded to MQTT; "" means /mqtt. Other paths
	// answer 404.
	Path string `yaml:"path"`
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
	{"tcp", func(c Config) Listener { return newTCP(c) }},
	{"tls", func(c Config) Listener { return NewTLS(c) }},
	{"ws", NewWS},
	{"wss", NewWS},
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
	if c.MaxConnections < 0 {
		return setting.Errorf("max_connections", "must not be negative (use 0 for no limit)")
	}
	if err := c.validateWS(); err != nil {
		return err
	}
	if err := c.validateTLS(); err != nil {
		return err
	}
	if c.UseIdentityAsUsername && c.ClientAuth != "request" && c.ClientAuth != "require" {
		return setting.Errorf("use_identity_as_username", "needs verified client certificates: a TLS or WSS listener with client_ca_file (client_auth request or require)")
	}
	return nil
}

// validateWS checks the WebSocket keys and fills their defaults.
func (c *Config) validateWS() error {
	if c.Type != "ws" && c.Type != "wss" {
		if c.Path != "" {
			return setting.Errorf("path", "only for types ws and wss (this listener is %s)", c.Type)
		}
		return nil
	}
	switch {
	case c.Path == "":
		c.Path = DefaultWSPath
	case !strings.HasPrefix(c.Path, "/"):
		return setting.Errorf("path", "%q must start with /", c.Path)
	}
	return nil
}

// validateTLS checks the TLS keys and fills their defaults. The files
// themselves are read by Listen, which names the one at fault.
func (c *Config) validateTLS() error {
	if c.Type != "tls" && c.Type != "wss" {
		for _, kv := range [][2]string{{"cert_file", c.CertFile}, {"key_file", c.KeyFile},
			{"client_ca_file", c.ClientCAFile}, {"client_auth", c.ClientAuth}, {"min_version", c.MinVersion}} {
			if kv[1] != "" {
				return setting.Errorf(kv[0], "only for types tls and wss (this listener is %s)", c.Type)
			}
		}
		return nil
	}
	switch {
	case c.CertFile == "":
		return setting.Errorf("cert_file", "required for type %s", c.Type)
	case c.KeyFile == "":
		return setting.Errorf("key_file", "required for type %s", c.Type)
	}
	switch c.ClientAuth {
	case "":
		c.ClientAuth = "none"
		if c.ClientCAFile != "" {
			c.ClientAuth = "require"
		}
	case "none":
	case "request", "require":
		if c.ClientCAFile == "" {
			return setting.Errorf("client_auth", "%q needs client_ca_file to verify client certificates against", c.ClientAuth)
		}
	default:
		return setting.Errorf("client_auth", "%q is not one of none, request, require", c.ClientAuth)
	}
	switch c.MinVersion {
	case "":
		c.MinVersion = "1.2"
	case "1.2", "1.3":
	default:
		return setting.Errorf("min_version", "%q is not one of 1.2, 1.3", c.MinVersion)
	}
	return nil
}

// New makes the listener c describes; it does not bind yet (Listener.Listen).
// Its errors, and Listen's, name the key at fault, not the listener: the
// caller, which knows where the listener sits in its file, names it.
func New(c Config) (Listener, error) {
	if err := c.Validate(); err != nil {
		return nil, err
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
