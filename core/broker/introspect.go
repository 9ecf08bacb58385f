package broker

import (
	"container/heap"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/plumemq/plume/core/packets"
	"github.com/plumemq/plume/core/session"
	"github.com/plumemq/plume/core/topics"
)

// Read-only introspection for operators (the admin API, issue 12): what
// sessions the broker holds, one session in detail, the retained topics, and
// one action, Disconnect. None of it is on the message path. Every list is
// bounded by its caller's limit, and each lock is held only while values are
// copied out: b.mu for a batch of entries at a time (it guards which
// connection a session has), a session's own lock for its counters. Callers
// encode what they get after every lock is released.

// MaxListLimit bounds every list one call returns, whatever the caller asks.
const MaxListLimit = 1000

// DefaultListLimit is the length of a list when the caller asks for none.
const DefaultListLimit = 100

// ClientQuery selects sessions for Clients.
type ClientQuery struct {
	// Search keeps the sessions whose client id, or whose connection's
	// username or remote address, contains it (ASCII case folded); "" keeps all.
	Search string
	// After is the cursor of the previous page: only client ids sorting after
	// it are returned. "" starts at the first.
	After string
	// Limit is the page size: DefaultListLimit when 0, at most MaxListLimit.
	Limit int
}

// ClientSummary is one session as a list shows it. A session without a
// connection (offline, kept for its expiry) has Connected false and no
// connection fields.
type ClientSummary struct {
	ClientID        string
	Username        string // of the connection: "" offline
	Remote          string
	Listener        string
	ProtocolVersion byte // 3, 4 or 5; 0 offline
	Connected       bool
	ConnectedAt     time.Time // zero offline
	// OfflineSince is when the last connection left; zero while connected.
	OfflineSince  time.Time
	Subscriptions int
	Inflight      int   // messages sent and not yet acknowledged
	Queued        int   // messages waiting behind the in-flight window
	QueuedBytes   int64 // what the in-flight and queued messages hold
}

// ClientPage is a page of Clients, in client id order.
type ClientPage struct {
	Clients []ClientSummary
	// Total is how many sessions match the search, on every page.
	Total int
	// Next is the After of the next page; "" on the last.
	Next string
}

// SubscriptionInfo is one subscription of a session, as the client sent it.
type SubscriptionInfo struct {
	Filter            string // as sent: "$share/g/t" for a shared one
	SharedGroup       string // "g" of "$share/g/t"; "" when not shared
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
	Identifier        uint32 // subscription identifier, 0 for none
}

// ClientDetail is one session in full.
type ClientDetail struct {
	ClientSummary
	// KeepAlive is the keep-alive in force (the client's, or the server's
	// Server Keep Alive); 0 for none or offline.
	KeepAlive time.Duration
	// SessionExpiry is the Session Expiry Interval in seconds.
	SessionExpiry uint32
	// Subscriptions in filter order.
	Subscriptions []SubscriptionInfo
	Dropped       uint64 // deliveries the session did not take since it began
}

// RetainedInfo is one retained message, without its payload.
type RetainedInfo struct {
	Topic        string
	QoS          byte
	PayloadBytes int
	// Expires is when the message expires; zero for never.
	Expires time.Time
}

// ErrNoClient is what ClientInfo and Disconnect return for a client id the
// broker holds no session (or, for Disconnect, no connection) for.
var ErrNoClient = errors.New("no such client")

// ListLimit is limit as every list uses it: DefaultListLimit for 0 or less,
// at most MaxListLimit.
func ListLimit(limit int) int {
	switch {
	case limit <= 0:
		return DefaultListLimit
	case limit > MaxListLimit:
		return MaxListLimit
	}
	return limit
}

// Clients returns a page of the sessions that q selects, sorted by client
// id. It walks every session once without a broker-wide lock held for more
// than a batch, and keeps only the page's worth of candidates, so a broker
// with a million sessions answers with a page, not a million rows.
func (b *Broker) Clients(q ClientQuery) ClientPage {
	limit := ListLimit(q.Limit)
	search := q.Search
	var page pageHeap // the limit+1 smallest ids after q.After: one more says whether there is a next page
	total := 0
	consider := func(e *entry) {
		total++
		if e.ID <= q.After && q.After != "" {
			return
		}
		if len(page) <= limit {
			heap.Push(&page, e)
		} else if e.ID < page[0].ID {
			page[0] = e
			heap.Fix(&page, 0)
		}
	}
	// A match on the client id needs no lock; username and remote belong to
	// the connection, which b.mu guards, so the rest are looked at in batches
	// under one lock each.
	var batch []*entry
	flush := func() {
		b.mu.Lock()
		for i, e := range batch {
			if c := e.client; c == nil || !(containsFold(c.info.Username, search) || containsFold(c.info.RemoteAddr, search)) {
				batch[i] = nil
			}
		}
		b.mu.Unlock()
		for _, e := range batch {
			if e != nil {
				consider(e)
			}
		}
		batch = batch[:0]
	}
	b.sessions.each(func(e *entry) bool {
		if search == "" || containsFold(e.ID, search) {
			consider(e)
			return true
		}
		batch = append(batch, e)
		if len(batch) == introspectBatch {
			flush()
		}
		return true
	})
	if len(batch) > 0 {
		flush()
	}
	sort.Slice(page, func(i, j int) bool { return page[i].ID < page[j].ID })
	out := ClientPage{Total: total}
	if len(page) > limit {
		page = page[:limit]
		out.Next = page[limit-1].ID
	}
	out.Clients = make([]ClientSummary, 0, len(page))
	for _, e := range page {
		out.Clients = append(out.Clients, b.summary(e))
	}
	return out
}

