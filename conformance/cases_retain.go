package conformance

import (
	"github.com/plumemq/plume/conformance/wire"
)

// Section 3.3.1.3 RETAIN and the retain subscription options of 3.8.3.1.

// Subscription option bits of MQTT 5.0 (section 3.8.3.1).
const (
	optNoLocal           byte = 0x04
	optRetainAsPublished byte = 0x08
	optRetainHandling1   byte = 0x10
	optRetainHandling2   byte = 0x20
)

var retainCases = []Case{
	{Name: "RetainedMessageStoredAndReplaced", V5: []string{"3.3.1-5", "3.3.1-9"}, V4: []string{"3.3.1-5", "3.3.1-6", "3.3.1-8"}, Run: func(t *T) {
		topic := t.RetainedTopic("r")
		pub := t.Client("pub")
		pub.Publish(topic, "one", 1, true)
		pub.Publish(topic, "two", 1, true)
		sub := t.Client("sub")
		sub.MustSubscribe(topic, 1)
		p := sub.ExpectPublish()
		t.Check(string(p.Payload) == "two" && p.Retain, "got %v, want the retained \"two\" with RETAIN 1", p)
		sub.ExpectNothing("a second retained message for one topic")
	}},
	{Name: "EmptyRetainedMessageClears", V5: []string{"3.3.1-6", "3.3.1-7"}, V4: []string{"3.3.1-10", "3.3.1-11"}, Run: func(t *T) {
		topic := t.RetainedTopic("r")
		pub := t.Client("pub")
		pub.Publish(topic, "old", 1, true)
		live := t.Client("live")
		live.MustSubscribe(topic, 1)
		live.ExpectPublish()
		pub.Publish(topic, "", 1, true)
		p := live.ExpectPublish()
		t.Check(len(p.Payload) == 0, "existing subscriber got %v, want the empty message", p)
		sub := t.Client("sub")
		sub.MustSubscribe(topic, 1)
		sub.ExpectNothing("retained message after an empty retained PUBLISH")
	}},
	{Name: "NonRetainedPublishKeepsRetained", V5: []string{"3.3.1-8"}, V4: []string{"3.3.1-12"}, Run: func(t *T) {
		topic := t.RetainedTopic("r")
		pub := t.Client("pub")
		pub.Publish(topic, "keep", 1, true)
		pub.Publish(topic, "live", 1, false)
		sub := t.Client("sub")
		sub.MustSubscribe(topic, 1)
		p := sub.ExpectPublish()
		t.Check(string(p.Payload) == "keep", "got %v, want the retained \"keep\"", p)
		sub.ExpectNothing("more than the one retained message")
	}},
	{Name: "QoS0RetainedReplacesRetained", V4: []string{"3.3.1-7"}, Run: func(t *T) {
		topic := t.RetainedTopic("r")
		pub := t.Client("pub")
		pub.Publish(topic, "old", 1, true)
		pub.Publish(topic, "new", 0, true)
		pub.Publish(t.Topic("sync"), "", 1, false) // the QoS 0 one is processed before this PUBACK
		sub := t.Client("sub")
		sub.MustSubscribe(topic, 1)
		for _, p := range sub.Sync() {
			t.Check(string(p.Payload) != "old", "the QoS 1 retained message survived a QoS 0 retained one")
		}
	}},
	{Name: "RetainFlagClearedOnLiveDelivery", V5: []string{"3.3.1-12"}, V4: []string{"3.3.1-9"}, Run: func(t *T) {
		topic := t.RetainedTopic("r")
		sub := t.Client("sub")
		sub.MustSubscribe(topic, 1)
		pub := t.Client("pub")
		pub.Publish(topic, "x", 1, true)
		p := sub.ExpectPublish()
		t.Check(!p.Retain, "live delivery of a retained PUBLISH with RETAIN 1 (Retain As Published 0)")
	}},
	{Name: "RetainAsPublished", V5: []string{"3.3.1-13"}, Run: func(t *T) {
		topic := t.RetainedTopic("r")
		sub := t.Client("sub")
		sub.MustSubscribe(topic, 1|optRetainAsPublished)
		pub := t.Client("pub")
		pub.Publish(topic, "kept", 1, true)
		pub.Publish(topic, "plain", 1, false)
		a, b := sub.ExpectPublish(), sub.ExpectPublish()
		t.Check(a.Retain && !b.Retain, "RETAIN %v and %v, want true then false", a.Retain, b.Retain)
	}},
	{Name: "RetainHandlingSendOnNewSubscriptionOnly", V5: []string{"3.3.1-10"}, Run: func(t *T) {
		topic := t.RetainedTopic("r")
		pub := t.Client("pub")
		pub.Publish(topic, "kept", 1, true)
		sub := t.Client("sub")
		sub.MustSubscribe(topic, 1|optRetainHandling1)
		p := sub.ExpectPublish()
		t.Check(string(p.Payload) == "kept", "got %v for a new subscription", p)
		sub.MustSubscribe(topic, 1|optRetainHandling1)
		sub.ExpectNothing("retained message for an existing subscription with Retain Handling 1")
	}},
	{Name: "RetainHandlingNeverSend", V5: []string{"3.3.1-11"}, Run: func(t *T) {
		topic := t.RetainedTopic("r")
		pub := t.Client("pub")
		pub.Publish(topic, "kept", 1, true)
		sub := t.Client("sub")
		sub.MustSubscribe(topic, 1|optRetainHandling2)
		sub.ExpectNothing("retained message with Retain Handling 2")
	}},
	{Name: "ResubscribeReplacesAndResendsRetained", V5: []string{"3.8.4-3", "3.8.4-4"}, V4: []string{"3.8.4-3"}, Run: func(t *T) {
		topic := t.RetainedTopic("r")
		pub := t.Client("pub")
		pub.Publish(topic, "kept", 1, true)
		sub := t.Client("sub")
		sub.MustSubscribe(topic, 0)
		sub.ExpectPublish()
		sub.MustSubscribe(topic, 1)
		p := sub.ExpectPublish()
		t.Check(string(p.Payload) == "kept" && p.Retain, "got %v, want the retained message again", p)
		pub.Publish(topic, "live", 1, false)
		live := t.barrier(sub, pub, topic)
		t.Check(len(live) == 1 && live[0].QoS == 1, "live deliveries %v, want one copy at QoS 1", live)
	}},
}

var _ = wire.PUBLISH
