package transport

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/plumemq/plume/core/setting"
)

// tlsMaterial is one generation of a TLS listener's certificates: what every
// handshake from its load until the next reload uses.
type tlsMaterial struct {
	conf     *tls.Config
	sum      [sha256.Size]byte // of the files' bytes: a reload that changes nothing keeps this one
	serial   string            // of the server certificate, in hex
	notAfter time.Time
}

// loadMaterial reads c's files and builds the tls.Config handshakes use.
// Errors name the file at fault, by its config key.
func loadMaterial(c Config) (*tlsMaterial, error) {
	certPEM, err := os.ReadFile(c.CertFile)
	if err != nil {
		return nil, setting.Errorf("cert_file", "%w", err)
	}
	keyPEM, err := os.ReadFile(c.KeyFile)
	if err != nil {
		return nil, setting.Errorf("key_file", "%w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// X509KeyPair says which of the two it could not use (no
		// certificate, no key, or a key that does not match).
		return nil, fmt.Errorf("cert_file %s, key_file %s: %w", c.CertFile, c.KeyFile, err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("cert_file %s: %w", c.CertFile, err)
		}
	}
	h := sha256.New()
	h.Write(certPEM)
	h.Write(keyPEM)
	conf := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		ClientAuth:   tls.NoClientCert,
	}
	if c.MinVersion == "1.3" {
		conf.MinVersion = tls.VersionTLS13
	}
	if c.ClientCAFile != "" {
		caPEM, err := os.ReadFile(c.ClientCAFile)
		if err != nil {
			return nil, setting.Errorf("client_ca_file", "%w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, fmt.Errorf("client_ca_file %s: no PEM certificate in it", c.ClientCAFile)
		}
		h.Write(caPEM)
		conf.ClientCAs = pool
	}
	switch c.ClientAuth {
	case "request":
		conf.ClientAuth = tls.VerifyClientCertIfGiven
	case "require":
		conf.ClientAuth = tls.RequireAndVerifyClientCert
	case "":
		if c.ClientCAFile != "" {
			// Validate fills "" in; a Config made by hand gets the same default.
			conf.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	m := &tlsMaterial{conf: conf, serial: leaf.SerialNumber.Text(16), notAfter: leaf.NotAfter}
	h.Sum(m.sum[:0])
	return m, nil
}
