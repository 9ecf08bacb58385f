// Command auth-go is a Plume plugin that authenticates clients by username and
// password from its config, and attaches each user's attributes (roles,
// tenant, ...) for later authorize and transform plugins to see.
//
// Config (JSON, the plugin's `config` in the broker config):
//
//	{
//	  "users": {
//	    "alice": {"password": "s3cret", "attributes": {"role": "admin"}},
//	    "bob":   {"password": "sha256:5e88...", "attributes": {"tenant": "acme"}}
//	  },
//	  "deny_anonymous": true
//	}
//
// A password is given in clear or as "sha256:" and the hex SHA-256 of it. A
// client without a username is passed to the next plugin, or denied with
// deny_anonymous.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o auth-go.wasm .
package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	plume "github.com/plumemq/plume/plugin-sdk/go"
)

// Config is the plugin's config.
type Config struct {
	Users         map[string]User `json:"users"`
	DenyAnonymous bool            `json:"deny_anonymous"`
}

// User is one account.
type User struct {
	Password   string            `json:"password"`
	Attributes map[string]string `json:"attributes"`
}

var cfg Config

func init() {
	plume.OnInit(func(raw []byte) error {
		c, err := parseConfig(raw)
		if err != nil {
			return err
		}
		cfg = c
		return nil
	})
	plume.OnAuthenticate(func(e *plume.AuthEvent) plume.Decision {
		return authenticate(cfg, e.Client.Username(), e.Client.Password())
	})
}

func parseConfig(raw []byte) (Config, error) {
	var c Config
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		return c, fmt.Errorf("auth-go config: %w", err)
	}
	if len(c.Users) == 0 {
		return c, errors.New("auth-go config: users: none configured")
	}
	for name, u := range c.Users {
		if u.Password == "" {
			return c, fmt.Errorf("auth-go config: users.%s.password: empty", name)
		}
		if h, ok := strings.CutPrefix(u.Password, "sha256:"); ok {
			if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size {
				return c, fmt.Errorf("auth-go config: users.%s.password: bad sha256 hex", name)
			}
		}
	}
	return c, nil
}

// authenticate is the plugin's decision, a plain function so that it can be
// unit-tested without a host.
func authenticate(c Config, username string, password []byte) plume.Decision {
	if username == "" {
		if c.DenyAnonymous {
			return plume.Deny(plume.NotAuthorized, "anonymous clients are not allowed")
		}
		return plume.Pass()
	}
	u, ok := c.Users[username]
	if !ok || !passwordMatches(u.Password, password) {
		return plume.Deny(plume.BadUsernameOrPassword, "bad username or password")
	}
	d := plume.Allow().WithAttribute("username", username)
	for k, v := range u.Attributes {
		d = d.WithAttribute(k, v)
	}
	return d
}

func passwordMatches(want string, got []byte) bool {
	if h, ok := strings.CutPrefix(want, "sha256:"); ok {
		sum := sha256.Sum256(got)
		return subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(strings.ToLower(h))) == 1
	}
	return subtle.ConstantTimeCompare([]byte(want), got) == 1
}

func main() {}
