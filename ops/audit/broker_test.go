package audit_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/ops/audit"
)

const wait = 10 * time.Second

// policy allows every client but one with the password "bad", and denies
// publishing under forbidden/ and subscribing under secret/.
type policy struct{ hooks.Base }

func (policy) Provides(p hooks.Point) bool {
	return p == hooks.PointAuthenticate || p == hooks.PointAuthorize
}

func (policy) Authenticate(_ context.Context, req *hooks.AuthRequest) (hooks.AuthResult, error) {
	if string(req.Client.Password()) == "bad" {
		return hooks.AuthResult{Verdict: hooks.Deny, Reason: packets.BadUserNameOrPassword, ReasonString: "wrong password"}, nil
	}
	return hooks.AuthResult{Verdict: hooks.Allow, Principal: "user-" + req.Client.Username}, nil
}

func (policy) Authorize(_ context.Context, req *hooks.AuthzRequest) (hooks.AuthzResult, error) {
	if strings.HasPrefix(req.Topic, "forbidden/") || strings.HasPrefix(req.Topic, "secret/") {
		return hooks.AuthzResult{Verdict: hooks.Deny, ReasonString: "acl"}, nil
	}
	return hooks.AuthzResult{Verdict: hooks.Allow}, nil
}

// client is a raw MQTT 5.0 client over TCP.
type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &client{t: t, conn: conn, r: bufio.NewReader(conn)}
}

func (c *client) send(p packets.Packet) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(wait))
	if _, err := c.conn.Write(p.Append(nil, packets.V5)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) next() packets.Packet {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(wait))
	p, err := packets.ReadPacket(c.r, packets.V5, 0)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return p
}

// connect sends CONNECT for id with password and returns the CONNACK reason.
func connect(t *testing.T, addr, id, password string) (*client, packets.ReasonCode) {
	t.Helper()
	c := dial(t, addr)
	cp := &packets.Connect{ProtocolName: "MQTT", ProtocolVersion: packets.V5, CleanStart: true, ClientID: id,
		HasUsername: true, Username: "u-" + id, HasPassword: true, Password: []byte(password), KeepAlive: 60}
	c.send(cp)
	ack, ok := c.next().(*packets.Connack)
	if !ok {
		t.Fatal("no CONNACK")
	}
	return c, ack.Reason
}

