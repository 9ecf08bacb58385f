package interop

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/plumemq/plume/conformance/internal/testflags"
)

// mqttJS is the npm package mqtt (MQTT.js) on Node, driven by js/interop.js.
// via is the transport: "" for -broker (TCP), else "ws", "wss" or
// "wss+mTLS" for the broker's WebSocket listener that -broker-ws,
// -broker-wss or -broker-wss-mtls names.
type mqttJS struct{ via string }

func (j mqttJS) name() string {
	if j.via == "" {
		return "MQTT.js"
	}
	return "MQTT.js/" + j.via
}

func (mqttJS) versions() []byte { return []byte{4, 5} }

// target is where MQTT.js connects: the URL and, over TLS, the PEM files it
// passes (ca, cert, key). It skips the test when the listener's flag is not
// given.
func (j mqttJS) target(t *testing.T) (string, map[string]string) {
	t.Helper()
	switch j.via {
	case "":
		return "mqtt://" + strings.TrimPrefix(broker(t), "tcp://"), nil
	case "ws":
		return flagURL(t, "broker-ws", *testflags.BrokerWS), nil
	case "wss":
		return flagURL(t, "broker-wss", *testflags.BrokerWSS), map[string]string{"ca": tlsFile(t, "cafile", *testflags.CAFile)}
	case "wss+mTLS":
		return flagURL(t, "broker-wss-mtls", *testflags.BrokerWSSMTLS), map[string]string{
			"ca":   tlsFile(t, "cafile", *testflags.CAFile),
			"cert": tlsFile(t, "client-cert", *testflags.ClientCertFile),
			"key":  tlsFile(t, "client-key", *testflags.ClientKeyFile),
		}
	}
	t.Fatalf("MQTT.js: unknown transport %q", j.via)
	return "", nil
}

func flagURL(t *testing.T, name, url string) string {
	t.Helper()
	if url == "" {
		t.Skipf("no -%s given", name)
	}
	return url
}

// tlsFile returns the absolute path of a -cafile, -client-cert or
// -client-key: Node runs in js/, not where go test was started.
func tlsFile(t *testing.T, name, path string) string {
	t.Helper()
	if path == "" {
		t.Fatalf("-%s is needed with the wss listeners", name)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

var npmOnce sync.Once
var npmErr error

// script returns the path of interop.js, installing its pinned dependencies
// (npm ci, from package-lock.json) on first use. Without node the test is
// skipped, unless the environment variable CI is set (.ci/run sets it): CI
// installs node, so there its absence is a broken set-up that must fail.
func (mqttJS) script(t *testing.T) string {
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("node not installed, and CI is set")
		}
		t.Skip("node not installed")
	}
	dir, _ := filepath.Abs("js")
	npmOnce.Do(func() {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "mqtt")); err == nil {
			return
		}
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			npmErr = fmt.Errorf("npm ci: %v: %s", err, out)
		}
	})
	if npmErr != nil {
		t.Fatal(npmErr)
	}
	return filepath.Join(dir, "interop.js")
}

// run starts interop.js with cmd, the target's URL and its TLS files but
// those named in leave.
func (j mqttJS) run(t *testing.T, cmd map[string]any, leave ...string) *proc {
	script := j.script(t)
	url, files := j.target(t)
	cmd["url"] = url
	// The script's own limit, as generous as the Go side's: Node and a TLS
	// handshake on a busy 2-core machine can take seconds.
	cmd["timeoutMs"] = wait.Milliseconds()
	for k, v := range files {
		if !slices.Contains(leave, k) {
			cmd[k] = v
		}
	}
	b, _ := json.Marshal(cmd)
	return start(t, "node", script, string(b))
}

func (j mqttJS) subscribe(t *testing.T, v byte, s subSpec) (<-chan msg, func()) {
	cmd := map[string]any{"op": "sub", "version": v, "clientId": s.ClientID, "clean": s.Clean, "topic": s.Topic,
		"qos": s.QoS, "subscribe": s.Subscribe, "count": s.Count, "exitAfterSubscribe": s.Detach}
	if !s.Clean {
		cmd["sessionExpiry"] = 300
	}
	p := j.run(t, cmd)
	p.waitFor(t, "READY", func(l string) bool { return l == "READY" })
	if s.Detach {
		p.waitFor(t, "DONE", func(l string) bool { return l == "DONE" })
		return nil, func() {}
	}
	ch := make(chan msg, 64)
	go func() {
		defer close(ch)
		for l := range p.rest() {
			var m msg
			if strings.HasPrefix(l, "{") && json.Unmarshal([]byte(l), &m) == nil {
				ch <- m
			}
		}
	}()
	return ch, p.kill
}

func (j mqttJS) publish(t *testing.T, v byte, m msg) {
	p := j.run(t, map[string]any{"op": "pub", "version": v, "clientId": "pub" + tag(), "topic": m.Topic,
		"payload": m.Payload, "qos": m.QoS, "retain": m.Retain})
	p.waitFor(t, "DONE", func(l string) bool { return l == "DONE" })
}

func (j mqttJS) withWill(t *testing.T, v byte, will msg) func() {
	p := j.run(t, map[string]any{"op": "will", "version": v, "clientId": "will" + tag(),
		"will": map[string]any{"topic": will.Topic, "payload": will.Payload, "qos": will.QoS, "retain": will.Retain}})
	p.waitFor(t, "READY", func(l string) bool { return l == "READY" })
	return p.kill
}

// TestMQTTJSRefusedOverTLS shows that the wss runs of TestInterop verify
// what they claim: without the CA that signed the broker's certificate
// MQTT.js refuses the broker, and without a client certificate the
// mutual-TLS listener refuses MQTT.js.
func TestMQTTJSRefusedOverTLS(t *testing.T) {
	broker(t)
	for _, c := range []struct {
		name, via string
		leave     []string // TLS files not passed
		want      string   // in Node's error
	}{
		{"UntrustedBroker", "wss", []string{"ca"}, "unable to verify"},
		{"NoClientCertificate", "wss+mTLS", []string{"cert", "key"}, "certificate required"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			j := mqttJS{via: c.via}
			p := j.run(t, map[string]any{"op": "connect", "version": 5, "clientId": "tls" + tag()}, c.leave...)
			var lines []string
			for l := range p.rest() {
				lines = append(lines, l)
			}
			<-p.done
			if strings.Contains(strings.Join(lines, "\n"), "CONNECTED") || p.cmd.ProcessState.Success() {
				t.Fatalf("MQTT.js connected over %s without %v", c.via, c.leave)
			}
			if msg := p.stderr.String(); !strings.Contains(msg, c.want) || strings.Contains(msg, "timed out") {
				t.Fatalf("MQTT.js failed, but not with %q: %s", c.want, msg)
			}
		})
	}
}
