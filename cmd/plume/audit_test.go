package main

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plumemq/plume/internal/testcerts"
)

// The audit section wires the log through the binary: the plugin host's
// load and the broker's refusal each make one line in the file, which is
// relative to the config file and complete once the server has stopped.
func TestAuditSectionRecordsPluginLoadAndRefusal(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "plume.yaml")
	yaml := "listeners: [{name: a, address: '127.0.0.1:0'}]\nallow_anonymous: true\n" +
		"plugins:\n  chain:\n    - {name: closing-no, builtin: deny-all}\n" +
		"audit:\n  file: audit.log\n"
	srv := startYAML(t, path, yaml)
	if got := connack311(t, srv.listeners[0].Address()); !bytes.Equal(got, []byte{0x20, 2, 0, 0x05}) {
		stopServer(t, srv)
		t.Fatalf("CONNACK % x, want refused (5)", got)
	}
	stopServer(t, srv)

	data, err := os.ReadFile(filepath.Join(dir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		count[m["event"].(string)]++
		if m["event"] == "plugin_load" && (m["plugin"] != "closing-no" || len(m["hash"].(string)) != 64) {
			t.Errorf("plugin_load line %v lacks the plugin and its hash", m)
		}
	}
	if count["plugin_load"] != 1 || count["auth_failure"] != 1 || len(count) != 2 {
		t.Errorf("events %v, want one plugin_load and one auth_failure", count)
	}
}

// With log: true the events go to the main log, marked "audit": true. A
// device that authenticates by its certificate makes one connect with the
// certificate's identity; a client without a certificate on that listener,
// and an anonymous client where none is admitted, one auth_failure each.
func TestAuditToTheMainLogRecordsCertificateRefusals(t *testing.T) {
	dir := t.TempDir()
	ca, _ := serverCert(t, dir, 0x301)
	dev := ca.Issue(t, testcerts.Leaf{CommonName: "meter-7", Client: true})
	testcerts.Write(t, dir, "dev.pem", dev.CertPEM)
	testcerts.Write(t, dir, "dev.key", dev.KeyPEM)
	srv, logs := startFromYAML(t, dir, "log: {level: info, format: json}\naudit: {log: true}\nlisteners:\n"+
		"  - {name: devices, type: tls, address: '127.0.0.1:0', cert_file: server.pem, key_file: server.key,\n"+
		"     client_ca_file: ca.pem, client_auth: request, use_identity_as_username: true, allow_anonymous: false}\n"+
		"  - {name: closed, address: '127.0.0.1:0', allow_anonymous: false}\n")
	_, port, _ := net.SplitHostPort(srv.listeners[0].Address())
	common := []string{"-h", "localhost", "-p", port, "--cafile", dir + "/ca.pem", "-t", "meters/7", "-m", "1", "-q", "1", "-V", "mqttv5"}
	if out, err := runTool(t, "mosquitto_pub", append(common, "--cert", dir+"/dev.pem", "--key", dir+"/dev.key", "-i", "m7")...); err != nil {
		t.Fatalf("mosquitto_pub with a device certificate: %v\n%s", err, out)
	}
	if _, err := runTool(t, "mosquitto_pub", append(common, "-u", "meter-7", "-i", "nocert")...); err == nil {
		t.Fatal("mosquitto_pub without a certificate was admitted")
	}
	if got := connack311(t, srv.listeners[1].Address()); !bytes.Equal(got, []byte{0x20, 2, 0, 0x05}) {
		t.Fatalf("anonymous CONNACK % x, want refused (5)", got)
	}
	audited := func(event string) []map[string]any {
		var out []map[string]any
		for _, e := range logged(logs, "audit "+strings.ReplaceAll(event, "_", " ")) {
			if e["audit"] == true && e["event"] == event {
				out = append(out, e)
			}
		}
		return out
	}
	eventually(t, "the refusals to be audited", func() bool { return len(audited("auth_failure")) >= 2 })
	eventually(t, "the device's disconnect to be audited", func() bool { return len(audited("disconnect")) >= 1 })
	stopServer(t, srv)

	connects, failures := audited("connect"), audited("auth_failure")
	if len(connects) != 1 || connects[0]["username"] != "meter-7" || connects[0]["identity"] != "meter-7" ||
		!strings.Contains(connects[0]["cert_subject"].(string), "meter-7") || connects[0]["listener"] != "devices" {
		t.Errorf("connect events %v, want one for the device as meter-7 with its certificate", connects)
	}
	if len(failures) != 2 {
		t.Fatalf("auth_failure events %v, want two", failures)
	}
	why := map[string]string{}
	for _, f := range failures {
		why[f["listener"].(string)] = f["reason"].(map[string]any)["text"].(string)
	}
	if !strings.Contains(why["devices"], "client certificate") || !strings.Contains(why["closed"], "anonymous") {
		t.Errorf("refusals explained as %v, want the certificate rule on devices and anonymous on closed", why)
	}
}
