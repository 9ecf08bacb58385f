package jetstream

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/plumemq/plume/core/session"
)

// awkward are MQTT strings that are not NATS tokens as they are.
var awkward = []string{"", "a", "a.b", "*", ">", "a b", "\t", "$SYS", "ü/€", "a/b", "/", "//", "=", "x\x00y", "-_", strings.Repeat("long", 64)}

func TestTokensAreReversibleNATSTokens(t *testing.T) {
	seen := map[string]string{}
	for _, s := range awkward {
		tok := token(s)
		if tok == "" || strings.ContainsAny(tok, ".*>") || strings.IndexFunc(tok, unicode.IsSpace) >= 0 {
			t.Errorf("token(%q) = %q: not a NATS token", s, tok)
		}
		if back, err := untoken(tok); err != nil || back != s {
			t.Errorf("untoken(token(%q)) = %q, %v", s, back, err)
		}
		if other, dup := seen[tok]; dup {
			t.Errorf("%q and %q share token %q", s, other, tok)
		}
		seen[tok] = s
	}
	for _, topic := range []string{"a/b", "a//b", "/", "a.b/*/>", " / ", "$SYS/x", "ü"} {
		subj := topicSubject(topic)
		if !isSubject(subj) {
			t.Errorf("topicSubject(%q) = %q: not a NATS subject", topic, subj)
		}
		if strings.Count(subj, ".") != strings.Count(topic, "/") {
			t.Errorf("topicSubject(%q) = %q: not one token per level", topic, subj)
		}
		if back, err := subjectTopic(subj); err != nil || back != topic {
			t.Errorf("subjectTopic(topicSubject(%q)) = %q, %v", topic, back, err)
		}
	}
}

func isSubject(s string) bool {
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || strings.ContainsAny(tok, "*> \t\r\n") {
			return false
		}
	}
	return true
}

// Client ids and retained topics holding what NATS subjects cannot hold go
// through the store and come back.
func TestAwkwardNamesRoundTrip(t *testing.T) {
	s := openT(t, connect(t, runServer(t)), freshConfig("node.with * and >"))
	var ops []session.Op
	for i, id := range awkward {
		m := &session.Message{Topic: "t", Payload: []byte(id), QoS: 1, ID: uint64(i + 1)}
		ops = append(ops,
			session.Op{Kind: session.PutSession, Record: &session.Record{Version: session.FormatVersion, ID: id}},
			session.Op{Kind: session.PutMessage, Message: m},
			session.Op{Kind: session.PutDelivery, Client: id, Delivery: session.Delivery{Msg: m, QoS: 1, Seq: 1}})
		if id != "" {
			ops = append(ops, session.Op{Kind: session.PutRetained, Message: &session.Message{Topic: id, Payload: []byte(id), Retain: true}})
		}
	}
	if err := s.Commit(ops); err != nil {
		t.Fatal(err)
	}
	snap := load(t, s)
	if len(snap.Sessions) != len(awkward) || len(snap.Retained) != len(awkward)-1 {
		t.Fatalf("loaded %d sessions and %d retained, want %d and %d", len(snap.Sessions), len(snap.Retained), len(awkward), len(awkward)-1)
	}
	for _, r := range snap.Sessions {
		if len(r.Queued) != 1 || string(r.Queued[0].Msg.Payload) != r.ID {
			t.Errorf("session %q loaded with %d deliveries", r.ID, len(r.Queued))
		}
	}
	for _, m := range snap.Retained {
		if string(m.Payload) != m.Topic {
			t.Errorf("retained %q holds %q", m.Topic, m.Payload)
		}
	}
}

func TestOpenRefusesAnotherShardCount(t *testing.T) {
	nc := connect(t, runServer(t))
	cfg := freshConfig("n")
	s := openT(t, nc, cfg)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.Shards++
	if _, err := Open(context.Background(), nc, cfg, testLog(t)); !errors.Is(err, ErrShards) {
		t.Fatalf("Open with %d shards of a store made with %d: %v, want ErrShards", cfg.Shards, cfg.Shards-1, err)
	}
}

// Load reads with O(shards) consumers and leaves none behind, however many
// sessions and subscriptions the store holds.
func TestLoadLeavesNoConsumers(t *testing.T) {
	srv := runServer(t)
	s := openT(t, connect(t, srv), freshConfig("n"))
	var ops []session.Op
	for i := range 200 {
		ops = append(ops, withQueue(strings.Repeat("c", 1+i%7)+string(rune('a'+i%26))+string(rune('a'+i/26)), uint64(i+1))...)
	}
	if err := s.Commit(ops); err != nil {
		t.Fatal(err)
	}
	if snap := load(t, s); len(snap.Sessions) != 200 {
		t.Fatalf("loaded %d sessions, want 200", len(snap.Sessions))
	}
	jsz, err := srv.Jsz(&server.JSzOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if jsz.Consumers != 0 {
		t.Fatalf("%d consumers after Load, want 0", jsz.Consumers)
	}
	if jsz.Streams != 2*s.cfg.Shards+4 {
		t.Fatalf("%d streams, want %d: %d queue and ingest shards, sessions, retained, positions and log",
			jsz.Streams, 2*s.cfg.Shards+4, s.cfg.Shards)
	}
}
