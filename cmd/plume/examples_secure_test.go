package main

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/plumemq/plume/cmd/plume/internal/config"
	"github.com/plumemq/plume/internal/testcerts"
)

// examples/secure, started as written: its plume.yaml, passwd and acl
// unchanged, with test certificates in certs/ and free ports. Every row of
// its README's table of refusals is checked with a real MQTT 5.0 client
// over the TLS listener.
func TestExamplesSecureAsWritten(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"plume.yaml", "passwd", "acl"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "examples", "secure", f))
		if err != nil {
			t.Fatal(err)
		}
		testcerts.Write(t, dir, f, b)
	}
	if err := os.Mkdir(filepath.Join(dir, "certs"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, roots := serverCert(t, filepath.Join(dir, "certs"), 0x301)

	cfg, err := config.Load(filepath.Join(dir, "plume.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range cfg.Listeners {
		cfg.Listeners[i].Address = "127.0.0.1:0" // the file's 8883 and 1883 may be taken
	}
	srv, err := start(cfg, filepath.Join(dir, "plume.yaml"), &lockedBuffer{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopServer(t, srv) })
	addr := srv.listeners[0].Address() // devices: TLS

	dial := func(id, user, pass string) (*paho.Client, chan *paho.Publish, byte) {
		t.Helper()
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr,
			&tls.Config{RootCAs: roots, ServerName: "localhost"})
		if err != nil {
			t.Fatal(err)
		}
		msgs := make(chan *paho.Publish, 100)
		c := paho.NewClient(paho.ClientConfig{Conn: conn, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) { msgs <- pr.Packet; return true, nil },
		}})
		cp := &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 30}
		if user != "" {
			cp.Username, cp.UsernameFlag = user, true
			cp.Password, cp.PasswordFlag = []byte(pass), true
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ack, err := c.Connect(ctx, cp)
		if err != nil {
			_ = conn.Close()
			if ack == nil {
				t.Fatalf("connect %s: %v", id, err)
			}
			return nil, nil, ack.ReasonCode
		}
		t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
		return c, msgs, 0
	}
	publish := func(c *paho.Client, topic string) (byte, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		r, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte("21.5")})
		if r == nil {
			t.Fatalf("publish %s: %v", topic, err)
		}
		return r.ReasonCode, r.Properties.ReasonString
	}

	// Wrong password, unknown user, no username.
	if _, _, rc := dial("d1", "device-1", "wrong"); rc != 0x86 {
		t.Fatalf("wrong password: CONNACK %#x, want 0x86", rc)
	}
	if _, _, rc := dial("x", "mallory", "device-1-secret"); rc != 0x86 {
		t.Fatalf("unknown user: CONNACK %#x, want 0x86", rc)
	}
	if _, _, rc := dial("anon", "", ""); rc != 0x87 {
		t.Fatalf("anonymous: CONNACK %#x, want 0x87", rc)
	}

	// The operator watches; device-1 reports; the ACL keeps device-1 to its own topics.
	op, opMsgs, rc := dial("op", "operator", "operator-secret")
	if rc != 0 {
		t.Fatalf("operator: CONNACK %#x", rc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if sa, err := op.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "devices/+/telemetry/#", QoS: 1}}}); err != nil || sa.Reasons[0] != 1 {
		t.Fatalf("operator subscribe: %v %+v", err, sa)
	}
	dev, _, rc := dial("device-1", "device-1", "device-1-secret")
	if rc != 0 {
		t.Fatalf("device-1: CONNACK %#x", rc)
	}
	if rc, why := publish(dev, "devices/device-1/telemetry/temp"); rc != 0 {
		t.Fatalf("device-1 to its own telemetry: PUBACK %#x %q", rc, why)
	}
	select {
	case m := <-opMsgs:
		if m.Topic != "devices/device-1/telemetry/temp" {
			t.Fatalf("operator got %s", m.Topic)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the operator got nothing")
	}
	if rc, why := publish(dev, "devices/device-2/telemetry/temp"); rc != 0x87 || why == "" {
		t.Fatalf("device-1 to device-2's telemetry: PUBACK %#x %q, want 0x87 with a reason", rc, why)
	}

	// Rate limit: a burst of 40, then 0x97. The refusals before were not charged.
	refused := 0
	for i := 0; i < 60 && refused == 0; i++ {
		if rc, _ := publish(dev, "devices/device-1/telemetry/burst"); rc == 0x97 {
			refused++
		} else if rc != 0 {
			t.Fatalf("publish %d: PUBACK %#x", i, rc)
		}
	}
	if refused == 0 {
		t.Fatal("60 messages at once and no 0x97: the rate limit did not apply")
	}

	// Connection attempts: 6 a minute per client id. device-2 has made
	// none yet; the 7th attempt in a row is refused.
	var last byte
	for i := 0; i < 7; i++ {
		c, _, rc := dial("device-2", "device-2", "device-2-secret")
		last = rc
		if c != nil {
			_ = c.Disconnect(&paho.Disconnect{})
		}
	}
	if last != 0x9F {
		t.Fatalf("7th connection attempt in a minute: CONNACK %#x, want 0x9F", last)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("the test's context ran out")
	}
}