// awaitRecent waits until the logger has recorded an event matching ok.
func awaitRecent(t *testing.T, l *audit.Logger, what string, ok func(audit.Event) bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		for _, ev := range l.Recent(256) {
			if ok(ev) {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no %s event recorded", what)
}

// Each action of real clients against a real broker makes exactly one
// event of its class: connect, auth_failure, authz_denied (publish and
// subscribe), takeover with the old connection's disconnect, a client's
// DISCONNECT and the server's shutdown.
func TestEachActionRecordsOneEvent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := audit.New(audit.Config{File: path}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(broker.Options{Hooks: policy{}, Observer: l, SysInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- b.Serve(ln, "tcp-test") }()
	addr := ln.Addr().String()

	// connect, then DISCONNECT
	c, r := connect(t, addr, "plain", "good")
	if r != packets.Success {
		t.Fatalf("plain: CONNACK %v", r)
	}
	c.send(&packets.Disconnect{Reason: packets.NormalDisconnection})
	awaitRecent(t, l, "disconnect of plain", func(ev audit.Event) bool {
		return ev.Class == audit.ClassDisconnect && ev.ClientID == "plain"
	})

	// a bad password
	if _, r := connect(t, addr, "guesser", "bad"); r != packets.BadUserNameOrPassword {
		t.Fatalf("guesser: CONNACK %v", r)
	}

	// a denied publish (QoS 1: the PUBACK says the verdict was reached)
	// and a denied subscribe
	d, _ := connect(t, addr, "denied", "good")
	d.send(&packets.Publish{Topic: "forbidden/x", QoS: 1, PacketID: 1, Payload: []byte("p")})
	if ack, ok := d.next().(*packets.Ack); !ok || ack.Reason != packets.NotAuthorized {
		t.Fatalf("denied publish answered %+v", ack)
	}
	d.send(&packets.Subscribe{PacketID: 2, Subscriptions: []packets.Subscription{{Filter: "secret/#", QoS: 1}}})
	if sa, ok := d.next().(*packets.Suback); !ok || sa.Reasons[0] != packets.NotAuthorized {
		t.Fatalf("denied subscribe answered %+v", sa)
	}
	// an allowed publish and subscribe record nothing
	d.send(&packets.Subscribe{PacketID: 3, Subscriptions: []packets.Subscription{{Filter: "open/#", QoS: 1}}})
	d.next()
	d.send(&packets.Publish{Topic: "open/x", QoS: 1, PacketID: 4, Payload: []byte("p")})
	for range 2 { // the PUBACK and our own message, in either order
		d.next()
	}

	// a takeover
	old, _ := connect(t, addr, "twin", "good")
	if _, r := connect(t, addr, "twin", "good"); r != packets.Success {
		t.Fatalf("twin: CONNACK %v", r)
	}
	if dc, ok := old.next().(*packets.Disconnect); !ok || dc.Reason != packets.SessionTakenOver {
		t.Fatalf("the old twin got %+v, want DISCONNECT 0x8E", dc)
	}

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, broker.ErrClosed) {
		t.Fatalf("Serve: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	count := map[string]int{}
	byKey := map[string]map[string]any{}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		key := m["event"].(string) + " " + m["client_id"].(string)
		if r, ok := m["reason"].(map[string]any); ok && m["event"] == "disconnect" {
			key += " " + r["name"].(string)
		}
		count[key]++
		byKey[key] = m
		if tm, err := time.Parse(time.RFC3339Nano, m["time"].(string)); err != nil || tm.Location() != time.UTC {
			t.Errorf("time %v is not RFC 3339 UTC", m["time"])
		}
	}
	want := map[string]int{
		"connect plain": 1, "disconnect plain normal disconnection": 1,
		"auth_failure guesser": 1,
		"connect denied":       1, "authz_denied denied": 2,
		"connect twin": 2, "takeover twin": 1,
		"disconnect twin session taken over":     1,
		"disconnect twin server shutting down":   1,
		"disconnect denied server shutting down": 1,
	}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%q: %d lines, want %d", k, count[k], n)
		}
	}
	for k := range count {
		if want[k] == 0 {
			t.Errorf("unexpected line %q: %v", k, byKey[k])
		}
	}
	if m := byKey["disconnect plain normal disconnection"]; m["initiated_by"] != "client" {
		t.Errorf("client DISCONNECT initiated by %v", m["initiated_by"])
	}
	if m := byKey["disconnect twin session taken over"]; m["initiated_by"] != "server" {
		t.Errorf("takeover disconnect initiated by %v", m["initiated_by"])
	}
	if m := byKey["auth_failure guesser"]; m["username"] != "u-guesser" || m["listener"] != "tcp-test" ||
		!strings.HasPrefix(m["remote"].(string), "127.0.0.1:") || m["reason"].(map[string]any)["text"] != "wrong password" {
		t.Errorf("auth_failure line lacks who and why: %v", m)
	}
	if m := byKey["connect plain"]; m["identity"] != "user-u-plain" {
		t.Errorf("connect identity %v, want the principal the hook named", m["identity"])
	}
	if strings.Contains(string(data), "good") || strings.Contains(string(data), `"bad"`) {
		t.Error("a password reached the audit log")
	}
}

// A disconnect says why and who ended it: a protocol error and a
// keep-alive timeout (the server), a dropped socket (the network).
func TestDisconnectSaysWhyAndWho(t *testing.T) {
	l, err := audit.New(audit.Config{Log: true}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	b, err := broker.New(broker.Options{Observer: l, SysInterval: -1, AllowAnonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- b.Serve(ln, "tcp-test") }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = b.Shutdown(ctx)
		<-served
	}()
	addr := ln.Addr().String()

	p, _ := connect(t, addr, "twice", "")
	p.send(&packets.Connect{ProtocolName: "MQTT", ProtocolVersion: packets.V5, ClientID: "twice"})
	gone, _ := connect(t, addr, "gone", "")
	_ = gone.conn.Close()
	k := dial(t, addr)
	k.send(&packets.Connect{ProtocolName: "MQTT", ProtocolVersion: packets.V5, CleanStart: true, ClientID: "sleepy", KeepAlive: 1})
	k.next()

	for _, tc := range []struct{ id, name, by, text string }{
		{"twice", "protocol error", "server", "a second CONNECT [MQTT-3.1.0-2]"},
		{"gone", "unspecified error", "network", ""},
		{"sleepy", "keep alive timeout", "server", "keep alive timeout"},
	} {
		awaitRecent(t, l, "disconnect of "+tc.id, func(ev audit.Event) bool {
			return ev.Class == audit.ClassDisconnect && ev.ClientID == tc.id
		})
		for _, ev := range l.Recent(256) {
			if ev.Class != audit.ClassDisconnect || ev.ClientID != tc.id {
				continue
			}
			if ev.Reason.Name != tc.name || ev.InitiatedBy != tc.by || (tc.text != "" && ev.Reason.Text != tc.text) {
				t.Errorf("%s: reason %+v by %s, want %s by %s (%q)", tc.id, ev.Reason, ev.InitiatedBy, tc.name, tc.by, tc.text)
			}
		}
	}
}
