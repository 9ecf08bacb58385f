package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/ops"
	"github.com/plumemq/plume/ops/admin"
)

const wait = 10 * time.Second

const token = "admin-test-token-0123456789"

// env is a real broker on a loopback port with the operations server in
// front of it, the admin API registered, bearer auth on.
type env struct {
	b     *broker.Broker
	mqtt  string // broker address
	api   string // http://host:port
	audit *auditLog
}

type auditLog struct {
	mu    sync.Mutex
	lines []string
}

func (a *auditLog) AdminAction(actor, remote, action, target string, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lines = append(a.lines, fmt.Sprintf("%s %s %s err=%v remote=%t", actor, action, target, err, remote != ""))
}

func (a *auditLog) all() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.lines...)
}

func start(t *testing.T, reload func(context.Context) (admin.ReloadReport, error)) *env {
	t.Helper()
	b, err := broker.New(broker.Options{AllowAnonymous: true, SysInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- b.Serve(l, "tcp") }()

	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	e := &env{b: b, mqtt: l.Addr().String(), audit: &auditLog{}}
	s := ops.New(ops.Config{Address: "127.0.0.1:0", Auth: ops.Auth{BearerTokenFile: tok}})
	admin.Register(s, admin.Config{
		Broker:  b,
		Plugins: func() []admin.Plugin { return []admin.Plugin{{Name: "acl", Source: "builtin:acl", Traps: 2}} },
		Reload:  reload,
		Auditor: e.audit,
	})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	opsDone := make(chan error, 1)
	go func() { opsDone <- s.Serve() }()
	e.api = "http://" + s.Addr()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("ops Shutdown: %v", err)
		}
		if err := <-opsDone; err != nil {
			t.Errorf("ops Serve: %v", err)
		}
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("broker Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, broker.ErrClosed) {
			t.Errorf("broker Serve: %v", err)
		}
	})
	return e
}

// call does method path with the token and decodes the JSON answer into out
// (when not nil); it returns the status.
func (e *env) call(t *testing.T, method, path string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, e.api+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: wait}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, body)
		}
	}
	return resp.StatusCode
}

// autoClient connects a paho.golang client that reconnects by itself; ups
// receives each CONNACK, downs each server DISCONNECT's reason code.
func autoClient(t *testing.T, addr, id string) (ups chan struct{}, downs chan byte) {
	t.Helper()
	u, err := url.Parse("mqtt://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	ups, downs = make(chan struct{}, 10), make(chan byte, 10)
	ctx, cancel := context.WithCancel(context.Background())
	cm, err := autopaho.NewConnection(ctx, autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{u},
		KeepAlive:                     30,
		CleanStartOnInitialConnection: true,
		SessionExpiryInterval:         60,
		ReconnectBackoff:              func(int) time.Duration { return 50 * time.Millisecond },
		OnConnectionUp:                func(*autopaho.ConnectionManager, *paho.Connack) { ups <- struct{}{} },
		ClientConfig: paho.ClientConfig{
			ClientID:           id,
			OnServerDisconnect: func(d *paho.Disconnect) { downs <- d.ReasonCode },
		},
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), wait)
		defer dcancel()
		_ = cm.Disconnect(dctx)
		cancel()
		<-cm.Done()
	})
	return ups, downs
}

func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("no %s within %s", what, wait)
	}
	var zero T
	return zero
}

func TestDisconnectKicksARealClientWhichReconnects(t *testing.T) {
	e := start(t, nil)
	ups, downs := autoClient(t, e.mqtt, "meter/7 east") // a '/' and a space: the id travels escaped
	await(t, ups, "first connection")

	var list struct {
		Clients []map[string]any `json:"clients"`
		Total   int              `json:"total"`
	}
	if code := e.call(t, "GET", "/api/v1/clients?search=METER", &list); code != 200 || list.Total != 1 || len(list.Clients) != 1 {
		t.Fatalf("GET clients: %d %+v", code, list)
	}
	c := list.Clients[0]
	for k, want := range map[string]any{"client_id": "meter/7 east", "connected": true, "protocol_version": 5.0, "listener": "tcp", "subscriptions": 0.0, "queued_bytes": 0.0} {
		if c[k] != want {
			t.Errorf("client %s = %v, want %v", k, c[k], want)
		}
	}
	if _, err := time.Parse(time.RFC3339, fmt.Sprint(c["connected_at"])); err != nil {
		t.Errorf("connected_at %v: %v", c["connected_at"], err)
	}
	path := "/api/v1/clients/" + url.PathEscape("meter/7 east")
	var detail map[string]any
	if code := e.call(t, "GET", path, &detail); code != 200 || detail["keep_alive"] != 30.0 || detail["session_expiry"] != 60.0 {
		t.Fatalf("GET %s: %d %v", path, code, detail)
	}

	var answer map[string]any
	if code := e.call(t, "POST", path+"/disconnect", &answer); code != http.StatusAccepted {
		t.Fatalf("POST disconnect: %d %v", code, answer)
	}
	if reason := await(t, downs, "server DISCONNECT"); reason != 0x98 {
		t.Fatalf("DISCONNECT reason %#x, want 0x98 Administrative action", reason)
	}
	await(t, ups, "reconnection")
	if got := e.audit.all(); len(got) != 1 || got[0] != "bearer disconnect meter/7 east err=<nil> remote=true" {
		t.Errorf("audit: %q", got)
	}

	if code := e.call(t, "POST", "/api/v1/clients/nobody/disconnect", &answer); code != 404 || answer["error"] == nil {
		t.Errorf("disconnect of nobody: %d %v", code, answer)
	}
	if got := e.audit.all(); len(got) != 2 || !strings.Contains(got[1], "disconnect nobody err=no such client") {
		t.Errorf("audit of a failed action: %q", got)
	}
}

