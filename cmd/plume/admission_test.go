package main

import (
	"context"
	"encoding/json"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/plumemq/plume/cmd/plume/internal/config"
	"github.com/plumemq/plume/internal/testcerts"
)

// startFromYAML writes yaml as plume.yaml in dir and starts a server from it.
func startFromYAML(t *testing.T, dir, yaml string) (*server, *lockedBuffer) {
	t.Helper()
	path := testcerts.Write(t, dir, "plume.yaml", []byte(yaml))
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	srv, err := start(cfg, path, logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopServer(t, srv) })
	return srv, logs
}

// logged returns the JSON log entries whose message is msg.
func logged(logs *lockedBuffer, msg string) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(logs.String(), "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) == nil && e["message"] == msg {
			out = append(out, e)
		}
	}
	return out
}

func runTool(t *testing.T, tool string, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s not installed (Debian package mosquitto-clients): %v", tool, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	return string(out), err
}

// With use_identity_as_username a device authenticates by its certificate
// alone: the certificate's common name replaces whatever username it sent,
// on a listener that admits no anonymous client; a client without a
// certificate is refused with "not authorised".
func TestUseIdentityAsUsernameWithMosquittoClients(t *testing.T) {
	dir := t.TempDir()
	ca, _ := serverCert(t, dir, 0x201)
	dev := ca.Issue(t, testcerts.Leaf{CommonName: "meter-7", Client: true})
	testcerts.Write(t, dir, "dev.pem", dev.CertPEM)
	testcerts.Write(t, dir, "dev.key", dev.KeyPEM)
	srv, logs := startFromYAML(t, dir, "log: {level: info, format: json}\nlisteners:\n"+
		"  - {name: devices, type: tls, address: '127.0.0.1:0', cert_file: server.pem, key_file: server.key,\n"+
		"     client_ca_file: ca.pem, client_auth: request, use_identity_as_username: true, allow_anonymous: false}\n")
	_, port, _ := net.SplitHostPort(srv.listeners[0].Address())
	common := []string{"-h", "localhost", "-p", port, "--cafile", dir + "/ca.pem", "-t", "meters/7", "-m", "1", "-q", "1", "-V", "mqttv5"}

	if out, err := runTool(t, "mosquitto_pub", append(common, "--cert", dir+"/dev.pem", "--key", dir+"/dev.key", "-u", "admin", "-i", "m7")...); err != nil {
		t.Fatalf("mosquitto_pub with a device certificate: %v\n%s", err, out)
	}
	var connected []map[string]any
	eventually(t, "the connect to be logged", func() bool {
		connected = logged(logs, "client connected")
		return len(connected) == 1
	})
	if connected[0]["username"] != "meter-7" {
		t.Fatalf("connected as %v, want the certificate's name meter-7: %v", connected[0]["username"], connected[0])
	}

	out, err := runTool(t, "mosquitto_pub", append(common, "-u", "meter-7", "-i", "nocert")...)
	if err == nil || !strings.Contains(strings.ToLower(out), "not authori") {
		t.Fatalf("mosquitto_pub without a certificate: %v, %q; want refused as not authorised", err, out)
	}
}

// A listener's max_connections answers the client over it with 0x97, logs
// it, and leaves the other listeners alone.
func TestListenerMaxConnectionsFromTheConfig(t *testing.T) {
	srv, logs := startFromYAML(t, t.TempDir(), "log: {level: info, format: json}\nlisteners:\n"+
		"  - {name: small, address: '127.0.0.1:0', max_connections: 1}\n"+
		"  - {name: big, address: '127.0.0.1:0'}\n")
	small, big := srv.listeners[0].Address(), srv.listeners[1].Address()
	connect := func(addr, id string) byte {
		t.Helper()
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		// 5.0 CONNECT, clean start, no properties.
		pkt := append([]byte{0x10, byte(13 + len(id)), 0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 30, 0, 0, byte(len(id))}, id...)
		if _, err := c.Write(pkt); err != nil {
			t.Fatal(err)
		}
		ack := make([]byte, 4)
		if _, err := c.Read(ack); err != nil || ack[0] != 0x20 {
			t.Fatalf("CONNACK % x, %v", ack, err)
		}
		return ack[3]
	}
	if r := connect(small, "a"); r != 0 {
		t.Fatalf("first client on small: reason %#x, want 0", r)
	}
	if r := connect(small, "b"); r != 0x97 {
		t.Fatalf("second client on small (max_connections 1): reason %#x, want 0x97", r)
	}
	if r := connect(big, "c"); r != 0 {
		t.Fatalf("client on big: reason %#x, want 0", r)
	}
	var refused []map[string]any
	eventually(t, "the refusal to be logged", func() bool {
		refused = logged(logs, "connection refused")
		return len(refused) == 1
	})
	if refused[0]["reason"] != "quota exceeded" || !strings.Contains(refused[0]["why"].(string), "max_connections (1)") {
		t.Fatalf("refusal logged as %v", refused[0])
	}
	if got := srv.broker.Stats().RefusedLimit; got != 1 {
		t.Fatalf("RefusedLimit = %d, want 1", got)
	}
}

// Anonymous clients: a listener's own allow_anonymous, else the file's, else
// only loopback listeners that do not take the PROXY protocol (a local
// balancer makes every client look local).
func TestAllowAnonymousPerListenerDefaults(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		name     string
		file     *bool
		listener config.Listener
		want     bool
	}{
		{"loopback", nil, config.Listener{Address: "127.0.0.1:1883"}, true},
		{"any address", nil, config.Listener{Address: "0.0.0.0:1883"}, false},
		{"loopback behind a balancer", nil, config.Listener{Address: "127.0.0.1:1883", ProxyProtocol: true}, false},
		{"file says yes", &yes, config.Listener{Address: "0.0.0.0:1883"}, true},
		{"listener overrides the file", &yes, config.Listener{Address: "0.0.0.0:1883", AllowAnonymous: &no}, false},
		{"listener opens itself", &no, config.Listener{Address: "0.0.0.0:1883", AllowAnonymous: &yes}, true},
	} {
		cfg := config.Config{AllowAnonymous: tc.file}
		if got := allowAnonymous(cfg, tc.listener); got != tc.want {
			t.Errorf("%s: allowAnonymous = %v, want %v", tc.name, got, tc.want)
		}
	}
}
