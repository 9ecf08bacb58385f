package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plumemq/plume/cmd/plume/internal/config"
	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/internal/testcerts"
)

// rewrite gives srv a new config file holding yaml and reloads it. The file
// is a new one, beside the first, so that the watcher of the first (which
// reloads on its own) cannot take the change first.
func rewrite(t *testing.T, srv *server, yaml string) ReloadResult {
	t.Helper()
	path := testcerts.Write(t, filepath.Dir(srv.configPath), "next-"+strings.ReplaceAll(t.Name(), "/", "-")+".yaml", []byte(yaml))
	srv.reloadMu.Lock()
	srv.configPath = path
	srv.reloadMu.Unlock()
	return srv.reload(context.Background(), "test")
}

// mqtt5 is a raw MQTT 5.0 connection.
type mqtt5 struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dial5(t *testing.T, addr, id string) (*mqtt5, *packets.Connack) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := &mqtt5{t: t, conn: conn, r: bufio.NewReader(conn)}
	c.send(&packets.Connect{ProtocolName: "MQTT", ProtocolVersion: packets.V5, CleanStart: true, ClientID: id})
	ack, ok := c.next().(*packets.Connack)
	if !ok {
		t.Fatal("no CONNACK")
	}
	return c, ack
}

func (c *mqtt5) send(p packets.Packet) {
	c.t.Helper()
	if _, err := c.conn.Write(p.Append(nil, packets.V5)); err != nil {
		c.t.Fatal(err)
	}
}

// next reads the next packet; nil when the connection ended.
func (c *mqtt5) next() packets.Packet {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	p, err := packets.ReadPacket(c.r, packets.V5, 0)
	if err != nil {
		return nil
	}
	return p
}

func TestReloadLimitsMaxPacketSize(t *testing.T) {
	srv, _ := startFromYAML(t, t.TempDir(), "listeners: [{address: '127.0.0.1:0'}]\nlimits: {max_packet_size: 4096}\n")
	addr := srv.listening()[0].Address()
	res := rewrite(t, srv, "listeners: [{address: '127.0.0.1:0'}]\nlimits: {max_packet_size: 512}\n")
	if res.Err != nil || !slices.Equal(res.Applied, []string{"limits.max_packet_size"}) {
		t.Fatalf("reload: %+v, want limits.max_packet_size applied", res)
	}
	c, ack := dial5(t, addr, "after")
	if ack.Properties.MaximumPacketSize != 512 {
		t.Fatalf("CONNACK after the reload announces %d, want 512", ack.Properties.MaximumPacketSize)
	}
	c.send(&packets.Publish{Topic: "big", QoS: 1, PacketID: 1, Payload: make([]byte, 1024)})
	if d, ok := c.next().(*packets.Disconnect); !ok || d.Reason != packets.PacketTooLarge {
		t.Fatalf("a 1 KiB publish after the reload: got %v, want DISCONNECT 0x95", d)
	}
}

func TestReloadSysInterval(t *testing.T) {
	srv, _ := startFromYAML(t, t.TempDir(), "listeners: [{address: '127.0.0.1:0'}]\nsys_interval: -1s\n")
	c, _ := dial5(t, srv.listening()[0].Address(), "sys")
	c.send(&packets.Subscribe{PacketID: 1, Subscriptions: []packets.Subscription{{Filter: "$SYS/broker/version"}}})
	if _, ok := c.next().(*packets.Suback); !ok {
		t.Fatal("no SUBACK")
	}
	res := rewrite(t, srv, "listeners: [{address: '127.0.0.1:0'}]\nsys_interval: 1h\n")
	if res.Err != nil || !slices.Equal(res.Applied, []string{"sys_interval"}) {
		t.Fatalf("reload: %+v", res)
	}
	if p, ok := c.next().(*packets.Publish); !ok || p.Topic != "$SYS/broker/version" {
		t.Fatalf("after turning $SYS on: got %v, want $SYS/broker/version", p)
	}
}

