package conformance

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"testing"
)

var (
	brokerFlag  = flag.String("broker", "", "broker to check, tcp://host:port (the suite is skipped without it)")
	deniedFlag  = flag.String("denied-topic", "", "a topic the broker refuses to let clients publish to")
	versionFlag = flag.String("version", "", "3 or 5: run one protocol version only")
	onlyFlag    = flag.String("only", "", "regular expression on statement id or test name")
	keepFlag    = flag.Int("server-keep-alive", -1, "the keep alive (s) the broker imposes as Server Keep Alive, -1 if unknown")
	refIDFlag   = flag.String("refused-client-id", "", "a client identifier the broker refuses")
	refUserFlag = flag.String("refused-username", "", "a user name the broker refuses with a wrong password")
	aliasFlag   = flag.Bool("sends-topic-aliases", false, "the broker sends topic aliases to clients that allow them")
)

// TestBroker runs the whole suite against -broker, one subtest per case and
// version.
func TestBroker(t *testing.T) {
	if *brokerFlag == "" {
		t.Skip("no -broker given; run: go test ./conformance/... -broker tcp://HOST:PORT")
	}
	o := Options{Broker: *brokerFlag, DeniedTopic: *deniedFlag, ServerKeepAlive: *keepFlag,
		SendsTopicAliases: *aliasFlag, Only: *onlyFlag, RefusedClientID: *refIDFlag, RefusedUsername: *refUserFlag}
	switch *versionFlag {
	case "3", "4", "3.1.1":
		o.Versions = []byte{4}
	case "5":
		o.Versions = []byte{5}
	}
	byTest := map[string][]Result{}
	var order []string
	for _, r := range Run(context.Background(), o, nil) {
		key := fmt.Sprintf("v%d/%s", r.Version, r.Test)
		if _, ok := byTest[key]; !ok {
			order = append(order, key)
		}
		byTest[key] = append(byTest[key], r)
	}
	for _, key := range order {
		rs := byTest[key]
		t.Run(key, func(t *testing.T) {
			var ids []string
			for _, r := range rs {
				ids = append(ids, r.Statement)
			}
			for _, r := range rs {
				switch r.Status {
				case Fail:
					t.Errorf("[%s] %s", r.Statement, r.Detail)
				case Skip:
					t.Skipf("%s: %s", strings.Join(ids, " "), r.Detail)
				}
			}
		})
	}
}
