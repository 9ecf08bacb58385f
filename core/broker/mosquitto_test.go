package broker_test

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plumemq/plume/core/broker"
)

// The Debian mosquitto clients, as an independent implementation of both
// protocol versions.

func needMosquitto(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"mosquitto_pub", "mosquitto_sub"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install mosquitto-clients)", tool)
		}
	}
}

func hostPort(t *testing.T, addr string) []string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return []string{"-h", host, "-p", port}
}

// mosquitto runs tool to completion and returns its standard output.
func mosquitto(t *testing.T, addr, tool string, args ...string) string {
	t.Helper()
	cmd := startMosquitto(t, addr, tool, args...)
	out := cmd.Stdout.(*bytes.Buffer)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, cmd.Stderr)
	}
	return out.String()
}

// startMosquitto starts tool; the caller waits for it. It is killed when the test ends.
func startMosquitto(t *testing.T, addr, tool string, args ...string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, tool, append(hostPort(t, addr), args...)...)
	cmd.Stdout, cmd.Stderr = new(bytes.Buffer), new(bytes.Buffer)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

func waitSubscriptions(t *testing.T, tb *testBroker, n int) {
	t.Helper()
	eventually(t, "subscriptions", func() bool { return tb.Stats().Subscriptions >= n })
}

func TestMosquittoPublishSubscribeQoS(t *testing.T) {
	needMosquitto(t)
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	for _, version := range []string{"mqttv5", "mqttv311"} {
		for _, qos := range []string{"0", "1", "2"} {
			t.Run(version+"/qos"+qos, func(t *testing.T) {
				topic := "mosq/" + version + "/" + qos
				// The previous subtest's subscriber leaves asynchronously.
				eventually(t, "previous subscriber gone", func() bool { return tb.Stats().Subscriptions == 0 })
				sub := startMosquitto(t, tb.addr, "mosquitto_sub", "-V", version, "-t", topic, "-q", qos, "-C", "2", "-W", "8", "-v")
				waitSubscriptions(t, tb, 1)
				mosquitto(t, tb.addr, "mosquitto_pub", "-V", version, "-t", topic, "-q", qos, "-m", "one")
				mosquitto(t, tb.addr, "mosquitto_pub", "-V", version, "-t", topic, "-q", qos, "-m", "two")
				if err := sub.Wait(); err != nil {
					t.Fatalf("mosquitto_sub: %v\n%s", err, sub.Stderr)
				}
				if got, want := sub.Stdout.(*bytes.Buffer).String(), topic+" one\n"+topic+" two\n"; got != want {
					t.Fatalf("got %q, want %q", got, want)
				}
			})
		}
	}
}

func TestMosquittoRetained(t *testing.T) {
	needMosquitto(t)
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	mosquitto(t, tb.addr, "mosquitto_pub", "-t", "mosq/ret", "-r", "-q", "1", "-m", "kept")
	if got := mosquitto(t, tb.addr, "mosquitto_sub", "-t", "mosq/#", "-C", "1", "-W", "5", "-F", "%r %p"); got != "1 kept\n" {
		t.Fatalf("got %q, want the retained message with its flag", got)
	}
	mosquitto(t, tb.addr, "mosquitto_pub", "-t", "mosq/ret", "-r", "-n")
	eventually(t, "retained cleared", func() bool { return tb.Stats().Retained == 0 })
}

func TestMosquittoWillOnKilledClient(t *testing.T) {
	needMosquitto(t)
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	w := watch(t, tb.addr, "mosq/will")
	victim := startMosquitto(t, tb.addr, "mosquitto_sub", "-t", "mosq/ignored", "-V", "mqttv5",
		"--will-topic", "mosq/will", "--will-payload", "dead", "--will-qos", "1")
	waitSubscriptions(t, tb, 2)
	_ = victim.Process.Kill()
	_ = victim.Wait()
	if m := w.nextPublish(); string(m.Payload) != "dead" {
		t.Fatalf("got %q", m.Payload)
	}
}

func TestMosquittoPersistentSession(t *testing.T) {
	needMosquitto(t)
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	for _, version := range []string{"mqttv5", "mqttv311"} {
		t.Run(version, func(t *testing.T) {
			id := "mosq-persist-" + version
			args := []string{"-V", version, "-i", id, "-c", "-q", "1", "-t", "mosq/persist/" + version}
			if version == "mqttv5" {
				args = append(args, "-x", "600")
			}
			mosquitto(t, tb.addr, "mosquitto_sub", append(args, "-E")...) // subscribe and leave
			mosquitto(t, tb.addr, "mosquitto_pub", "-V", version, "-t", "mosq/persist/"+version, "-q", "1", "-m", "queued")
			if got := mosquitto(t, tb.addr, "mosquitto_sub", append(args, "-C", "1", "-W", "5")...); got != "queued\n" {
				t.Fatalf("got %q", got)
			}
		})
	}
}

func TestMosquittoSharedSubscriptionBalanced(t *testing.T) {
	needMosquitto(t)
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	var subs []*exec.Cmd
	for i := 0; i < 2; i++ {
		subs = append(subs, startMosquitto(t, tb.addr, "mosquitto_sub", "-V", "mqttv5", "-t", "$share/g/mosq/shared", "-q", "1", "-C", "3", "-W", "8"))
	}
	waitSubscriptions(t, tb, 2)
	for i := 0; i < 6; i++ {
		mosquitto(t, tb.addr, "mosquitto_pub", "-V", "mqttv5", "-t", "mosq/shared", "-q", "1", "-m", string(rune('a'+i)))
	}
	var all []string
	for _, s := range subs {
		if err := s.Wait(); err != nil {
			t.Fatalf("a member did not get its 3 messages: %v", err)
		}
		all = append(all, strings.Fields(s.Stdout.(*bytes.Buffer).String())...)
	}
	slices.Sort(all)
	if !slices.Equal(all, []string{"a", "b", "c", "d", "e", "f"}) {
		t.Fatalf("members got %v, want each message once", all)
	}
}

func TestMosquittoTopicAlias(t *testing.T) {
	needMosquitto(t)
	tb := startBroker(t, broker.Options{AllowAnonymous: true})
	sub := startMosquitto(t, tb.addr, "mosquitto_sub", "-V", "mqttv5", "-t", "mosq/alias", "-C", "3", "-W", "8")
	waitSubscriptions(t, tb, 1)
	// With -l each line is a message; after the first, mosquitto_pub sends
	// the alias alone.
	pub := exec.Command("mosquitto_pub", append(hostPort(t, tb.addr), "-V", "mqttv5", "-t", "mosq/alias",
		"-D", "publish", "topic-alias", "1", "-l")...)
	pub.Stdin = strings.NewReader("x\ny\nz\n")
	if out, err := pub.CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub: %v\n%s", err, out)
	}
	if err := sub.Wait(); err != nil {
		t.Fatalf("mosquitto_sub: %v", err)
	}
	if got := sub.Stdout.(*bytes.Buffer).String(); got != "x\ny\nz\n" {
		t.Fatalf("got %q", got)
	}
}
