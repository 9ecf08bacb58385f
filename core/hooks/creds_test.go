package hooks

import "testing"

// A Client without Credentials answers its credential methods as empty,
// without a nil check by the caller; SetPassword makes Credentials only
// for a password (docs/decisions/0042).
func TestClientCredentialsAccessors(t *testing.T) {
	var c Client
	if c.Password() != nil || c.CertSubject() != "" || c.CertSANs() != nil || c.CertFingerprint() != "" {
		t.Fatal("a Client without Creds reports credentials")
	}
	c.SetPassword(nil)
	if c.Creds != nil {
		t.Fatal("SetPassword(nil) made Credentials")
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
