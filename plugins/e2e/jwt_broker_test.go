package e2e

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/host"
)

// startJWT serves a broker whose chain is the jwt plugin alone, admitting no
// anonymous client.
func startJWT(t *testing.T, pc host.PluginConfig, onReload func(string, error)) *env {
	t.Helper()
	return start(t, host.Config{Plugins: []host.PluginConfig{pc}, OnReload: onReload}, broker.Options{})
}

func mosquittoTool(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s not installed (Debian package mosquitto-clients): %v", tool, err)
	}
	return p
}

// runMosquitto runs a mosquitto client to its end.
func runMosquitto(t *testing.T, tool string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, mosquittoTool(t, tool), args...).CombinedOutput()
	return string(out), err
}

// Real clients with tokens in the password: mosquitto_sub admitted and
// subscribed where its ACL claim allows, receiving what an operator's token
// lets it publish; an expired token refused with "bad user name or
// password"; a subscription outside the ACL claim refused.
func TestJWTWithMosquittoClients(t *testing.T) {
	s := newJWTSigner(t, "ES256", "es")
	e := startJWT(t, plugin("jwt", jwtPlugin(t), jwtConfig(t, s)), nil)
	host, port, _ := net.SplitHostPort(e.addr)
	device := s.token(t, deviceClaims(nil))
	operator := s.token(t, deviceClaims(map[string]any{"sub": "op", "acl": map[string]any{"pub": []string{"cmd/#"}}}))

	// Retained, so that the subscriber gets it whenever its SUBSCRIBE lands.
	if out, err := runMosquitto(t, "mosquitto_pub", "-h", host, "-p", port, "-i", "op", "-u", "op", "-P", operator, "-t", "cmd/dev1", "-m", "reboot", "-q", "1", "-r"); err != nil {
		t.Fatalf("operator publish: %v\n%s", err, out)
	}
	out, err := runMosquitto(t, "mosquitto_sub", "-h", host, "-p", port, "-V", "5", "-i", "dev1", "-u", "dev1", "-P", device, "-t", "cmd/dev1", "-q", "1", "-C", "1", "-W", "10")
	if err != nil || strings.TrimSpace(out) != "reboot" {
		t.Fatalf("device subscribe: %v, %q; want the operator's reboot\nbroker log:\n%s", err, out, e.logs)
	}

	expired := s.token(t, deviceClaims(map[string]any{"exp": -time.Minute}))
	for _, v := range []string{"mqttv311", "mqttv5"} {
		out, err := runMosquitto(t, "mosquitto_pub", "-h", host, "-p", port, "-V", v, "-i", "dev1", "-u", "dev1", "-P", expired, "-t", "devices/dev1/t", "-m", "x")
		if err == nil || !strings.Contains(strings.ToLower(out), "bad user name or password") {
			t.Errorf("%s, expired token: %v, %q; want refused as bad user name or password", v, err, out)
		}
	}
	out, err = runMosquitto(t, "mosquitto_sub", "-h", host, "-p", port, "-V", "5", "-i", "dev1", "-u", "dev1", "-P", device, "-t", "devices/dev2/#", "-W", "10")
	if !strings.Contains(out, "All subscription requests were denied") { // mosquitto_sub exits 0 here
		t.Errorf("subscribe outside the acl claim: %v, %q; want the subscription denied", err, out)
	}
}

// jwtAuther answers the broker's side of method JWT: the token goes in the
// CONNECT, so no further round is expected.
type jwtAuther struct{ authenticated atomic.Int32 }

func (a *jwtAuther) Authenticate(*paho.Auth) *paho.Auth { return &paho.Auth{ReasonCode: 0x18} }
func (a *jwtAuther) Authenticated()                     { a.authenticated.Add(1) }