// introspectBatch is how many sessions Clients looks at per hold of b.mu.
const introspectBatch = 256

// summary copies e's state out: its connection's fields under b.mu, its
// counters under the session's own lock.
func (b *Broker) summary(e *entry) ClientSummary {
	s := ClientSummary{ClientID: e.ID}
	b.mu.Lock()
	if c := e.client; c != nil {
		s.Connected = true
		s.Username, s.Remote, s.Listener = c.info.Username, c.info.RemoteAddr, c.info.Listener
		s.ProtocolVersion, s.ConnectedAt = c.version, time.Unix(0, c.connAt)
	} else if at := e.offlineSince(); at != 0 {
		s.OfflineSince = time.Unix(0, at)
	}
	b.mu.Unlock()
	st := e.Stats()
	s.Subscriptions = e.SubscriptionCount()
	s.Inflight, s.Queued, s.QueuedBytes = st.Inflight, st.Queued, st.Bytes
	return s
}

// ClientInfo returns the session of client id in full, or ErrNoClient.
func (b *Broker) ClientInfo(id string) (ClientDetail, error) {
	e, ok := b.sessions.load(id)
	if !ok {
		return ClientDetail{}, ErrNoClient
	}
	d := ClientDetail{ClientSummary: b.summary(e), SessionExpiry: e.Expiry(), Dropped: e.Stats().Dropped}
	b.mu.Lock()
	if c := e.client; c != nil {
		d.KeepAlive = time.Duration(c.keepAlive) * time.Second
	}
	b.mu.Unlock()
	for _, sub := range e.Subscriptions() {
		si := SubscriptionInfo{Filter: sub.Filter, QoS: sub.QoS, NoLocal: sub.NoLocal,
			RetainAsPublished: sub.RetainAsPublished, RetainHandling: sub.RetainHandling, Identifier: sub.Identifier}
		if group, _, ok, err := topics.ParseShared(sub.Filter); ok && err == nil {
			si.SharedGroup = group
		}
		d.Subscriptions = append(d.Subscriptions, si)
	}
	sort.Slice(d.Subscriptions, func(i, j int) bool { return d.Subscriptions[i].Filter < d.Subscriptions[j].Filter })
	return d, nil
}

// Disconnect ends the connection of client id as an administrator asked: a
// 5.0 client gets DISCONNECT 0x98 Administrative action, a 3.1.1 one sees
// the connection close (it has no server DISCONNECT [MQTT-3.14.0-1]). It
// goes through the kick path a takeover uses, so the will is published (the
// client did not say goodbye [MQTT-3.1.2-8]) and the session stays for its
// expiry. It returns once the kick is asked; the connection ends on its
// reader. ErrNoClient when id has no connection.
func (b *Broker) Disconnect(id string) error {
	e, ok := b.sessions.load(id)
	if !ok {
		return ErrNoClient
	}
	b.mu.Lock()
	c := e.client
	b.mu.Unlock()
	if c == nil {
		return ErrNoClient
	}
	c.logInfo().Msg("disconnect asked by an administrator")
	c.kick(packets.AdministrativeAction, true)
	return nil
}

// Retained returns up to limit (ListLimit) retained messages whose topic
// starts with prefix, sorted by topic, and whether more matched. Topics
// starting with '$' are listed only for a prefix that starts with '$' and
// names their first level whole ("$SYS", "$SYS/broker/") [MQTT-4.7.2-1]. The retained index is read-locked while it is walked, and
// the walk stops one past the limit; which topics a truncated answer holds
// is therefore unspecified: narrow the prefix to see the rest.
func (b *Broker) Retained(prefix string, limit int) (msgs []RetainedInfo, truncated bool) {
	limit = ListLimit(limit)
	if strings.ContainsAny(prefix, "+#\x00") {
		return nil, false // no topic name holds these [MQTT-4.7.0-1]
	}
	// The levels the prefix spells out whole are a filter's exact levels;
	// the last, partial one is matched by "#" and then by the string. A
	// filter starting with a wildcard never matches '$' topics, so a '$'
	// prefix without a '/' is taken as a whole first level ("$SYS").
	filter := "#"
	switch i := strings.LastIndexByte(prefix, '/'); {
	case i >= 0:
		filter = prefix[:i+1] + "#"
	case strings.HasPrefix(prefix, "$"):
		filter = prefix + "/#"
	}
	b.retained.Match(filter, func(topic string, m *session.Message) bool {
		if !strings.HasPrefix(topic, prefix) {
			return true
		}
		if len(msgs) == limit {
			truncated = true
			return false
		}
		ri := RetainedInfo{Topic: topic, QoS: m.QoS, PayloadBytes: len(m.Payload)}
		if m.Expires != 0 {
			ri.Expires = time.Unix(0, m.Expires)
		}
		msgs = append(msgs, ri)
		return true
	})
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].Topic < msgs[j].Topic })
	return msgs, truncated
}

// containsFold reports whether s contains sub, ASCII case folded, without
// allocating: the search runs over every session.
func containsFold(s, sub string) bool {
	if sub == "" {
		return true
	}
	for i := 0; i+len(sub) <= len(s); i++ {
		if equalFoldASCII(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

func equalFoldASCII(a, b string) bool {
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// pageHeap is a max-heap of entries by client id: the root is the largest
// id kept, the one to give up for a smaller one.
type pageHeap []*entry

func (h pageHeap) Len() int           { return len(h) }
func (h pageHeap) Less(i, j int) bool { return h[i].ID > h[j].ID }
func (h pageHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *pageHeap) Push(x any)        { *h = append(*h, x.(*entry)) }
func (h *pageHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
