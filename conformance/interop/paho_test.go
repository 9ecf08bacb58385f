package interop

import (
	"context"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	pahov3 "github.com/eclipse/paho.mqtt.golang"
)

func dialTCP(t *testing.T) net.Conn {
	t.Helper()
	addr := strings.TrimPrefix(broker(t), "tcp://")
	c, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pahoGolang is github.com/eclipse/paho.golang, an MQTT 5.0 client.
type pahoGolang struct{}

func (pahoGolang) name() string     { return "paho.golang" }
func (pahoGolang) versions() []byte { return []byte{5} }

func (pahoGolang) connect(t *testing.T, id string, clean bool, will *msg, onMsg func(msg)) (*paho.Client, net.Conn) {
	t.Helper()
	conn := dialTCP(t)
	cfg := paho.ClientConfig{ClientID: id, Conn: conn, OnClientError: func(error) {}}
	if onMsg != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			p := pr.Packet
			onMsg(msg{Topic: p.Topic, QoS: p.QoS, Retain: p.Retain, Payload: string(p.Payload)})
			return true, nil
		}}
	}
	c := paho.NewClient(cfg)
	cp := &paho.Connect{ClientID: id, CleanStart: clean, KeepAlive: 30}
	if !clean {
		exp := uint32(300)
		cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: &exp}
	}
	if will != nil {
		cp.WillMessage = &paho.WillMessage{Topic: will.Topic, Payload: []byte(will.Payload), QoS: will.QoS, Retain: will.Retain}
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	ack, err := c.Connect(ctx, cp)
	if err != nil {
		t.Fatalf("paho.golang connect: %v", err)
	}
	if ack.ReasonCode != 0 {
		t.Fatalf("paho.golang connect: CONNACK 0x%02x", ack.ReasonCode)
	}
	return c, conn
}

func (p pahoGolang) subscribe(t *testing.T, v byte, s subSpec) (<-chan msg, func()) {
	ch := make(chan msg, 64)
	c, _ := p.connect(t, s.ClientID, s.Clean, nil, func(m msg) { ch <- m })
	if s.Subscribe {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		ack, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: s.Topic, QoS: s.QoS}}})
		if err != nil || ack.Reasons[0] >= 0x80 {
			t.Fatalf("paho.golang subscribe: %v %v", ack, err)
		}
	}
	stop := func() { c.Disconnect(&paho.Disconnect{ReasonCode: 0}) }
	if s.Detach {
		stop()
		return nil, func() {}
	}
	return ch, stop
}

func (p pahoGolang) publish(t *testing.T, v byte, m msg) {
	c, _ := p.connect(t, "pub"+tag(), true, nil, nil)
	defer c.Disconnect(&paho.Disconnect{ReasonCode: 0})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := c.Publish(ctx, &paho.Publish{Topic: m.Topic, QoS: m.QoS, Retain: m.Retain, Payload: []byte(m.Payload)}); err != nil {
		t.Fatalf("paho.golang publish: %v", err)
	}
}

func (p pahoGolang) withWill(t *testing.T, v byte, will msg) func() {
	_, conn := p.connect(t, "will"+tag(), true, &will, nil)
	return func() { conn.Close() }
}

// pahoMQTTGolang is github.com/eclipse/paho.mqtt.golang, an MQTT 3.1.1
// client.
type pahoMQTTGolang struct{}

func (pahoMQTTGolang) name() string     { return "paho.mqtt.golang" }
func (pahoMQTTGolang) versions() []byte { return []byte{4} }

func (pahoMQTTGolang) connect(t *testing.T, id string, clean bool, will *msg, onMsg func(msg)) (pahov3.Client, func() net.Conn) {
	t.Helper()
	var mu sync.Mutex
	var conn net.Conn
	opts := pahov3.NewClientOptions().AddBroker(broker(t)).SetClientID(id).SetCleanSession(clean).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectTimeout(wait).
		SetCustomOpenConnectionFn(func(*url.URL, pahov3.ClientOptions) (net.Conn, error) {
			c := dialTCP(t)
			mu.Lock()
			conn = c
			mu.Unlock()
			return c, nil
		})
	if will != nil {
		opts.SetWill(will.Topic, will.Payload, will.QoS, will.Retain)
	}
	if onMsg != nil {
		opts.SetDefaultPublishHandler(func(_ pahov3.Client, m pahov3.Message) {
			onMsg(msg{Topic: m.Topic(), QoS: m.Qos(), Retain: m.Retained(), Payload: string(m.Payload())})
		})
	}
	c := pahov3.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("paho.mqtt.golang connect: %v", tok.Error())
	}
	return c, func() net.Conn { mu.Lock(); defer mu.Unlock(); return conn }
}

func (p pahoMQTTGolang) subscribe(t *testing.T, v byte, s subSpec) (<-chan msg, func()) {
	ch := make(chan msg, 64)
	c, _ := p.connect(t, s.ClientID, s.Clean, nil, func(m msg) { ch <- m })
	if s.Subscribe {
		if tok := c.Subscribe(s.Topic, s.QoS, nil); !tok.WaitTimeout(wait) || tok.Error() != nil {
			t.Fatalf("paho.mqtt.golang subscribe: %v", tok.Error())
		}
	}
	stop := func() { c.Disconnect(100) }
	if s.Detach {
		stop()
		return nil, func() {}
	}
	return ch, stop
}

func (p pahoMQTTGolang) publish(t *testing.T, v byte, m msg) {
	c, _ := p.connect(t, "pub"+tag(), true, nil, nil)
	defer c.Disconnect(100)
	if tok := c.Publish(m.Topic, m.QoS, m.Retain, m.Payload); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("paho.mqtt.golang publish: %v", tok.Error())
	}
}

func (p pahoMQTTGolang) withWill(t *testing.T, v byte, will msg) func() {
	c, conn := p.connect(t, "will"+tag(), true, &will, nil)
	return func() {
		conn().Close() // no DISCONNECT: the broker sees a network failure
		c.Disconnect(0)
	}
}