// connectJWT connects a paho 5.0 client with enhanced authentication,
// method JWT, the token in the Authentication Data.
func connectJWT(t *testing.T, addr, id, token string) (*paho.Client, *paho.Connack, chan *paho.Disconnect, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		t.Fatal(err)
	}
	gone := make(chan *paho.Disconnect, 1)
	c := paho.NewClient(paho.ClientConfig{Conn: conn, AuthHandler: &jwtAuther{},
		OnServerDisconnect: func(d *paho.Disconnect) { gone <- d }})
	ack, err := c.Connect(ctxWait(t), &paho.Connect{ClientID: id, KeepAlive: 60, CleanStart: true,
		Properties: &paho.ConnectProperties{AuthMethod: "JWT", AuthData: []byte(token), RequestProblemInfo: true}})
	if err != nil {
		_ = conn.Close()
		<-c.Done()
		return nil, ack, gone, err
	}
	t.Cleanup(func() {
		_ = c.Disconnect(&paho.Disconnect{})
		<-c.Done()
	})
	return c, ack, gone, nil
}

// The 5.0 enhanced-authentication method JWT with paho: admitted with the
// method echoed in CONNACK; publish and subscribe answered from the ACL
// claim (0x87 with a reason string outside it); an expired token refused
// with 0x86 and "token expired"; re-authentication with a fresh token of the
// same subject accepted, with another subject's refused.
func TestJWTEnhancedAuthWithPaho(t *testing.T) {
	s := newJWTSigner(t, "EdDSA", "ed")
	e := startJWT(t, plugin("jwt", jwtPlugin(t), jwtConfig(t, s)), nil)

	_, ack, _, err := connectJWT(t, e.addr, "dev1", s.token(t, deviceClaims(map[string]any{"exp": -time.Minute})))
	if err == nil || ack == nil || ack.ReasonCode != reasonBadUserOrPassword || ack.Properties == nil || ack.Properties.ReasonString != "token expired" {
		t.Fatalf("expired token: CONNACK %+v, %v; want 0x86 \"token expired\"", ack, err)
	}

	c, ack, gone, err := connectJWT(t, e.addr, "dev1", s.token(t, deviceClaims(nil)))
	if err != nil || ack.Properties == nil || ack.Properties.AuthMethod != "JWT" {
		t.Fatalf("valid token: CONNACK %+v, %v", ack, err)
	}
	pub := func(topic string) (byte, string) {
		pr, err := c.Publish(ctxWait(t), &paho.Publish{Topic: topic, QoS: 1, Payload: []byte("x")})
		if pr == nil {
			t.Fatalf("publish %s: %v", topic, err)
		}
		if pr.Properties == nil {
			return pr.ReasonCode, ""
		}
		return pr.ReasonCode, pr.Properties.ReasonString
	}
	if rc, why := pub("devices/dev1/temp"); rc >= 0x80 { // 0x10: no subscribers
		t.Errorf("publish inside the acl: %#x %q", rc, why)
	}
	if rc, why := pub("devices/dev2/temp"); rc != reasonNotAuthorized || !strings.Contains(why, "acl") {
		t.Errorf("publish outside the acl: %#x %q; want 0x87 naming the acl", rc, why)
	}
	sa, err := c.Subscribe(ctxWait(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "cmd/dev1", QoS: 1}, {Topic: "cmd/#", QoS: 1}}})
	if sa == nil || len(sa.Reasons) != 2 || sa.Reasons[0] != 1 || sa.Reasons[1] != reasonNotAuthorized {
		t.Errorf("subscribe cmd/dev1, cmd/#: %+v, %v; want granted 1, then 0x87", sa, err)
	}

	// Re-authentication [MQTT-4.12.1]: a fresh token of the same subject.
	fresh := s.token(t, deviceClaims(map[string]any{"exp": time.Hour}))
	if ar, err := c.Authenticate(ctxWait(t), &paho.Auth{ReasonCode: 0x19, Properties: &paho.AuthProperties{AuthMethod: "JWT", AuthData: []byte(fresh)}}); err != nil || !ar.Success {
		t.Fatalf("re-authentication with a fresh token: %+v, %v", ar, err)
	}
	other := s.token(t, deviceClaims(map[string]any{"sub": "dev2"}))
	_, _ = c.Authenticate(ctxWait(t), &paho.Auth{ReasonCode: 0x19, Properties: &paho.AuthProperties{AuthMethod: "JWT", AuthData: []byte(other)}})
	select {
	case d := <-gone:
		if d.ReasonCode != reasonNotAuthorized {
			t.Errorf("re-authentication as another subject: DISCONNECT %#x, want 0x87", d.ReasonCode)
		}
	case <-time.After(wait):
		t.Error("re-authentication as another subject: still connected")
	}
}

