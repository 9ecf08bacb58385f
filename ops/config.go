package ops

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"

	"github.com/plumemq/plume/core/setting"
)

// TLS serves the operations endpoint over HTTPS. Paths are as the binary
// resolved them (relative to the config file's folder).
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ClientCAFile, when set, makes it mutual TLS: a client must present a
	// certificate this CA signed.
	ClientCAFile string `yaml:"client_ca_file"`
}

// Auth is who may use the operations endpoint. With either file set, every
// endpoint but /healthz and /readyz asks for credentials (HTTP 401 with
// WWW-Authenticate); with both, either kind is accepted.
type Auth struct {
	// BearerTokenFile holds the token "Authorization: Bearer TOKEN" must
	// carry; blanks around it are ignored.
	BearerTokenFile string `yaml:"bearer_token_file"`
	// BasicAuthFile is a password file as `plume passwd` writes it
	// (user:$argon2id$..., $7$ or $6$ lines), for "Authorization: Basic".
	BasicAuthFile string `yaml:"basic_auth_file"`
}

// Configured reports whether any credential is asked for.
func (a Auth) Configured() bool { return a.BearerTokenFile != "" || a.BasicAuthFile != "" }

// Validate checks the settings: a valid address, TLS with both its files,
// and no address off loopback without auth — the admin API can disconnect
// clients and the profiles show memory, so they are never open to the
// network by default. Errors are *setting.Error naming the key.
func (c *Config) Validate() error {
	if c.TLS != nil {
		switch {
		case c.TLS.CertFile == "":
			return setting.Errorf("tls.cert_file", "required with tls")
		case c.TLS.KeyFile == "":
			return setting.Errorf("tls.key_file", "required with tls")
		}
	}
	if c.Address == "" {
		return nil // off; a flag may still give the address
	}
	if _, _, err := net.SplitHostPort(c.Address); err != nil {
		return setting.Errorf("address", "%q: want host:port: %w", c.Address, err)
	}
	if !c.Auth.Configured() && !setting.IsLoopback(c.Address) {
		return setting.Errorf("auth", "required when address %s is not on loopback: set http.auth.bearer_token_file or http.auth.basic_auth_file, or keep the address on 127.0.0.1", c.Address)
	}
	return nil
}

// tlsConfig loads the certificate files. Certificates are read once, at
// Listen: replacing them takes a restart (docs/decisions/0030-admin-api.md).
func (t *TLS) tlsConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, setting.Errorf("tls.cert_file", "%s and %s: %w", t.CertFile, t.KeyFile, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if t.ClientCAFile != "" {
		pem, err := os.ReadFile(t.ClientCAFile)
		if err != nil {
			return nil, setting.Errorf("tls.client_ca_file", "%w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, setting.Errorf("tls.client_ca_file", "%s: no PEM certificate in it", t.ClientCAFile)
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}
