package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/session"
	"github.com/plumemq/plume/host"
	"github.com/plumemq/plume/host/plugintest"
)

// wait bounds anything that should happen promptly.
const wait = 5 * time.Second

// cacheDir is a compilation cache shared by the package's tests, so that each
// module is compiled once however many brokers load it.
var cacheDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "plume-e2e-cache-")
	if err != nil {
		panic(err)
	}
	cacheDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	plugintest.Cleanup()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

// Paths from this package to the plugins it builds.
const (
	repoRoot           = "../.."
	hostTestPlugins    = repoRoot + "/host/testdata/plugins"
	hostTestData       = repoRoot + "/host/testdata"
	authGoDir          = repoRoot + "/examples/plugins/auth-go"
	transformRustDir   = repoRoot + "/examples/plugins/transform-rust"
	defaultCallTimeout = 2 * time.Second // generous: on 2 shared cores a healthy call can be descheduled
)

// testPlugin builds host/testdata/plugins/<name> (Go) and returns the .wasm path.
func testPlugin(tb testing.TB, name string) string {
	tb.Helper()
	return plugintest.BuildGo(tb, hostTestPlugins, "./"+name)
}

// env is a plugin host and a broker serving its chain on a loopback port.
type env struct {
	host *host.Host
	addr string
	logs *plugintest.LogBuffer
}

// plugin is a PluginConfig with the package's defaults filled in.
func plugin(name, path string, config string) host.PluginConfig {
	return host.PluginConfig{Name: name, Path: path, Config: []byte(config), CallTimeout: defaultCallTimeout, PoolSize: 2}
}

// start loads cfg's plugins into a host, serves a broker with the host's
// chain and opts on 127.0.0.1:0, and stops both when the test ends.
func start(t testing.TB, cfg host.Config, opts broker.Options) *env {
	t.Helper()
	logs := &plugintest.LogBuffer{}
	log := zerolog.New(logs).Level(zerolog.DebugLevel)
	if cfg.CacheDir == "" {
		cfg.CacheDir = cacheDir
	}
	h, err := host.New(context.Background(), log, cfg)
	if err != nil {
		t.Fatalf("host.New: %v\nlog:\n%s", err, logs)
	}
	t.Cleanup(func() {
		if err := h.Close(context.Background()); err != nil {
			t.Errorf("host Close: %v", err)
		}
	})
	opts.Hooks = h.Chain()
	opts.Log = log
	if opts.SysInterval == 0 {
		opts.SysInterval = -1 // no $SYS unless the test asks
	}
	opts.Store = session.NewMemoryStore()
	b, err := broker.New(opts)
	if err != nil {
		t.Fatalf("broker.New: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Serve(l, "e2e") }()
	t.Cleanup(func() { // runs before the host's Close: cleanups are LIFO
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("broker Shutdown: %v", err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, broker.ErrClosed) {
				t.Errorf("Serve returned %v, want ErrClosed", err)
			}
		case <-time.After(wait):
			t.Error("Serve did not return after Shutdown")
		}
	})
	return &env{host: h, addr: l.Addr().String(), logs: logs}
}

// ---- paho.golang (MQTT 5.0) ----

// v5Client is a paho.golang client whose received messages queue up for
// next, however many arrive before the test reads them (a blocked handler
// would stall paho and, in time, the broker's delivery), and whose
// unexpected ends (a server DISCONNECT, a connection error) arrive on lost.
type v5Client struct {
	*paho.Client
	lost chan error

	mu      sync.Mutex
	queue   []*paho.Publish
	arrived []time.Time   // when each message arrived, in order
	notify  chan struct{} // a message was queued
}

// reportLost records an unexpected end without ever blocking paho's
// goroutines: the first few are enough to report.
func (c *v5Client) reportLost(err error) {
	select {
	case c.lost <- err:
	default:
	}
}

// arrivals returns when each message so far arrived.
func (c *v5Client) arrivals() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.arrived...)
}