// The JWK Set file under live traffic: a publisher and a subscriber stay
// connected and lose nothing while the file changes; after the change a new
// key's token is admitted and the removed key's is refused for new
// connections; a broken file keeps the last good keys serving.
func TestJWKSFileReloadUnderLiveTraffic(t *testing.T) {
	dir := t.TempDir()
	jwks := filepath.Join(dir, "jwks.json")
	oldKey, newKey := newJWTSigner(t, "ES256", "2024"), newJWTSigner(t, "RS256", "2025")
	writeFileAtomic(t, jwks, []byte(mustJSON(t, map[string]any{"keys": []any{oldKey.jwk()}})))
	reloads := make(chan error, 16)
	pc := plugin("jwt", jwtPlugin(t), mustJSON(t, map[string]any{"jwks_file": jwks}))
	pc.Files = []string{"jwks_file"}
	e := startJWT(t, pc, func(_ string, err error) { reloads <- err })

	claimsFor := func(sub string) map[string]any {
		return map[string]any{"sub": sub, "exp": time.Hour, "acl": map[string]any{"all": []string{"live/#"}}}
	}
	subscriber, _, _, err := connectJWT(t, e.addr, "sub", oldKey.token(t, claimsFor("sub")))
	if err != nil {
		t.Fatal(err)
	}
	received := make(chan struct{}, 1024)
	subscriber.AddOnPublishReceived(func(paho.PublishReceived) (bool, error) { received <- struct{}{}; return true, nil })
	if sa, err := subscriber.Subscribe(ctxWait(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "live/#", QoS: 1}}}); err != nil || sa.Reasons[0] != 1 {
		t.Fatalf("subscribe: %+v, %v", sa, err)
	}
	publisher, _, _, err := connectJWT(t, e.addr, "pub", oldKey.token(t, claimsFor("pub")))
	if err != nil {
		t.Fatal(err)
	}
	var sent atomic.Int64
	stop, done := make(chan struct{}), make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			pr, err := publisher.Publish(context.Background(), &paho.Publish{Topic: "live/t", QoS: 1, Payload: []byte("m")})
			if err != nil || pr.ReasonCode != 0 {
				done <- err
				return
			}
			sent.Add(1)
		}
	}()
	stopTraffic := func() {
		close(stop)
		if err := <-done; err != nil {
			t.Fatalf("publisher failed during the reload: %v", err)
		}
	}

	writeFileAtomic(t, jwks, []byte(mustJSON(t, map[string]any{"keys": []any{newKey.jwk()}})))
	// A replacement may be seen as more than one change: wait until the
	// new key is in service, each reload being an occasion to look.
	deadline := time.After(30 * time.Second)
	for {
		select {
		case err := <-reloads:
			if err != nil {
				t.Fatalf("reload: %v", err)
			}
		case <-deadline:
			t.Fatal("the new key was not in service 30s after the file changed")
		}
		if _, _, _, err := connectJWT(t, e.addr, "new", newKey.token(t, claimsFor("new"))); err == nil {
			break
		}
	}
	_, ack, _, err := connectJWT(t, e.addr, "old", oldKey.token(t, claimsFor("old")))
	if err == nil || ack == nil || ack.ReasonCode != reasonBadUserOrPassword {
		t.Errorf("the removed key's token after the reload: %+v, %v; want 0x86", ack, err)
	}

	writeFileAtomic(t, jwks, []byte("{\"keys\": [\n  {\"kty\": \"RSA\"}\n]}"))
	if err := <-reloads; err == nil || !strings.Contains(err.Error(), jwks+":2") {
		t.Errorf("broken file: reload error %v, want the file and line", err)
	}
	if _, _, _, err := connectJWT(t, e.addr, "new2", newKey.token(t, claimsFor("new2"))); err != nil {
		t.Errorf("after a broken file the last good keys should serve: %v", err)
	}

	stopTraffic()
	for i := int64(0); i < sent.Load(); i++ {
		select {
		case <-received:
		case <-time.After(wait):
			t.Fatalf("%d of %d messages sent through the reloads were delivered", i, sent.Load())
		}
	}
	if sent.Load() == 0 {
		t.Error("no traffic during the reloads")
	}
}
