// Command auth-go is a Plume plugin that authenticates clients by username and
// password from its config, and attaches each user's attributes (roles,
// tenant, ...) for later authorize and transform plugins to see.
//
// Config (JSON, the plugin's `config` in the broker config):
//
//	{
//	  "users": {
//	    "alice": {"password": "s3cret", "attributes": {"role": "admin"}},
//	    "bob":   {"password": "$argon2id$v=19$m=8192,t=1,p=1$...", "attributes": {"tenant": "acme"}}
//	  },
//	  "deny_anonymous": true
//	}
//
// A password is given in clear (for trying things out) or, starting with
// "$", as a salted hash that `plume passwd` writes: argon2id, or Mosquitto's
// $7$ and $6$ (package github.com/plumemq/plume/plugins/passwd, which the
// password-file plugin uses too). A client without a username is passed to
// the next plugin, or denied with deny_anonymous.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o auth-go.wasm .
package main

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	plume "github.com/plumemq/plume/plugin-sdk/go"
	"github.com/plumemq/plume/plugins/passwd"
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

	hash *passwd.Hash // Password parsed, when it is a hash
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
		switch {
		case u.Password == "":
			return c, fmt.Errorf("auth-go config: users.%s.password: empty", name)
		case strings.HasPrefix(u.Password, "sha256:"):
			// The old unsalted format: refused rather than read, so that
			// no config keeps relying on it.
			return c, fmt.Errorf("auth-go config: users.%s.password: unsalted sha256 is no longer read; hash it with plume passwd", name)
		case strings.HasPrefix(u.Password, "$"):
			h, err := passwd.Parse(u.Password)
			if err != nil {
				return c, fmt.Errorf("auth-go config: users.%s.password: %w", name, err)
			}
			u.hash = &h
			c.Users[name] = u
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
	if !ok || !passwordMatches(u, password) {
		return plume.Deny(plume.BadUsernameOrPassword, "bad username or password")
	}
	d := plume.Allow().WithAttribute("username", username)
	for k, v := range u.Attributes {
		d = d.WithAttribute(k, v)
	}
	return d
}

func passwordMatches(u User, got []byte) bool {
	if u.hash != nil {
		return u.hash.Verify(got)
	}
	return subtle.ConstantTimeCompare([]byte(u.Password), got) == 1
}

func main() {}
