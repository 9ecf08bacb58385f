// Command tagged appends its build tag to every payload, so that tests can
// tell which build of a module served a call. Build it with
// -ldflags=-X=main.tag=NAME.
package main

import plume "github.com/plumemq/plume/plugin-sdk/go"

var tag = "untagged"

func init() {
	plume.OnTransform(func(m *plume.Message) error {
		m.SetPayload(append(m.Payload(), "|"+tag...))
		return nil
	})
	plume.OnAuthorize(func(e *plume.AuthzEvent) plume.Decision {
		return plume.Deny(plume.NotAuthorized, tag)
	})
}

func main() {}
