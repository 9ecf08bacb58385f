// Package jwtauth is the logic of the jwt plugin, apart from the Wasm entry
// points so that it is tested natively: JWS compact tokens verified with
// inline keys or a JWK Set, their claims checked, mapped to client
// attributes, and an ACL claim turned into publish/subscribe answers.
package jwtauth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Config is the plugin's config (the chain entry's `config:`, as JSON).
// README.md documents each key.
type Config struct {
	Keys           []KeyConfig       `json:"keys"`
	JWKSFile       string            `json:"jwks_file"`
	Algorithms     []string          `json:"algorithms"`
	Issuer         string            `json:"issuer"`
	Audience       string            `json:"audience"`
	Leeway         string            `json:"leeway"`
	RequireExp     *bool             `json:"require_exp"`
	PrincipalClaim string            `json:"principal_claim"`
	UsernameClaim  string            `json:"username_claim"`
	Attributes     map[string]string `json:"attributes"`
	ACLClaim       *string           `json:"acl_claim"`
	ACLAttribute   string            `json:"acl_attribute"`
	MaxACLBytes    int               `json:"max_acl_bytes"`
	AuthMethod     string            `json:"auth_method"`
}

// KeyConfig is one inline key: an HMAC secret (secret, or secret_base64)
// or a PEM public key, and the algorithm it verifies.
type KeyConfig struct {
	Kid          string `json:"kid"`
	Alg          string `json:"alg"`
	Secret       string `json:"secret"`
	SecretBase64 string `json:"secret_base64"`
	PublicKey    string `json:"public_key"`
}

// Defaults of the optional keys.
const (
	DefaultPrincipalClaim = "sub"
	DefaultACLClaim       = "acl"
	DefaultACLAttribute   = "jwt_acl"
	DefaultMaxACLBytes    = 4096
	DefaultAuthMethod     = "JWT"
)

// Authenticator is a validated config with its keys loaded.
type Authenticator struct {
	keys           Keyset
	accepted       []string
	issuer         string
	audience       string
	leeway         float64 // seconds
	requireExp     bool
	principalClaim string
	usernameClaim  string
	attributes     map[string]string
	aclClaim       string
	aclAttribute   string
	maxACLBytes    int
	// AuthMethod is the MQTT 5 authentication method whose data is a token.
	AuthMethod string
	// Skipped counts JWK Set keys not used (encryption keys, other types).
	Skipped int
}

// ReadFile is how New reads the jwks_file: os.ReadFile in the plugin.
type ReadFile func(path string) ([]byte, error)

// New parses raw (the plugin's config) and loads its keys. Errors name the
// config key at fault, or the JWK Set file and line.
func New(raw []byte, readFile ReadFile) (*Authenticator, error) {
	var c Config
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, errors.New(`jwt config: empty; give keys or jwks_file`)
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		return nil, fmt.Errorf("jwt config: %w", err)
	}
	a := &Authenticator{
		issuer: c.Issuer, audience: c.Audience, requireExp: true,
		principalClaim: or(c.PrincipalClaim, DefaultPrincipalClaim), usernameClaim: c.UsernameClaim,
		attributes: c.Attributes, aclClaim: DefaultACLClaim, aclAttribute: or(c.ACLAttribute, DefaultACLAttribute),
		maxACLBytes: DefaultMaxACLBytes, AuthMethod: or(c.AuthMethod, DefaultAuthMethod),
	}
	if c.RequireExp != nil {
		a.requireExp = *c.RequireExp
	}
	if c.ACLClaim != nil {
		a.aclClaim = *c.ACLClaim
	}
	if c.MaxACLBytes < 0 {
		return nil, fmt.Errorf("jwt config: max_acl_bytes: %d is negative", c.MaxACLBytes)
	} else if c.MaxACLBytes > 0 {
		a.maxACLBytes = c.MaxACLBytes
	}
	if c.Leeway != "" {
		l, err := time.ParseDuration(c.Leeway)
		if err != nil || l < 0 {
			return nil, fmt.Errorf("jwt config: leeway: %q is not a duration such as \"30s\"", c.Leeway)
		}
		a.leeway = l.Seconds()
	}
	for attr, claim := range c.Attributes {
		if attr == "" || claim == "" {
			return nil, fmt.Errorf("jwt config: attributes: %q: %q: empty attribute or claim name", attr, claim)
		}
		if attr == a.aclAttribute {
			return nil, fmt.Errorf("jwt config: attributes.%s: the attribute that carries the ACL (acl_attribute)", attr)
		}
	}
	for i, kc := range c.Keys {
		k, err := inlineKey(kc)
		if err != nil {
			return nil, fmt.Errorf("jwt config: keys[%d]: %w", i, err)
		}
		k.ID, k.Source = kc.Kid, fmt.Sprintf("keys[%d]", i)
		a.keys.keys = append(a.keys.keys, k)
	}
	if c.JWKSFile != "" {
		b, err := readFile(c.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("jwt config: jwks_file: %w", err)
		}
		keys, skipped, err := ParseJWKS(c.JWKSFile, b)
		if err != nil {
			return nil, fmt.Errorf("jwt config: jwks_file: %w", err)
		}
		a.keys.keys, a.Skipped = append(a.keys.keys, keys...), skipped
	}
	if a.keys.Len() == 0 {
		return nil, errors.New("jwt config: no keys: give keys or a jwks_file with at least one signing key")
	}
	for i, alg := range c.Algorithms {
		if !isSupported(alg) {
			return nil, fmt.Errorf("jwt config: algorithms[%d]: %q is not one of %v", i, alg, Algorithms)
		}
		if !slices.Contains(a.keys.algorithms(), alg) {
			return nil, fmt.Errorf("jwt config: algorithms[%d]: no key verifies %s", i, alg)
		}
	}
	a.accepted = c.Algorithms
	return a, nil
}

func inlineKey(kc KeyConfig) (*Key, error) {
	set := 0
	for _, s := range []string{kc.Secret, kc.SecretBase64, kc.PublicKey} {
		if s != "" {
			set++
		}
	}
	if set != 1 {
		return nil, errors.New("give exactly one of secret, secret_base64, public_key")
	}
	switch {
	case kc.Alg == "":
		return nil, fmt.Errorf("alg: missing (one of %v): a key verifies one algorithm", Algorithms)
	case !isSupported(kc.Alg):
		return nil, fmt.Errorf("alg: %q is not one of %v", kc.Alg, Algorithms)
	case kc.PublicKey != "":
		if isHMAC(kc.Alg) {
			return nil, fmt.Errorf("alg: %s needs a secret, not a public key", kc.Alg)
		}
		k, err := parsePEM(kc.Alg, kc.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("public_key: %w", err)
		}
		return k, nil
	case !isHMAC(kc.Alg):
		return nil, fmt.Errorf("alg: %s needs a public_key, not a secret", kc.Alg)
	case kc.SecretBase64 != "":
		b, err := base64.StdEncoding.DecodeString(kc.SecretBase64)
		if err != nil {
			return nil, fmt.Errorf("secret_base64: %w", err)
		}
		return newHMACKey(kc.Alg, b)
	}
	return newHMACKey(kc.Alg, []byte(kc.Secret))
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