func TestReloadLogLevel(t *testing.T) {
	srv, logs := startFromYAML(t, t.TempDir(), "log: {level: warn, format: json}\nlisteners: [{address: '127.0.0.1:0'}]\n")
	t.Cleanup(func() { zerolog.SetGlobalLevel(zerolog.TraceLevel) })
	srv.log.Info().Msg("before the reload")
	res := rewrite(t, srv, "log: {level: debug, format: json}\nlisteners: [{address: '127.0.0.1:0'}]\n")
	if res.Err != nil || !slices.Equal(res.Applied, []string{"log.level"}) {
		t.Fatalf("reload: %+v", res)
	}
	srv.log.Debug().Msg("after the reload")
	if len(logged(logs, "before the reload")) != 0 || len(logged(logs, "after the reload")) != 1 {
		t.Fatalf("info before (level warn) and debug after (level debug) logged wrongly:\n%s", logs)
	}
}

func TestReloadListenersAddedRemovedAndMoved(t *testing.T) {
	portB, portC := freePort(t), freePort(t)
	srv, _ := startFromYAML(t, t.TempDir(), "listeners: [{name: a, address: '127.0.0.1:0'}]\n")
	addrA := srv.listening()[0].Address()
	two := "listeners: [{name: a, address: '127.0.0.1:0'}, {name: b, address: '127.0.0.1:" + portB + "'}]\n"
	res := rewrite(t, srv, two)
	if res.Err != nil || !slices.Equal(res.Applied, []string{"listeners[1]"}) {
		t.Fatalf("adding b: %+v", res)
	}
	onB, ack := dial5(t, "127.0.0.1:"+portB, "on-b")
	if ack.Reason != packets.Success {
		t.Fatalf("CONNECT on the added listener: %v", ack.Reason)
	}
	res = rewrite(t, srv, "listeners: [{name: a, address: '127.0.0.1:0'}]\n")
	if res.Err != nil || !slices.Equal(res.Applied, []string{"listeners[1]"}) {
		t.Fatalf("removing b: %+v", res)
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+portB, 5*time.Second); err == nil {
		c.Close()
		t.Fatal("the removed listener still accepts")
	}
	onB.send(&packets.Pingreq{})
	if _, ok := onB.next().(*packets.Pingresp); !ok {
		t.Fatal("a connection of the removed listener was dropped")
	}
	// a moves: the new address serves, the old one is closed.
	res = rewrite(t, srv, "listeners: [{name: a, address: '127.0.0.1:"+portC+"'}]\n")
	if res.Err != nil || !slices.Equal(res.Applied, []string{"listeners[0].address"}) {
		t.Fatalf("moving a: %+v", res)
	}
	if _, ack := dial5(t, "127.0.0.1:"+portC, "on-c"); ack.Reason != packets.Success {
		t.Fatalf("CONNECT on the moved listener: %v", ack.Reason)
	}
	if c, err := net.DialTimeout("tcp", addrA, 5*time.Second); err == nil {
		c.Close()
		t.Fatal("the moved listener's old address still accepts")
	}
}

func TestReloadAllowAnonymous(t *testing.T) {
	srv, _ := startFromYAML(t, t.TempDir(), "allow_anonymous: true\nlisteners: [{address: '127.0.0.1:0'}]\n")
	addr := srv.listening()[0].Address()
	if got := connack311(t, addr); got[3] != 0 {
		t.Fatalf("anonymous CONNECT before: % x", got)
	}
	res := rewrite(t, srv, "allow_anonymous: false\nlisteners: [{address: '127.0.0.1:0'}]\n")
	if res.Err != nil || !slices.Equal(res.Applied, []string{"allow_anonymous"}) {
		t.Fatalf("reload: %+v", res)
	}
	if got := connack311(t, addr); got[3] != 5 {
		t.Fatalf("anonymous CONNECT after allow_anonymous: false: % x, want return code 5", got)
	}
}

func TestReloadSessionOwnerMismatchAndListenerPolicy(t *testing.T) {
	srv, _ := startFromYAML(t, t.TempDir(), "listeners: [{address: '127.0.0.1:0', allow_anonymous: true}]\n")
	addr := srv.listening()[0].Address()
	res := rewrite(t, srv, "session_owner_mismatch: fresh\nlisteners: [{address: '127.0.0.1:0', allow_anonymous: false}]\n")
	want := []string{"session_owner_mismatch", "listeners[0].allow_anonymous"}
	if res.Err != nil || !slices.Equal(res.Applied, want) {
		t.Fatalf("reload: %+v, want %q applied", res, want)
	}
	if got := connack311(t, addr); got[3] != 5 {
		t.Fatalf("anonymous CONNECT after the listener's allow_anonymous: false: % x", got)
	}
}

