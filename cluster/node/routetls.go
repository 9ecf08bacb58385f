package node

import (
	"crypto/tls"
	"fmt"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/plumemq/plume/core/setting"
)

// validate fills in the timeout and checks that every file is named. The
// files are read when the node starts (the configuration's relative paths
// are resolved after validation): a bad one fails Start, naming it.
func (t *RouteTLS) validate() []error {
	if t.Timeout == 0 {
		t.Timeout = DefaultRouteTLSTimeout
	}
	var errs []error
	for _, k := range []struct{ key, val string }{{"cert_file", t.CertFile}, {"key_file", t.KeyFile}, {"ca_file", t.CAFile}} {
		if k.val == "" {
			errs = append(errs, setting.Errorf("route_tls."+k.key, "required: routes use mutual TLS, every node needs its certificate, key and the CA"))
		}
	}
	if t.Timeout < 0 {
		errs = append(errs, setting.Errorf("route_tls.timeout", "%s is negative", t.Timeout))
	}
	return errs
}

// config is the routes' tls.Config, made by nats-server's own helper as
// its configuration file's cluster tls block would: TLS 1.2 at least, the
// peer's certificate required and verified against the CA on both ends (a
// node is the server of the routes it accepts and the client of those it
// makes).
func (t *RouteTLS) config() (*tls.Config, error) {
	c, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: t.CertFile, KeyFile: t.KeyFile, CaFile: t.CAFile, Verify: true})
	if err != nil {
		return nil, fmt.Errorf("cert_file %s, key_file %s, ca_file %s: %w", t.CertFile, t.KeyFile, t.CAFile, err)
	}
	if c.ClientCAs == nil {
		return nil, fmt.Errorf("ca_file %s: unreadable or empty", t.CAFile)
	}
	c.ClientAuth = tls.RequireAndVerifyClientCert
	c.RootCAs = c.ClientCAs
	return c, nil
}
