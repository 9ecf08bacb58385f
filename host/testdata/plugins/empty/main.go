// Command empty implements every point with an empty handler: the benchmark
// of the per-call cost of the plugin system itself.
package main

import plume "github.com/plumemq/plume/plugin-sdk/go"

func init() {
	plume.OnAuthenticate(func(*plume.AuthEvent) plume.Decision { return plume.Pass() })
	plume.OnAuthorize(func(*plume.AuthzEvent) plume.Decision { return plume.Pass() })
	plume.OnPublish(func(*plume.Message) plume.PublishDecision { return plume.Deliver() })
	plume.OnTransform(func(*plume.Message) error { return nil })
}

func main() {}
