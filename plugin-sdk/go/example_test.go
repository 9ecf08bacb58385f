package plume_test

import (
	"fmt"
	"strings"

	plume "github.com/plumemq/plume/plugin-sdk/go"
)

// A plugin registers its handlers from init; the SDK declares exactly those
// points to the host. This one keeps clients out of each other's tenant.
func Example() {
	plume.OnAuthorize(func(e *plume.AuthzEvent) plume.Decision {
		tenant, ok := e.Client.Attribute("tenant")
		if !ok {
			return plume.Deny(plume.NotAuthorized, "no tenant")
		}
		if !strings.HasPrefix(e.Topic(), "tenants/"+tenant+"/") {
			return plume.Deny(plume.NotAuthorized, "outside tenant "+tenant)
		}
		if e.Action == plume.Subscribe {
			return plume.Allow().WithMaxQoS(1)
		}
		return plume.Allow()
	})
}

// Authenticate answers with a Decision; attributes attached on Allow are seen
// by every later authorize and transform call for the client.
func ExampleAllow() {
	d := plume.Allow().WithAttribute("role", "admin").WithAttribute("tenant", "acme")
	fmt.Println(d.Verdict, d.Attributes)
	// Output: allow [{role admin} {tenant acme}]
}

func ExampleDeny() {
	d := plume.Deny(plume.BadUsernameOrPassword, "unknown user")
	fmt.Printf("%v 0x%X %q\n", d.Verdict, byte(d.Reason), d.ReasonString)
	// Output: deny 0x86 "unknown user"
}

// A transform rewrites the message through setters; the host applies the
// changes after the handler returns.
func ExampleOnTransform() {
	plume.Filters("sensors/#")
	plume.OnTransform(func(m *plume.Message) error {
		m.SetTopic("enriched/" + m.Topic())
		m.SetPayload(append(m.Payload(), fmt.Sprintf(`{"client":%q}`, m.Client.ID())...))
		m.SetContentType("application/json")
		return nil
	})
}

// Counters in the key-value store are shared by every instance of the plugin:
// a rate limit per client.
func ExampleKVAdd() {
	plume.OnPublish(func(m *plume.Message) plume.PublishDecision {
		minute := plume.Now().Unix() / 60
		key := fmt.Sprintf("rate/%s/%d", m.Client.ID(), minute)
		if plume.KVAdd(key, 1) > 600 {
			return plume.Reject(plume.QuotaExceeded, "more than 10 messages a second")
		}
		return plume.Deliver()
	})
}
