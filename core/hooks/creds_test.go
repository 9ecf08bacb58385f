package hooks

import (
	"testing"

	"github.com/plumemq/plume/core/packets"
)

// A Client without Credentials answers its credential methods as empty,
// without a nil check by the caller; SetPassword makes Credentials only
// for a password (docs/decisions/0042), SetUserProperties only for some (0049).
func TestClientCredentialsAccessors(t *testing.T) {
	var c Client
	if c.Password() != nil || c.CertSubject() != "" || c.CertSANs() != nil || c.CertFingerprint() != "" || c.UserProperties() != nil {
		t.Fatal("a Client without Creds reports credentials")
	}
	c.SetPassword(nil)
	c.SetUserProperties(nil)
	c.SetUserProperties([]packets.UserProperty{})
	if c.Creds != nil {
		t.Fatal("SetPassword(nil) or SetUserProperties(none) made Credentials")
	}
	var u Client
	u.SetUserProperties([]packets.UserProperty{{Key: "fw", Value: "1.2"}})
	if p := u.UserProperties(); len(p) != 1 || p[0].Value != "1.2" || u.Password() != nil {
		t.Fatalf("UserProperties() = %v after SetUserProperties", p)
	}
	c.SetPassword([]byte("pw"))
	if string(c.Password()) != "pw" {
		t.Fatalf("Password() = %q after SetPassword", c.Password())
	}
	c.Creds.CertSubject, c.Creds.CertSANs, c.Creds.CertFingerprint = "CN=x", []string{"DNS:x"}, "ab"
	if c.CertSubject() != "CN=x" || len(c.CertSANs()) != 1 || c.CertFingerprint() != "ab" {
		t.Fatalf("certificate fields not read back: %+v", c.Creds)
	}
}
