package topics_test

import (
	"fmt"
	"slices"

	"github.com/plumemq/plume/core/topics"
)

func ExampleRouter() {
	r := topics.NewRouter()
	for _, sub := range []struct{ client, filter string }{
		{"dashboard", "site/+/temp"},
		{"archiver", "site/#"},
		{"worker-1", "$share/jobs/site/+/temp"},
		{"worker-2", "$share/jobs/site/+/temp"},
	} {
		if err := topics.ValidateFilter(sub.filter); err != nil {
			panic(err)
		}
		s := topics.Subscription{Client: sub.client, Filter: sub.filter, QoS: 1}
		if group, inner, shared, _ := topics.ParseShared(sub.filter); shared {
			s.Group, s.Filter = group, inner
		}
		r.Subscribe(s)
	}

	var m topics.Matches // reuse across publishes: Match then allocates nothing
	r.Match("site/7/temp", &m)
	var clients []string
	for _, s := range m.Subs {
		clients = append(clients, s.Client)
	}
	slices.Sort(clients)
	fmt.Println(clients)
	online := func(client string) bool { return client == "worker-2" }
	for _, g := range m.Groups {
		s, _ := g.Pick(online)
		fmt.Println(g.Name(), g.Filter(), "->", s.Client)
	}
	// Output:
	// [archiver dashboard]
	// jobs site/+/temp -> worker-2
}

func ExampleRetained() {
	ret := topics.NewRetained[string]()
	ret.Set("site/1/temp", "21.5")
	ret.Set("site/2/temp", "19.0")
	ret.Set("$SYS/broker/uptime", "3600")

	var got []string
	ret.Match("#", func(topic, v string) bool { // '#' does not see '$SYS' [MQTT-4.7.2-1]
		got = append(got, topic+"="+v)
		return true
	})
	slices.Sort(got)
	fmt.Println(got)
	// Output: [site/1/temp=21.5 site/2/temp=19.0]
}
