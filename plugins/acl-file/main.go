// Command acl-file is the acl-file plugin: it authorizes publish and
// subscribe from a Mosquitto acl_file and from rules on client attributes.
// The logic lives in package acl; this is the glue to the Plume SDK. See
// README.md for the config.
//
// Build (reproducible; what plugins/builtin embeds):
//
//	make builtins   (from the repository root: plugins/builtin/wasm/acl-file.wasm)
package main

import (
	"os"

	plume "github.com/plumemq/plume/plugin-sdk/go"
	"github.com/plumemq/plume/plugins/acl-file/acl"
)

// policy is built once per instance at init. The file is read there and only
// there: the host makes new instances when it changes (the contract for
// file-reading plugins), so an instance's answers never change, and every
// answer may be cached by the broker until the next reload.
var policy *acl.Policy

func init() {
	plume.OnInit(func(raw []byte) error {
		c, err := acl.ParseConfig(raw)
		if err != nil {
			return err
		}
		p, err := acl.New(c, os.ReadFile)
		if err != nil {
			return err
		}
		policy = p
		return nil
	})
	plume.OnAuthorize(authorize)
}

func authorize(e *plume.AuthzEvent) plume.Decision {
	c := acl.Client{ID: e.Client.ID(), Username: e.Client.Username(), Attribute: e.Client.Attribute}
	action := acl.Publish
	if e.Action == plume.Subscribe {
		action = acl.Subscribe
	}
	d := policy.Decide(&c, action, e.Topic())
	// Every answer is a function of the client's id, username and
	// attributes (fixed for its connection), the topic and the action:
	// cacheable, since a reload starts a new plugin generation.
	switch d.Verdict {
	case acl.Allow:
		return plume.Allow().Cacheable()
	case acl.Deny:
		return plume.Deny(plume.NotAuthorized, d.Reason).Cacheable()
	}
	return plume.Pass().Cacheable()
}

func main() {}
