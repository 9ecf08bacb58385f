package browser

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/plumemq/plume/conformance/wire"
	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/transport"
)

// wait bounds each step. Generous: Chromium's start on a busy 2-core
// machine takes seconds, and other tests run beside this one.
const wait = 90 * time.Second

// need skips the test when a tool it drives is missing, or fails it when the
// environment variable CI is set (.ci/run sets it): CI installs the tools, so
// there a missing one is a broken set-up, not a reason to pass.
func need(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s: %v (CI is set, so this fails rather than skips)", what, err)
	}
	t.Skipf("%s: %v", what, err)
}

// jsDir is where the interop matrix keeps MQTT.js (conformance/interop/js).
func jsDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "conformance", "interop", "js"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// mqttBundle returns the path of MQTT.js's browser bundle, installing the
// pinned package (npm ci) when it is not there yet.
func mqttBundle(t *testing.T) string {
	t.Helper()
	dir := jsDir(t)
	bundle := filepath.Join(dir, "node_modules", "mqtt", "dist", "mqtt.min.js")
	if _, err := os.Stat(bundle); err == nil {
		return bundle
	}
	_, err := exec.LookPath("npm")
	need(t, "npm, to install MQTT.js", err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	if _, err := os.Stat(bundle); err != nil {
		t.Fatalf("npm ci installed no browser bundle: %v", err)
	}
	return bundle
}

// clients records the clients the broker authenticated, by client id: the
// listener a client came in on is the proof that it used WebSockets.
type clients struct {
	hooks.Base
	mu   sync.Mutex
	seen map[string]hooks.Client
}

func (c *clients) Provides(p hooks.Point) bool { return p == hooks.PointAuthenticate }

func (c *clients) Authenticate(_ context.Context, req *hooks.AuthRequest) (hooks.AuthResult, error) {
	c.mu.Lock()
	c.seen[req.Client.ID] = *req.Client
	c.mu.Unlock()
	return hooks.AuthResult{Verdict: hooks.Allow}, nil
}

func (c *clients) get(id string) (hooks.Client, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.seen[id]
	return cl, ok
}

// plume is a broker serving a tcp and a ws listener.
type plume struct {
	tcp     string // host:port
	ws      string // ws://host:port/mqtt
	clients *clients
}

// startPlume starts a broker with a tcp listener and a ws listener on free
// loopback ports, and stops it when the test ends.
func startPlume(t *testing.T) *plume {
	t.Helper()
	p := &plume{clients: &clients{seen: map[string]hooks.Client{}}}
	b, err := broker.New(broker.Options{AllowAnonymous: true, SysInterval: -1, Hooks: p.clients})
	if err != nil {
		t.Fatal(err)
	}
	var served []chan error
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Error(err)
		}
		for _, s := range served {
			<-s
		}
	})
	for _, c := range []transport.Config{
		{Name: "tcp", Type: "tcp", Address: "127.0.0.1:0"},
		{Name: "ws", Type: "ws", Address: "127.0.0.1:0", Path: "/mqtt"},
	} {
		l, err := transport.New(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Listen(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		s := make(chan error, 1)
		served = append(served, s)
		go func() { s <- l.Serve(b) }()
		switch c.Type {
		case "tcp":
			p.tcp = l.Address()
		case "ws":
			p.ws = "ws://" + l.Address() + c.Path
		}
	}
	return p
}

// servePage serves the test page, its script and MQTT.js's browser bundle
// over HTTP on a loopback port; it returns the page's URL.
func servePage(t *testing.T, bundle string) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/mqtt.min.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, bundle) })
	mux.HandleFunc("/page.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join("testdata", "page.js"))
	})
	mux.HandleFunc("/favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		http.ServeFile(w, r, filepath.Join("testdata", "page.html"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

// goClient is the Go side: a raw MQTT 5.0 client over TCP.
type goClient struct {
	t *testing.T
	c *wire.Conn
}

func dialGo(t *testing.T, addr, id string) *goClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := wire.Dial(ctx, addr, 5)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	g := &goClient{t: t, c: c}
	g.send(wire.Connect{Version: 5, ClientID: id, CleanStart: true, KeepAlive: 120}.Encode())
	if p := g.next(); p.Type != wire.CONNACK || p.ReasonCode != 0 {
		t.Fatalf("go client %s: %v", id, p)
	}
	return g
}

func (g *goClient) send(b []byte) {
	g.t.Helper()
	if err := g.c.Write(b, wait); err != nil {
		g.t.Fatal(err)
	}
}

func (g *goClient) next() *wire.Packet {
	g.t.Helper()
	p, err := g.c.Read(wait)
	if err != nil {
		g.t.Fatalf("go client: %v", err)
	}
	return p
}

func (g *goClient) subscribe(filter string, qos byte) {
	g.t.Helper()
	g.send(wire.Subscribe{PacketID: 1, Subs: []wire.Subscription{{Filter: filter, Options: qos}}}.Encode(5))
	if p := g.next(); p.Type != wire.SUBACK || p.ReasonCodes[0] != qos {
		g.t.Fatalf("go subscribe %s: %v", filter, p)
	}
}

// publish publishes at QoS 1 and waits for the PUBACK.
func (g *goClient) publish(topic, payload string) {
	g.t.Helper()
	g.send(wire.Publish{Topic: topic, Payload: []byte(payload), QoS: 1, PacketID: 7}.Encode(5))
	if p := g.next(); p.Type != wire.PUBACK || p.ReasonCode != 0 {
		g.t.Fatalf("go publish %s: %v", topic, p)
	}
}

// receive waits for one PUBLISH at QoS 1 and acknowledges it.
func (g *goClient) receive() *wire.Packet {
	g.t.Helper()
	p := g.next()
	if p.Type != wire.PUBLISH {
		g.t.Fatalf("go client: got %v, want a PUBLISH", p)
	}
	if p.QoS == 1 {
		g.send(wire.Ack(5, wire.PUBACK, p.PacketID, 0, nil))
	}
	return p
}
