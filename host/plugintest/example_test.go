package plugintest_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/host/internal/wasmbuild"
	"github.com/plumemq/plume/host/plugintest"
)

// Load a built plugin and call its authenticate point, as a plugin's own
// tests do (with plugintest.Load and plugintest.BuildGo inside a test).
func Example() {
	wasm, err := wasmbuild.GoBuild("../../examples/plugins/auth-go", ".")
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := plugintest.Open(context.Background(), wasm, plugintest.Options{
		Config: []byte(`{"users": {"alice": {"password": "s3cret", "attributes": {"role": "admin"}}}}`),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()

	res, err := p.Authenticate(&hooks.AuthRequest{Client: &hooks.Client{ID: "c1", Username: "alice", Creds: &hooks.Credentials{Password: []byte("s3cret")}}})
	fmt.Println(res.Verdict, res.Attributes, err)
	res, err = p.Authenticate(&hooks.AuthRequest{Client: &hooks.Client{ID: "c2", Username: "alice", Creds: &hooks.Credentials{Password: []byte("guess")}}})
	fmt.Println(res.Verdict, res.Reason, res.ReasonString, err)
	// Output:
	// allow map[role:admin username:alice] <nil>
	// deny bad user name or password bad username or password <nil>
}

// Describe a call as JSON, as `plume plugin call FILE.wasm --event JSON` does.
func ExamplePlugin_Call() {
	wasm, err := wasmbuild.GoBuild("../../examples/plugins/auth-go", ".")
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := plugintest.Open(context.Background(), wasm, plugintest.Options{
		Config: []byte(`{"users": {"bob": {"password": "pw"}}}`),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	ev, err := plugintest.ParseEvent([]byte(`{"point": "authenticate", "client": {"id": "c", "username": "bob", "password": "pw"}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := p.Call(context.Background(), ev)
	fmt.Printf("%+v %v\n", res, err)
	// Output:
	// {Verdict:allow Reason:success ReasonString: Continue:false Data:[] Attributes:map[username:bob] Principal:} <nil>
}

func TestMain(m *testing.M) {
	code := m.Run()
	wasmbuild.Cleanup()
	if err := goleak.Find(); code == 0 && err != nil {
		fmt.Fprintln(os.Stderr, "goleak:", err)
		code = 1
	}
	os.Exit(code)
}
