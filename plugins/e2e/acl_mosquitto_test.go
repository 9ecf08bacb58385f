package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/host"
	"github.com/plumemq/plume/plugins/builtin"
)

// The acl-file plugin's comparison table (plugins/acl-file/testdata): the same
// ACL file and the same cases, with real clients, against Debian's Mosquitto
// and against Plume with `builtin: acl-file`. Both must give each case its
// expected answer; "differs" cases must differ exactly as documented.
const aclTestData = repoRoot + "/plugins/acl-file/testdata"

type aclCase struct {
	line                 string
	user, client, action string
	filter, topic        string // pub: topic only
	expect               string // allow, deny, differs
}

func loadACLCases(t *testing.T) []aclCase {
	f, err := os.Open(aclTestData + "/cases.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []aclCase
	s := bufio.NewScanner(f)
	for s.Scan() {
		l := strings.TrimSpace(s.Text())
		if l == "" || l[0] == '#' {
			continue
		}
		w := strings.Fields(l)
		c := aclCase{line: l, user: w[0], client: w[1], action: w[2], expect: w[len(w)-1]}
		if c.user == "-" {
			c.user = ""
		}
		if c.action == "sub" {
			c.filter, c.topic = w[3], w[4]
		} else {
			c.topic = w[3]
		}
		cases = append(cases, c)
	}
	return cases
}

// aclResult is what a broker showed for one case.
type aclResult struct {
	delivered bool
	// delivered311, for pub: the same publish from a 3.1.1 client, which
	// both brokers acknowledge and drop when refused.
	delivered311 bool
	code         byte // pub: the PUBACK's reason; sub: the SUBACK's
}

func TestACLFileAgreesWithMosquitto(t *testing.T) {
	if _, err := os.Stat("/usr/sbin/mosquitto"); err != nil {
		t.Skip("Debian's mosquitto is not installed")
	}
	aclPath, err := filepath.Abs(aclTestData + "/acl")
	if err != nil {
		t.Fatal(err)
	}
	cases := loadACLCases(t)
	if len(cases) < 30 {
		t.Fatalf("%d cases, want at least 30", len(cases))
	}

	mosq := runACLCases(t, startMosquitto(t, aclPath), cases)

	p, _ := builtin.Lookup("acl-file")
	pc := plugin("acl", "builtin:acl-file", fmt.Sprintf(`{"file": %q}`, aclPath))
	pc.Wasm, pc.BuiltinFiles = p.Wasm, p.FileKeys
	e := start(t, host.Config{Plugins: []host.PluginConfig{pc}},
		broker.Options{AllowAnonymous: true, SysInterval: time.Hour})
	plume := runACLCases(t, e.addr, cases)

	for i, c := range cases {
		m, pl := mosq[i], plume[i]
		want := c.expect == "allow"
		switch {
		case c.expect == "differs":
			// Mosquitto grants the filter and delivers the topic; Plume refuses
			// the filter at SUBACK with 0x87.
			if !m.delivered || m.code >= 0x80 || pl.delivered || pl.code != 0x87 {
				t.Errorf("%s\n\tmosquitto %+v, plume %+v: not the documented difference", c.line, m, pl)
			}
		case m.delivered != want || pl.delivered != want:
			t.Errorf("%s\n\tdelivered: mosquitto %v, plume %v", c.line, m.delivered, pl.delivered)
		case c.action == "pub" && (m.delivered311 != want || pl.delivered311 != want):
			t.Errorf("%s\n\tdelivered from 3.1.1: mosquitto %v, plume %v", c.line, m.delivered311, pl.delivered311)
		case c.action == "pub" && ((m.code == 0x87) == want || (pl.code == 0x87) == want):
			t.Errorf("%s\n\tPUBACK: mosquitto %#x, plume %#x", c.line, m.code, pl.code)
		}
	}
}

// runACLCases runs every case against the broker at addr.
func runACLCases(t *testing.T, addr string, cases []aclCase) []aclResult {
	t.Helper()
	admin := mustConnectV5(t, addr, &paho.Connect{ClientID: "adm-watch", Username: "admin", UsernameFlag: true})
	// The broker's own retained $SYS/broker/version must be there before a
	// case looks for it.
	admin.subscribe(t, "$SYS/broker/version")
	if m := admin.next(t); m.Topic != "$SYS/broker/version" {
		t.Fatalf("%s: first message on %s", addr, m.Topic)
	}
	admin.subscribe(t, "#") // every accepted publish that a pub case makes
	out := make([]aclResult, len(cases))
	for i, c := range cases {
		tag := fmt.Sprintf("case-%d", i)
		if c.action == "pub" {
			out[i] = runPubCase(t, addr, admin, c, tag)
		} else {
			out[i] = runSubCase(t, addr, admin, c, tag)
		}
	}
	return out
}

func connectCase(t *testing.T, addr string, c aclCase) *v5Client {
	cp := &paho.Connect{ClientID: c.client}
	if c.user != "" {
		cp.Username, cp.UsernameFlag = c.user, true
	}
	return mustConnectV5(t, addr, cp)
}

// runPubCase: the client publishes the topic, then its fence; the watcher
// has the topic before the fence if and only if the broker accepted it, as
// both brokers keep one publisher's messages in order. Once from 5.0, once
// from 3.1.1.
func runPubCase(t *testing.T, addr string, watch *v5Client, c aclCase, tag string) aclResult {
	fence := fenceTopic(c.client)
	var r aclResult
	cl := connectCase(t, addr, c)
	r.code, _ = cl.publish1(t, c.topic, []byte(tag))
	if code, why := cl.publish1(t, fence, []byte(tag)); code >= 0x80 {
		t.Fatalf("%s: the fence %s was refused: %#x %s", c.line, fence, code, why)
	}
	r.delivered = watchUntilFence(t, watch, c.topic, fence, tag)
	_ = cl.Disconnect(&paho.Disconnect{})

	tag += "-3.1.1"
	v3, _, err := connectV311(t, addr, c.client, c.user, "", nil)
	if err != nil {
		t.Fatalf("%s: 3.1.1 connect: %v", c.line, err)
	}
	for _, topic := range []string{c.topic, fence} {
		if tok := v3.Publish(topic, 1, false, tag); !tok.WaitTimeout(wait) || tok.Error() != nil {
			t.Fatalf("%s: 3.1.1 publish %s: %v", c.line, topic, tok.Error())
		}
	}
	r.delivered311 = watchUntilFence(t, watch, c.topic, fence, tag)
	v3.Disconnect(100)
	return r
}

// watchUntilFence reads the watcher's messages up to the fence with tag and
// reports whether topic with tag came before it.
func watchUntilFence(t *testing.T, watch *v5Client, topic, fence, tag string) bool {
	delivered := false
	for {
		m := watch.next(t)
		if string(m.Payload) != tag {
			continue // a retained message or a fence of an earlier case
		}
		if m.Topic == fence {
			return delivered
		}
		delivered = delivered || m.Topic == topic
	}
}

// runSubCase: a retained message waits on the topic and on the client's fence;
// the client subscribes to the filter, then to the fence. Each broker sends
// the retained messages of one SUBSCRIBE before those of the next, so the
// topic's comes before the fence's if it comes at all. Both brokers check read
// access on the retained messages they send as on live ones.
func runSubCase(t *testing.T, addr string, admin *v5Client, c aclCase, tag string) aclResult {
	sys := strings.HasPrefix(c.topic, "$")
	fence := fenceTopic(c.client)
	if !sys {
		retain(t, admin, c.topic, tag)
		defer retain(t, admin, c.topic, "")
	}
	retain(t, admin, fence, tag)
	defer retain(t, admin, fence, "")
	cl := connectCase(t, addr, c)
	defer cl.Disconnect(&paho.Disconnect{})
	var r aclResult
	// Subscription identifiers tell the fence's retained message sent for the
	// second SUBSCRIBE from a copy the filter itself matched ("#" does).
	id1, id2 := 1, 2
	ack, err := cl.Subscribe(ctxWait(t), &paho.Subscribe{
		Properties:    &paho.SubscribeProperties{SubscriptionIdentifier: &id1},
		Subscriptions: []paho.SubscribeOptions{{Topic: c.filter, QoS: 1}}})
	if err != nil && ack == nil {
		t.Fatalf("%s: subscribe: %v", c.line, err)
	}
	r.code = ack.Reasons[0]
	if ack, err := cl.Subscribe(ctxWait(t), &paho.Subscribe{
		Properties:    &paho.SubscribeProperties{SubscriptionIdentifier: &id2},
		Subscriptions: []paho.SubscribeOptions{{Topic: fence, QoS: 1}}}); err != nil || ack.Reasons[0] >= 0x80 {
		t.Fatalf("%s: subscribe to the fence: %v %+v", c.line, err, ack)
	}
	for {
		m := cl.next(t)
		switch {
		case m.Topic == fence && m.Properties.SubscriptionIdentifier != nil && *m.Properties.SubscriptionIdentifier == id2:
			return r
		case m.Topic == c.topic && (sys || string(m.Payload) == tag):
			r.delivered = true
		}
	}
}

// fenceTopic is the client's fence: fence/%c, which the ACL's pattern lets
// it use; a client id holding + or # (no topic may) gets a name that the
// fence/# lines of its section cover.
func fenceTopic(client string) string {
	return "fence/" + strings.NewReplacer("+", "plus", "#", "hash").Replace(client)
}

// retain sets (or with "" clears) the retained message on topic. Both
// brokers store it before they acknowledge it.
func retain(t *testing.T, admin *v5Client, topic, payload string) {
	t.Helper()
	pr, err := admin.Publish(ctxWait(t), &paho.Publish{Topic: topic, QoS: 1, Retain: true, Payload: []byte(payload)})
	if err != nil || pr.ReasonCode >= 0x80 {
		t.Fatalf("retain %s: %v %+v", topic, err, pr)
	}
}

// startMosquitto runs /usr/sbin/mosquitto on a free loopback port with the
// ACL file and anonymous clients allowed (their usernames kept, as the ACL
// needs), and returns its address once it accepts connections.
func startMosquitto(t *testing.T, aclPath string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	text := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\nacl_file %s\npersistence false\nlog_dest file %s\n",
		port, aclPath, filepath.Join(dir, "mosquitto.log"))
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/sbin/mosquitto", "-c", conf)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(wait)
	for {
		conn, err := net.DialTimeout("tcp", addr, wait)
		if err == nil {
			conn.Close()
			return addr
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "mosquitto.log"))
			t.Fatalf("mosquitto exited: %v\n%s", err, log)
		case <-time.After(20 * time.Millisecond): // polling a port that is not open yet
		}
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto does not accept connections on %s: %v", addr, err)
		}
	}
}
