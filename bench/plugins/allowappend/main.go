// Command allowappend is the benchmark's plugin: it allows every publish and
// subscribe in authorize (cacheable: the answer depends on nothing but the
// topic, as an ACL's does) and appends one byte ('!') to every payload in
// transform, so that each message through the broker costs one authorize and
// one transform call that reads and writes the payload. bench/compare.sh runs
// it as "plume+plugins"; plugins/e2e's BenchmarkPublishThroughPlugins loads it
// in process.
//
// Build: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o allowappend.wasm ./allowappend
package main

import plume "github.com/plumemq/plume/plugin-sdk/go"

func init() {
	plume.OnAuthorize(func(*plume.AuthzEvent) plume.Decision { return plume.Allow().Cacheable() })
	plume.OnTransform(func(m *plume.Message) error {
		m.SetPayload(append(m.Payload(), '!'))
		return nil
	})
}

func main() {}