// connectV5 connects a 5.0 client with cp and returns the CONNACK. On a
// refused CONNECT it returns the CONNACK and the error, and the connection is
// closed; otherwise the client disconnects when the test ends.
func connectV5(t *testing.T, addr string, cp *paho.Connect) (*v5Client, *paho.Connack, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c := &v5Client{lost: make(chan error, 16), notify: make(chan struct{}, 1)}
	c.Client = paho.NewClient(paho.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) {
				c.mu.Lock()
				c.arrived = append(c.arrived, time.Now())
				c.queue = append(c.queue, pr.Packet)
				c.mu.Unlock()
				select {
				case c.notify <- struct{}{}:
				default:
				}
				return true, nil
			},
		},
		OnServerDisconnect: func(d *paho.Disconnect) { c.reportLost(fmt.Errorf("server DISCONNECT %#x", d.ReasonCode)) },
		OnClientError:      c.reportLost,
	})
	if cp.KeepAlive == 0 {
		cp.KeepAlive = 60
	}
	cp.CleanStart = true
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ack, err := c.Connect(ctx, cp)
	if err != nil {
		_ = conn.Close()
		<-c.Done()
		return nil, ack, err
	}
	t.Cleanup(func() {
		_ = c.Disconnect(&paho.Disconnect{})
		select {
		case <-c.Done():
		case <-time.After(wait):
			t.Error("paho client did not stop")
		}
	})
	return c, ack, nil
}

// mustConnectV5 connects a 5.0 client that must be admitted.
func mustConnectV5(t *testing.T, addr string, cp *paho.Connect) *v5Client {
	t.Helper()
	c, ack, err := connectV5(t, addr, cp)
	if err != nil {
		t.Fatalf("connect %q: %v (CONNACK %+v)", cp.ClientID, err, ack)
	}
	return c
}

// subscribe subscribes at QoS 1 and fails the test on a refusal.
func (c *v5Client) subscribe(t *testing.T, filters ...string) {
	t.Helper()
	s := &paho.Subscribe{}
	for _, f := range filters {
		s.Subscriptions = append(s.Subscriptions, paho.SubscribeOptions{Topic: f, QoS: 1})
	}
	ack, err := c.Subscribe(ctxWait(t), s)
	if err != nil {
		t.Fatalf("subscribe %v: %v", filters, err)
	}
	for i, r := range ack.Reasons {
		if r >= 0x80 {
			t.Fatalf("subscribe %s refused: %#x", filters[i], r)
		}
	}
}

// publish1 publishes at QoS 1 and returns the PUBACK's reason code and
// reason string (a refusal is not an error here).
func (c *v5Client) publish1(t *testing.T, topic string, payload []byte) (byte, string) {
	t.Helper()
	pr, err := c.Publish(ctxWait(t), &paho.Publish{Topic: topic, QoS: 1, Payload: payload})
	if pr == nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
	var why string
	if pr.Properties != nil {
		why = pr.Properties.ReasonString
	}
	return pr.ReasonCode, why
}

// next returns the next message received, failing the test after wait.
func (c *v5Client) next(t *testing.T) *paho.Publish {
	t.Helper()
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	for {
		c.mu.Lock()
		if len(c.queue) > 0 {
			m := c.queue[0]
			c.queue = c.queue[1:]
			c.mu.Unlock()
			return m
		}
		c.mu.Unlock()
		select {
		case <-c.notify:
		case err := <-c.lost:
			t.Fatalf("connection lost while waiting for a message: %v", err)
		case <-timeout.C:
			t.Fatal("no message within", wait)
		}
	}
}

// stillConnected fails the test if the client saw its connection end.
func (c *v5Client) stillConnected(t *testing.T) {
	t.Helper()
	select {
	case err := <-c.lost:
		t.Errorf("client lost its connection: %v", err)
	case <-c.Done():
		t.Error("client stopped")
	default:
	}
}

func ctxWait(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// ---- paho.mqtt.golang (MQTT 3.1.1) ----

// connectV311 connects a 3.1.1 client and returns it with the CONNACK return
// code. An admitted client disconnects when the test ends.
func connectV311(t *testing.T, addr, id, username, password string, onMsg mqtt.MessageHandler) (mqtt.Client, byte, error) {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetProtocolVersion(4).SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(wait).SetKeepAlive(60 * time.Second).SetDefaultPublishHandler(onMsg).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) { t.Errorf("3.1.1 client %s lost its connection: %v", id, err) })
	if username != "" {
		o.SetUsername(username).SetPassword(password)
	}
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(wait) {
		t.Fatalf("3.1.1 connect %s: no CONNACK within %s", id, wait)
	}
	rc := tok.(*mqtt.ConnectToken).ReturnCode()
	if tok.Error() == nil {
		t.Cleanup(func() { c.Disconnect(100) })
	}
	return c, rc, tok.Error()
}

// writeFileAtomic writes b next to path and renames it over path, as
// editors and build tools replace files.
func writeFileAtomic(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