func TestListsAreBoundedAndErrorsAreJSON(t *testing.T) {
	e := start(t, nil)
	var out map[string]any
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/api/v1/clients?limit=0", 400},
		{"GET", "/api/v1/clients?limit=many", 400},
		{"GET", "/api/v1/retained?limit=-1", 400},
		{"GET", "/api/v1/clients/nobody", 404},
		{"GET", "/api/v1/nothing", 404},
		{"POST", "/api/v1/clients", 405},
		{"GET", "/api/v1/reload", 405},
		{"POST", "/api/v1/reload", 409}, // no Reload: no config file
	} {
		out = nil
		if code := e.call(t, tc.method, tc.path, &out); code != tc.want || out["error"] == nil {
			t.Errorf("%s %s: %d %v, want %d with an error", tc.method, tc.path, code, out, tc.want)
		}
	}
	var list struct {
		Clients []any `json:"clients"`
		Next    string
	}
	if code := e.call(t, "GET", "/api/v1/clients?limit=100000", &list); code != 200 || list.Clients == nil {
		t.Errorf("limit over the maximum: %d %+v, want 200 and an empty list", code, list)
	}
}

func TestRetainedPluginsAndReload(t *testing.T) {
	reloaded := 0
	e := start(t, func(context.Context) (admin.ReloadReport, error) {
		reloaded++
		if reloaded == 2 {
			return admin.ReloadReport{}, errors.New("plume.yaml: line 3: unknown key")
		}
		return admin.ReloadReport{Applied: []string{"plugins"}}, nil
	})
	ups, _ := autoClient(t, e.mqtt, "pub")
	await(t, ups, "connection")
	c, err := net.Dial("tcp", e.mqtt)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pc := paho.NewClient(paho.ClientConfig{Conn: c})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := pc.Connect(ctx, &paho.Connect{ClientID: "retainer", CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"site/a/temp", "site/b/temp", "other/x"} {
		if _, err := pc.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Retain: true, Payload: []byte("21.5")}); err != nil {
			t.Fatal(err)
		}
	}
	_ = pc.Disconnect(&paho.Disconnect{})
	var ret struct {
		Retained []struct {
			Topic        string `json:"topic"`
			PayloadBytes int    `json:"payload_bytes"`
		} `json:"retained"`
		Truncated bool `json:"truncated"`
	}
	if code := e.call(t, "GET", "/api/v1/retained?prefix=site/&limit=1", &ret); code != 200 || len(ret.Retained) != 1 || !ret.Truncated ||
		!strings.HasPrefix(ret.Retained[0].Topic, "site/") || ret.Retained[0].PayloadBytes != 4 {
		t.Errorf("retained: %d %+v", code, ret)
	}
	var plugins struct {
		Plugins []admin.Plugin `json:"plugins"`
	}
	if code := e.call(t, "GET", "/api/v1/plugins", &plugins); code != 200 || len(plugins.Plugins) != 1 || plugins.Plugins[0].Traps != 2 {
		t.Errorf("plugins: %d %+v", code, plugins)
	}
	var rep map[string]any
	if code := e.call(t, "POST", "/api/v1/reload", &rep); code != 200 || fmt.Sprint(rep["applied"]) != "[plugins]" {
		t.Errorf("reload: %d %v", code, rep)
	}
	if code := e.call(t, "POST", "/api/v1/reload", &rep); code != 422 || !strings.Contains(fmt.Sprint(rep["error"]), "unknown key") {
		t.Errorf("failed reload: %d %v", code, rep)
	}
	if got := e.audit.all(); len(got) != 2 || got[0] != "bearer reload  err=<nil> remote=true" || !strings.Contains(got[1], "unknown key") {
		t.Errorf("audit: %q", got)
	}
}

func TestAnActionFromAnotherSiteIsRefused(t *testing.T) {
	e := start(t, nil)
	req, err := http.NewRequest("POST", e.api+"/api/v1/clients/x/disconnect", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Origin", "https://evil.example")
	resp, err := (&http.Client{Timeout: wait}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site POST: %d, want 403", resp.StatusCode)
	}
}

func TestTheAPIAsksForCredentials(t *testing.T) {
	e := start(t, nil)
	resp, err := (&http.Client{Timeout: wait}).Get(e.api + "/api/v1/clients")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("no credentials: %d %q, want 401 with a Bearer challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}
