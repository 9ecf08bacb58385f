package jetstream

import (
	"encoding/base64"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Names of streams and subjects (decision 0054). With prefix p and shard k:
//
//	KV bucket p_sessions   $KV.p_sessions.<client>            a session's own fields
//	stream p_Q<k>          p.q.<k>.c.<client>.d.<seq>          a delivery
//	                       p.q.<k>.c.<client>.i.<packet id>    an inbound QoS 2 id
//	                       p.q.<k>.c.<client>.p                the client's last purge (purge.go)
//	                       p.q.<k>.m.<node>.<message id>       a message
//	stream p_RETAINED      p.r.<level>.<level>…                a retained message
//	stream p_LOG           p.log.<node>.<chunk>, p.log.<node>.done
//	stream p_IN<k>         p.in.<k>.…                          the ingest (decision 0055)
//	                       p.in.<k>.b                          a forward batch (decision 0061, pack.go)
//	stream p_POS           p.pos.<node>.<k>                    a node's position in p_IN<k>
//
// The ingest's subjects after p.in.<k> are the fabric's (cluster/fabric):
// the store writes what a Forward op names, or packs several under .b (the
// fabric's topics are under .t and .s), and reads nothing there.
// and a read barrier per node in each stream it reads whole (readAll):
// $KV.p_sessions.barrier.<node> (client keys are one token), p.q.<k>.b.<node>,
// p.rb.<node>.
//
// A client id, a node name and each topic level are one token each
// (token): NATS tokens may not be empty nor hold '.', '*', '>' or white
// space, and MQTT strings may hold all of those.
type names struct {
	prefix  string // p
	bucket  string // p_sessions
	kvStem  string // $KV.p_sessions.
	shards  int
	node    string // token(Config.Node)
	retain  string // p_RETAINED
	logName string // p_LOG
}

func newNames(prefix, node string, shards int) names {
	return names{
		prefix: prefix, bucket: prefix + "_sessions", kvStem: "$KV." + prefix + "_sessions.",
		shards: shards, node: token(node), retain: prefix + "_RETAINED", logName: prefix + "_LOG",
	}
}

// token is s as one NATS subject token and KV key: base64url without
// padding, "=" for the empty string. Reversible (untoken), and it never
// holds '.', '*', '>' or white space.
func token(s string) string {
	if s == "" {
		return "="
	}
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

var errToken = errors.New("not a token this store wrote")

func untoken(t string) (string, error) {
	if t == "=" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil || t == "" {
		return "", fmt.Errorf("token %q: %w", t, errToken)
	}
	return string(b), nil
}

// topicSubject encodes an MQTT topic level by level, so that a filter maps
// onto it level by level ('+' → '*', '#' → '>') when the next round reads
// retained messages by filter.
func topicSubject(topic string) string {
	var b strings.Builder
	for i, level := range strings.Split(topic, "/") {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(token(level))
	}
	return b.String()
}

func subjectTopic(subject string) (string, error) {
	levels := strings.Split(subject, ".")
	for i, t := range levels {
		l, err := untoken(t)
		if err != nil {
			return "", err
		}
		levels[i] = l
	}
	return strings.Join(levels, "/"), nil
}

// shardOf is the queue shard of a client: FNV-1a of its id.
func (n *names) shardOf(client string) int {
	h := fnv.New32a()
	h.Write([]byte(client))
	return int(h.Sum32() % uint32(n.shards))
}

func (n *names) queueStream(k int) string { return n.prefix + "_Q" + strconv.Itoa(k) }
func (n *names) queueSubjects(k int) string {
	return n.prefix + ".q." + strconv.Itoa(k) + ".>"
}

func (n *names) sessionSubject(client string) string { return n.kvStem + token(client) }

// clientPrefix is the subject stem of a client's deliveries and inbound ids.
func (n *names) clientPrefix(client string) string {
	return n.prefix + ".q." + strconv.Itoa(n.shardOf(client)) + ".c." + token(client) + "."
}

// deliverySubject is the subject of one of client's deliveries as this
// node writes it: the node is in it because delivery Seqs are each node's
// own, and a node that still writes a session another node took (a stale
// copy, until its fence) must not replace that node's deliveries with its
// own. Stores of earlier versions wrote c.<client>.d.<seq>, which reads
// still take.
func (n *names) deliverySubject(client string, seq uint64) string {
	return n.clientPrefix(client) + "d." + n.node + "." + strconv.FormatUint(seq, 10)
}

// legacyDeliverySubject is a delivery's subject as stores before decision
// 0062 wrote it: a node that loaded one goes on writing it there.
func (n *names) legacyDeliverySubject(client string, seq uint64) string {
	return n.clientPrefix(client) + "d." + strconv.FormatUint(seq, 10)
}

func (n *names) inboundSubject(client string, id uint16) string {
	return n.clientPrefix(client) + "i." + strconv.FormatUint(uint64(id), 10)
}

// messageShard spreads messages over the shards by id: a message is stored
// once, whichever clients' deliveries refer to it.
func (n *names) messageShard(id uint64) int { return int(id % uint64(n.shards)) }

func (n *names) messageSubject(node string, id uint64) string {
	return n.prefix + ".q." + strconv.Itoa(n.messageShard(id)) + ".m." + node + "." + strconv.FormatUint(id, 10)
}

func (n *names) retainedSubject(topic string) string {
	return n.prefix + ".r." + topicSubject(topic)
}

// IngestStream is the name of ingest shard k's stream for prefix: the
// fabric (cluster/fabric) reads it, and must agree.
func IngestStream(prefix string, k int) string { return prefix + "_IN" + strconv.Itoa(k) }

// IngestSubjects is the subject filter of ingest shard k.
func IngestSubjects(prefix string, k int) string { return prefix + ".in." + strconv.Itoa(k) + ".>" }

func (n *names) positionStream() string       { return n.prefix + "_POS" }
func (n *names) positionSubject(k int) string { return n.positionSubjectOf(n.node, k) }
func (n *names) positionSubjectOf(nodeToken string, k int) string {
	return n.prefix + ".pos." + nodeToken + "." + strconv.Itoa(k)
}

// isPosition reports whether subject is one of this node's positions.
func (n *names) isPosition(subject string) bool {
	return strings.HasPrefix(subject, n.prefix+".pos."+n.node+".")
}

func (n *names) logChunk(i int) string { return n.prefix + ".log." + n.node + "." + strconv.Itoa(i) }
func (n *names) logDone() string       { return n.prefix + ".log." + n.node + ".done" }

func (n *names) kvBarrier() string { return n.kvStem + "barrier." + n.node }
func (n *names) queueBarrier(k int) string {
	return n.prefix + ".q." + strconv.Itoa(k) + ".b." + n.node
}
func (n *names) retainedBarrier() string { return n.prefix + ".rb." + n.node }
