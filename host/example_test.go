package host_test

import (
	"context"
	"fmt"
	"os"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/host"
)

// A Host turns the plugin section of the config into a chain for the broker.
// testdata/minimal.wasm is a hand-written plugin that allows every publish.
func Example() {
	ctx := context.Background()
	h, err := host.New(ctx, zerolog.New(os.Stderr).Level(zerolog.WarnLevel), host.Config{
		Plugins: []host.PluginConfig{{Name: "allow-all", Path: "testdata/minimal.wasm", PoolSize: 2}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close(ctx)

	chain := h.Chain() // hand this to the broker as its hooks.Hooks
	res, err := chain.Authorize(ctx, &hooks.AuthzRequest{Client: &hooks.Client{ID: "c1"}, Topic: "a/b"})
	fmt.Println(res.Verdict, err, chain.Provides(hooks.PointTransform))
	// Output: allow <nil> false
}

// A module that is not a plugin is refused with what was found instead.
func ExampleNew_refused() {
	_, err := host.New(context.Background(), zerolog.Nop(), host.Config{
		Plugins: []host.PluginConfig{{Name: "x", Path: "testdata/noabi.wasm"}},
	})
	fmt.Println(err)
	// Output: load plugin "x" from testdata/noabi.wasm: plugin ABI mismatch: the module exports no plume_abi_version function, so it is not a Plume plugin (its exports: [hello])
}