// Keys the broker cannot change live are named at warn, on every reload
// until the restart; the rest of the file still applies.
func TestReloadNamesKeysThatNeedARestart(t *testing.T) {
	dir := t.TempDir()
	srv, logs := startFromYAML(t, dir, "log: {format: json}\nlisteners: [{address: '127.0.0.1:0'}]\n")
	next := "log: {format: console}\nlisteners: [{address: '127.0.0.1:0'}]\nstore: {path: data}\nplugins: {engine: wazero}\nsys_interval: 1h\n"
	for i := range 2 {
		res := rewrite(t, srv, next)
		want := []string{"log.format", "plugins.engine", "store"}
		applied := []string{"sys_interval"}
		if i == 1 {
			applied = nil // applied the first time
		}
		if res.Err != nil || !slices.Equal(res.NeedsRestart, want) || !slices.Equal(res.Applied, applied) {
			t.Fatalf("reload %d: %+v, want %q to need a restart and %q applied", i, res, want, applied)
		}
	}
	for _, k := range []string{"log.format", "store", "plugins.engine"} {
		lines := logged(logs, "config changed: "+k+" needs a restart to take effect")
		if len(lines) != 2 || lines[0]["level"] != "warn" || lines[0]["key"] != k {
			t.Errorf("%s: %d warn lines naming it, want one per reload: %v", k, len(lines), lines)
		}
	}
}

// A file that does not validate changes nothing, and says so.
func TestFailedReloadChangesNothing(t *testing.T) {
	srv, logs := startFromYAML(t, t.TempDir(), "log: {format: json}\nlisteners: [{address: '127.0.0.1:0'}]\nlimits: {max_topic_length: 30}\n")
	res := rewrite(t, srv, "log: {format: json}\nlisteners: [{address: '127.0.0.1:0'}, {name: b, address: '127.0.0.1:0'}]\nlimits: {max_topic_length: 10, max_qos: 5}\n")
	if res.Err == nil || !strings.Contains(res.Err.Error(), "limits.max_qos") || len(res.Applied) != 0 || len(res.NeedsRestart) != 0 {
		t.Fatalf("reload of an invalid file: %+v, want an error naming limits.max_qos and nothing applied", res)
	}
	if got := srv.broker.Limits().MaxTopicLength; got != 30 {
		t.Fatalf("max_topic_length is %d after a failed reload, want 30", got)
	}
	if n := len(srv.listening()); n != 1 {
		t.Fatalf("%d listeners after a failed reload, want 1", n)
	}
	if len(logged(logs, "config reload failed: the file does not load; nothing changed")) != 1 {
		t.Fatalf("no error line saying nothing changed:\n%s", logs)
	}
}

// A listener that does not bind is reported; the rest is applied.
func TestReloadWithAListenerThatDoesNotBind(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	srv, _ := startFromYAML(t, t.TempDir(), "listeners: [{name: a, address: '127.0.0.1:0'}]\n")
	res := rewrite(t, srv, "listeners: [{name: a, address: '127.0.0.1:0'}, {name: b, address: '"+taken.Addr().String()+"'}]\nlimits: {max_topic_length: 10}\n")
	if res.Err == nil || !strings.Contains(res.Err.Error(), `listener "b"`) {
		t.Fatalf("reload: %+v, want listener b's bind error", res)
	}
	if srv.broker.Limits().MaxTopicLength != 10 || len(srv.listening()) != 1 {
		t.Fatalf("after a failed bind: max_topic_length %d, %d listeners; want 10 and 1", srv.broker.Limits().MaxTopicLength, len(srv.listening()))
	}
}

