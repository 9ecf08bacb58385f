package e2e

import (
	"fmt"
	"sync"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/host"
	"github.com/plumemq/plume/host/plugintest"
	"github.com/plumemq/plume/plugins/passwd"
)

// MQTT codes the auth tests expect.
const (
	reasonBadUserOrPassword = 0x86 // 5.0 CONNACK
	reasonNotAuthorized     = 0x87 // 5.0 CONNACK, PUBACK
	rcBadUserOrPassword     = 4    // 3.1.1 CONNACK return code
	rcNotAuthorized         = 5    // 3.1.1 CONNACK return code
)

// bobHash is "hunter2" as plume passwd writes it with -H sha512-pbkdf2,
// made once for the package's tests.
var bobHash = sync.OnceValue(func() string {
	h, err := passwd.New(passwd.PBKDF2, []byte("hunter2"), 0, passwd.Argon2Params{})
	if err != nil {
		panic(err)
	}
	return h.String()
})

// authConfig is auth-go's JSON config: alice in clear, bob as a salted hash.
func authConfig(denyAnonymous bool) string {
	return fmt.Sprintf(`{
		"users": {
			"alice": {"password": "s3cret", "attributes": {"role": "admin"}},
			"bob":   {"password": %q, "attributes": {"role": "user"}}
		},
		"deny_anonymous": %t
	}`, bobHash(), denyAnonymous)
}

func authGo(t *testing.T) string { return plugintest.BuildGo(t, authGoDir, ".") }

// startAuth serves a broker whose chain is auth-go with config, followed by
// the plugins in then. The broker itself admits anonymous clients, so that a
// refused anonymous client shows the plugin's decision, not the broker's.
func startAuth(t *testing.T, config string, then ...host.PluginConfig) *env {
	t.Helper()
	cfg := host.Config{Plugins: append([]host.PluginConfig{plugin("auth", authGo(t), config)}, then...)}
	return start(t, cfg, broker.Options{AllowAnonymous: true})
}

func TestAuthGoDecidesV5Connects(t *testing.T) {
	for _, deny := range []bool{false, true} {
		t.Run(fmt.Sprintf("deny_anonymous=%t", deny), func(t *testing.T) {
			e := startAuth(t, authConfig(deny))
			anonymous := byte(0)
			if deny {
				anonymous = reasonNotAuthorized
			}
			for _, tc := range []struct {
				name, user, password string
				want                 byte
			}{
				{"right password", "alice", "s3cret", 0},
				{"hashed password", "bob", "hunter2", 0},
				{"wrong password", "alice", "S3CRET", reasonBadUserOrPassword},
				{"unknown user", "mallory", "s3cret", reasonBadUserOrPassword},
				{"empty password", "alice", "", reasonBadUserOrPassword},
				{"anonymous", "", "", anonymous},
			} {
				cp := &paho.Connect{ClientID: "v5-" + tc.name}
				if tc.user != "" {
					cp.Username, cp.UsernameFlag = tc.user, true
					cp.Password, cp.PasswordFlag = []byte(tc.password), true
				}
				_, ack, err := connectV5(t, e.addr, cp)
				if ack == nil {
					t.Fatalf("%s: no CONNACK: %v", tc.name, err)
				}
				if ack.ReasonCode != tc.want {
					t.Errorf("%s: CONNACK %#x, want %#x (%v)", tc.name, ack.ReasonCode, tc.want, err)
				}
				if (tc.want == 0) != (err == nil) {
					t.Errorf("%s: connect error %v with CONNACK %#x", tc.name, err, ack.ReasonCode)
				}
			}
		})
	}
}

func TestAuthGoDecidesV311Connects(t *testing.T) {
	for _, deny := range []bool{false, true} {
		t.Run(fmt.Sprintf("deny_anonymous=%t", deny), func(t *testing.T) {
			e := startAuth(t, authConfig(deny))
			anonymous := byte(0)
			if deny {
				anonymous = rcNotAuthorized
			}
			for _, tc := range []struct {
				name, user, password string
				want                 byte
			}{
				{"right password", "alice", "s3cret", 0},
				{"hashed password", "bob", "hunter2", 0},
				{"wrong password", "bob", "hunter3", rcBadUserOrPassword},
				{"unknown user", "mallory", "x", rcBadUserOrPassword},
				{"anonymous", "", "", anonymous},
			} {
				_, rc, err := connectV311(t, e.addr, "v3-"+tc.name, tc.user, tc.password, nil)
				if rc != tc.want {
					t.Errorf("%s: return code %d, want %d (%v)", tc.name, rc, tc.want, err)
				}
			}
		})
	}
}

// The attributes auth-go attaches at CONNECT are what a later plugin's
// authorize sees: probe allows a publish to role/R only for a client whose
// role attribute is R.
func TestAuthAttributesReachLaterPlugin(t *testing.T) {
	e := startAuth(t, authConfig(true), plugin("probe", testPlugin(t, "probe"), ""))
	connect := func(user, password string) *v5Client {
		return mustConnectV5(t, e.addr, &paho.Connect{ClientID: "attr-" + user,
			Username: user, UsernameFlag: true, Password: []byte(password), PasswordFlag: true})
	}
	alice, bob := connect("alice", "s3cret"), connect("bob", "hunter2")
	// Subscribing is authorized by the same attribute: each user watches
	// its own role's topic.
	watchers := map[string]*v5Client{"role/admin": alice, "role/user": bob}
	alice.subscribe(t, "role/admin")
	bob.subscribe(t, "role/user")
	if ack, err := bob.Subscribe(ctxWait(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "role/admin", QoS: 1}}}); ack == nil || len(ack.Reasons) != 1 || ack.Reasons[0] != reasonNotAuthorized {
		t.Errorf("bob subscribes to role/admin: %+v, %v; want SUBACK 0x87", ack, err)
	}

	for _, tc := range []struct {
		who        *v5Client
		name       string
		topic      string
		wantReason byte
	}{
		{alice, "alice", "role/admin", 0},
		{alice, "alice", "role/user", reasonNotAuthorized},
		{bob, "bob", "role/user", 0},
		{bob, "bob", "role/admin", reasonNotAuthorized},
	} {
		payload := []byte(tc.name + "->" + tc.topic)
		reason, why := tc.who.publish1(t, tc.topic, payload)
		if reason != tc.wantReason {
			t.Errorf("%s publishes to %s: PUBACK %#x %q, want %#x", tc.name, tc.topic, reason, why, tc.wantReason)
			continue
		}
		if reason == reasonNotAuthorized && why != "role mismatch" {
			t.Errorf("%s publishes to %s: reason string %q, want probe's %q", tc.name, tc.topic, why, "role mismatch")
		}
		if reason == 0 {
			if m := watchers[tc.topic].next(t); m.Topic != tc.topic || string(m.Payload) != string(payload) {
				t.Errorf("watcher got %s %q, want %s %q", m.Topic, m.Payload, tc.topic, payload)
			}
		}
	}
	// Nothing denied was delivered: the next message is a marker sent last.
	if reason, _ := bob.publish1(t, "role/user", []byte("end")); reason != 0 {
		t.Fatalf("marker publish: PUBACK %#x", reason)
	}
	if m := bob.next(t); string(m.Payload) != "end" {
		t.Errorf("a denied publish was delivered: %s %q", m.Topic, m.Payload)
	}
}
