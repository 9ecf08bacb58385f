// Command copy reads every event's variable-length data and, in transform,
// writes the payload back: the benchmark of marshalling across the boundary.
package main

import plume "github.com/plumemq/plume/plugin-sdk/go"

func init() {
	plume.OnAuthenticate(func(e *plume.AuthEvent) plume.Decision {
		_ = e.Client.Password()
		return plume.Pass()
	})
	plume.OnAuthorize(func(e *plume.AuthzEvent) plume.Decision {
		_ = e.Topic()
		return plume.Pass()
	})
	plume.OnPublish(func(m *plume.Message) plume.PublishDecision {
		_ = m.Payload()
		return plume.Deliver()
	})
	plume.OnTransform(func(m *plume.Message) error {
		m.SetPayload(m.Payload())
		return nil
	})
}

func main() {}
