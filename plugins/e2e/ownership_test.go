package e2e

import (
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// persistent311 connects a 3.1.1 client with Clean Session 0 and returns it
// with its CONNACK return code and Session Present flag.
func persistent311(t *testing.T, addr, id, user, password string, onMsg mqtt.MessageHandler) (mqtt.Client, byte, bool) {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetProtocolVersion(4).SetCleanSession(false).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(wait).SetKeepAlive(60 * time.Second).SetDefaultPublishHandler(onMsg).
		SetUsername(user).SetPassword(password)
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(wait) {
		t.Fatalf("connect %s as %s: no CONNACK", id, user)
	}
	ct := tok.(*mqtt.ConnectToken)
	return c, ct.ReturnCode(), ct.SessionPresent()
}

// The break of issue 8, item 8, through the example password plugin: bob
// (valid password) with alice's client id and Clean Session 0 got
// session_present=1 and alice's queued messages. Now he is refused, and
// alice's session waits for her.
func TestAuthGoBobCannotResumeAlicesSession(t *testing.T) {
	e := startAuth(t, authConfig(false))
	got := make(chan string, 4)
	onMsg := func(_ mqtt.Client, m mqtt.Message) { got <- string(m.Payload()) }

	alice, rc, _ := persistent311(t, e.addr, "alice-laptop", "alice", "s3cret", onMsg)
	if rc != 0 {
		t.Fatalf("alice: return code %d", rc)
	}
	if tok := alice.Subscribe("alice/private/#", 1, nil); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	alice.Disconnect(100)
	pub := mustConnectV5(t, e.addr, &paho.Connect{ClientID: "feeder",
		Username: "alice", UsernameFlag: true, Password: []byte("s3cret"), PasswordFlag: true})
	if rc, _ := pub.publish1(t, "alice/private/diary", []byte("secret")); rc != 0 {
		t.Fatalf("feeder PUBACK %#x", rc)
	}

	bob, rc, present := persistent311(t, e.addr, "alice-laptop", "bob", "hunter2", onMsg)
	if rc != rcNotAuthorized || present {
		bob.Disconnect(0)
		t.Fatalf("bob with alice's client id: return code %d, session present %v; want 5 and none", rc, present)
	}

	alice, rc, present = persistent311(t, e.addr, "alice-laptop", "alice", "s3cret", onMsg)
	if rc != 0 || !present {
		t.Fatalf("alice back: return code %d, session present %v", rc, present)
	}
	defer alice.Disconnect(100)
	select {
	case m := <-got:
		if m != "secret" {
			t.Fatalf("alice got %q", m)
		}
	case <-time.After(wait):
		t.Fatal("alice's queued message is gone")
	}
}
