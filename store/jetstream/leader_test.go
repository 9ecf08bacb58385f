package jetstream

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/plumemq/plume/core/session"
	"github.com/plumemq/plume/store/internal/codec"
)

// Every read of a session record that a decision rests on — a fetch, a
// claim, a refused write's recheck, another node's commit applied again —
// goes to the bucket stream's leader. nats.go makes KV buckets with
// AllowDirect, and its Get asks any replica, the local one first: after a
// restart that replica lags, and the node read sessions it had lost as
// its own. The test watches the JetStream API subjects: a direct get
// would show on $JS.API.DIRECT.GET.
func TestRecordReadsGoToTheLeader(t *testing.T) {
	srv := runServer(t)
	a, b := twoNodesOn(t, srv)
	ctx := context.Background()
	watch := connect(t, srv)
	// A channel, not a callback: nats.go puts a message in it as it reads
	// it, so every request made before the Flush below is in it when the
	// Flush returns; a callback may not have run yet.
	requests := make(chan *nats.Msg, 1024)
	for _, subj := range []string{"$JS.API.DIRECT.GET.>", "$JS.API.STREAM.MSG.GET.>"} {
		sub, err := watch.ChanSubscribe(subj, requests)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe() //nolint:errcheck // the connection closes with the test
	}
	if err := watch.Flush(); err != nil {
		t.Fatal(err)
	}

	if err := a.Commit(withQueue("c", 1)); err != nil {
		t.Fatal(err)
	}
	takeOver(t, b, "c") // Fetch and Claim
	if err := a.FinishCommitsOf(ctx, "node-b"); err != nil {
		t.Fatal(err)
	}
	// A refused write of a's, rechecked: b claimed the session.
	lost := make(chan string, 1)
	a.SetOnLost(func(client string) { lost <- client })
	if err := a.Commit([]session.Op{{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: "c", Expiry: 9}}}); err != nil && !errors.Is(err, ErrFenced) {
		t.Logf("the fenced write: %v", err)
	}
	expectLost(t, lost, "c", "a's write of a session b claimed was not reported lost")
	// A record b's own earlier write replaced, rechecked on b.
	v, err := codec.AppendRecord(appendString(nil, "node-b"), &session.Record{Version: session.FormatVersion, ID: "c", Expiry: 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.kv.Put(ctx, token("c"), v); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit([]session.Op{{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: "c", Expiry: 30}}}); err == nil {
		t.Fatal("a write on a revision that moved on was taken")
	}
	if err := watch.Flush(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for len(requests) > 0 {
		if m := <-requests; strings.Contains(m.Subject, "KV_") {
			seen[strings.SplitN(strings.TrimPrefix(m.Subject, "$JS.API."), ".", 2)[0]]++
		}
	}
	if seen["DIRECT"] != 0 || seen["STREAM"] < 3 {
		t.Fatalf("session record reads: %d direct gets (any replica), %d leader gets; want none and at least 3", seen["DIRECT"], seen["STREAM"])
	}
}
