package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/plumemq/plume/host"
)

// A plugin that sleeps in authorize (a blocking WASI call, where no loop
// check reaches) is cut off at its deadline like a loop, as the README
// promises: the sleeping client's publish is refused by the failure policy
// soon after the deadline, not after the sleep, and another client publishes
// and receives all the while, on the pool's other instance.
func TestSleepingPluginCutOffOthersFlow(t *testing.T) {
	const deadline = 600 * time.Millisecond
	const sleep = 30 * time.Second // far past any wait of this package
	e := startHostile(t, func(pc *host.PluginConfig) { pc.CallTimeout, pc.PoolSize = deadline, 2 })
	sleeper := mustConnectV5(t, e.addr, &paho.Connect{ClientID: "sleeper"})
	sink := mustConnectV5(t, e.addr, &paho.Connect{ClientID: "sink"})
	sink.subscribe(t, "fine/#")
	other := mustConnectV5(t, e.addr, &paho.Connect{ClientID: "other"})

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var published int
	var otherErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ; ; published++ {
			select {
			case <-stop:
				return
			default:
			}
			pr, err := other.Publish(ctxWait(t), &paho.Publish{Topic: "fine/other", QoS: 1, Payload: []byte(fmt.Sprint(published))})
			if err != nil || pr.ReasonCode != 0 {
				otherErr = fmt.Errorf("publish %d: %v, %+v", published, err, pr)
				return
			}
		}
	}()

	sent := time.Now()
	reason, why := sleeper.publish1(t, "sleep:"+sleep.String(), []byte("x"))
	acked := time.Now()
	close(stop)
	wg.Wait()
	if otherErr != nil {
		t.Fatalf("the other client, during the sleep: %v", otherErr)
	}
	if reason != reasonNotAuthorized {
		t.Errorf("sleeping publish: PUBACK %#x %q, want 0x87 from the failure policy", reason, why)
	}
	if took := acked.Sub(sent); took < deadline || took > wait {
		t.Errorf("sleeping publish answered after %s, want soon after the %s deadline", took, deadline)
	}
	for i := 0; i < published; i++ {
		sink.next(t)
	}
	during := 0
	for _, at := range sink.arrivals() {
		if at.After(sent.Add(deadline/2)) && at.Before(acked) {
			during++
		}
	}
	t.Logf("sleep answered after %s; meanwhile %d messages from the other client, %d in the stall's second half",
		acked.Sub(sent).Round(time.Millisecond), published, during)
	if during < 5 || published < 10 {
		t.Errorf("during the stall the other client published %d and the sink received %d in its second half; want many and several", published, during)
	}
	if traps(e) != 1 {
		t.Errorf("traps = %d, want 1 (the sleeping instance)", traps(e))
	}
	if reason, why := sleeper.publish1(t, "fine/sleeper", []byte("after")); reason != 0 {
		t.Errorf("sleeper after the cut-off: PUBACK %#x %q, want 0", reason, why)
	}
	sleeper.stillConnected(t)
	other.stillConnected(t)
}