// A TLS listener whose cert_file names another file serves that one.
func TestReloadCertFilePathChange(t *testing.T) {
	dir := t.TempDir()
	_, roots := serverCert(t, dir, 0x201)
	other := filepath.Join(dir, "other")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	_, roots2 := serverCert(t, other, 0x202)
	tlsYAML := func(sub string) string {
		return "listeners: [{name: s, type: tls, address: '127.0.0.1:0', cert_file: " + sub + "server.pem, key_file: " + sub + "server.key}]\n"
	}
	srv, _ := startFromYAML(t, dir, tlsYAML(""))
	if got := servedSerial(t, srv.listening()[0].Address(), roots); got != "201" {
		t.Fatalf("serial %s, want 201", got)
	}
	res := rewrite(t, srv, tlsYAML("other/"))
	if res.Err != nil || !slices.Equal(res.Applied, []string{"listeners[0].cert_file", "listeners[0].key_file"}) {
		t.Fatalf("reload: %+v", res)
	}
	if got := servedSerial(t, srv.listening()[0].Address(), roots2); got != "202" {
		t.Fatalf("serial %s after cert_file changed, want 202", got)
	}
}

// Reloads while clients publish: run with -race.
func TestReloadWhileClientsPublish(t *testing.T) {
	srv, _ := startFromYAML(t, t.TempDir(), "listeners: [{name: a, address: '127.0.0.1:0'}]\n")
	addr := srv.listening()[0].Address()
	done := make(chan struct{})
	errs := make(chan error, 4)
	for i := range 4 {
		c, _ := dial5(t, addr, "pub-"+string(rune('a'+i)))
		go func() {
			for n := uint16(1); ; n++ {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				if _, err := c.conn.Write((&packets.Publish{Topic: "load/t", Payload: []byte("x")}).Append(nil, packets.V5)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range 20 {
		res := rewrite(t, srv, "listeners: [{name: a, address: '127.0.0.1:0'}]\nlimits: {max_topic_length: "+
			[]string{"100", "200"}[i%2]+", max_write_buffer: "+[]string{"1048576", "2097152"}[i%2]+"}\nallow_anonymous: "+[]string{"true", "false"}[i%2]+"\nsys_interval: "+[]string{"1h", "-1s"}[i%2]+"\n")
		if res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	close(done)
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatalf("a publisher's connection failed during reloads: %v", err)
		}
	}
}

func TestEveryConfigKeyHasAReloadRule(t *testing.T) {
	keys := config.Keys("plugins.chain")
	for _, k := range keys {
		if ruleFor(k) == nil {
			t.Errorf("config key %q has no row in reloadKeys: say whether a reload applies it or it needs a restart", k)
		}
	}
	names := map[string]bool{}
	for _, a := range appliers {
		names[a.name] = true
	}
	for _, r := range reloadKeys {
		if !slices.Contains(keys, r.key) && r.key != "listeners[]" && r.key != "store" && r.key != "cluster" {
			t.Errorf("reloadKeys row %q is not a config key", r.key)
		}
		if r.apply != "" && !names[r.apply] {
			t.Errorf("reloadKeys row %q names applier %q, which does not exist", r.key, r.apply)
		}
	}
}

// readmeRow is r as a row of README's table.
func readmeRow(r reloadRule) string {
	how := "applied"
	if r.apply == "" {
		how = "needs a restart"
	}
	return fmt.Sprintf("| `%s` | %s | %s |", r.key, how, r.note)
}

// README's table "Reloading the configuration" is reloadKeys, row for row.
func TestREADMEReloadTableIsTheKeyTable(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n### Reloading the configuration\n")
	if !ok {
		t.Fatal("README.md has no section \"### Reloading the configuration\" (under Operating)")
	}
	if i := strings.Index(sec, "\n#"); i >= 0 {
		sec = sec[:i]
	}
	var rows []string
	for _, l := range strings.Split(sec, "\n") {
		if strings.HasPrefix(l, "| `") {
			rows = append(rows, l)
		}
	}
	var want []string
	for _, r := range reloadKeys {
		want = append(want, readmeRow(r))
	}
	if !slices.Equal(rows, want) {
		t.Fatalf("README's reload table differs from reloadKeys; it should read:\n%s", strings.Join(want, "\n"))
	}
}
