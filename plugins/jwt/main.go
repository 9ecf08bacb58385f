// Command jwt is a Plume plugin that authenticates clients with a JSON Web
// Token, in the CONNECT password or as MQTT 5 enhanced authentication
// (method JWT), turns claims into client attributes, and answers publish
// and subscribe from an ACL claim in the token. README.md documents the
// config; package jwtauth holds the logic.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -buildvcs=false -o jwt.wasm .
package main

import (
	"errors"
	"fmt"
	"os"

	plume "github.com/plumemq/plume/plugin-sdk/go"
	"github.com/plumemq/plume/plugins/jwt/jwtauth"
)

var auth *jwtauth.Authenticator

func init() {
	plume.OnInit(func(raw []byte) error {
		a, err := jwtauth.New(raw, os.ReadFile)
		if err != nil {
			return err
		}
		auth = a
		if a.Skipped > 0 {
			plume.Log(plume.LevelInfo, fmt.Sprintf("jwt: %d keys loaded, %d JWK Set keys skipped (encryption keys, other types or algorithms)", a.Keys(), a.Skipped))
		}
		return nil
	})
	plume.OnAuthenticate(authenticate)
	plume.OnAuthorize(authorize)
}

// authenticate takes the token from the enhanced-authentication data when
// the client chose method JWT, else from the password. Another method is
// not ours: pass, for a plugin that speaks it.
func authenticate(e *plume.AuthEvent) plume.Decision {
	c := e.Client
	var token []byte
	enhanced := false
	switch m := e.Method(); m {
	case "":
		token = c.Password()
	case auth.AuthMethod:
		token, enhanced = e.Data(), true
	default:
		return plume.Pass()
	}
	if len(token) == 0 {
		if enhanced {
			return plume.Deny(plume.BadUsernameOrPassword, "no token in the authentication data")
		}
		return plume.Pass() // no credential: another plugin, or allow_anonymous, decides
	}
	id, err := auth.Authenticate(jwtauth.Request{Token: string(token), Username: c.Username(), ClientID: c.ID(), Now: plume.Now()})
	return decide(id, err, enhanced)
}

// decide maps Authenticate's answer to the plugin's verdict. Every refusal
// is 0x86 Bad User Name or Password (MQTT 3.1.1: return code 4): what is
// wrong is the credential, whatever part of it failed; 0x87 is left to
// authorize, for what an accepted client may not do.
func decide(id jwtauth.Identity, err error, enhanced bool) plume.Decision {
	switch {
	case errors.Is(err, jwtauth.ErrNotJWS) && !enhanced:
		return plume.Pass() // a password, not a token: for a password plugin
	case err != nil:
		return plume.Deny(plume.BadUsernameOrPassword, err.Error())
	}
	d := plume.Allow().WithPrincipal(id.Principal)
	for _, a := range id.Attributes {
		d = d.WithAttribute(a.Key, a.Value)
	}
	return d
}

// authorize answers from the ACL the client's token carried. Clients
// without one are passed to the next plugin. Every answer depends only on
// the client's attributes and the request, so the broker may cache it.
func authorize(e *plume.AuthzEvent) plume.Decision {
	acl, ok := e.Client.Attribute(auth.ACLAttribute())
	if !ok {
		return plume.Pass().Cacheable()
	}
	action := jwtauth.Publish
	if e.Action == plume.Subscribe {
		action = jwtauth.Subscribe
	}
	switch jwtauth.Authorize(acl, action, e.Topic(), e.QoS, e.Retain) {
	case jwtauth.Allow:
		return plume.Allow().Cacheable()
	case jwtauth.Deny:
		return plume.Deny(plume.NotAuthorized, "topic not allowed by the token's acl").Cacheable()
	}
	return plume.Pass().Cacheable()
}

func main() {}
