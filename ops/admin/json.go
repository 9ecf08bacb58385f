package admin

import (
	"time"

	"github.com/plumemq/plume/core/broker"
)

// The JSON the API answers. The client list is a contract the dashboard
// (ops/dashboard) reads: its names change only with a new /api/vN.

type clientList struct {
	Clients []clientJSON `json:"clients"`
	Total   int          `json:"total"`
	Next    string       `json:"next,omitempty"`
}

type clientJSON struct {
	ClientID        string `json:"client_id"`
	Username        string `json:"username"`
	Remote          string `json:"remote"`
	Listener        string `json:"listener"`
	ProtocolVersion byte   `json:"protocol_version,omitempty"` // 3, 4 or 5; absent offline
	Connected       bool   `json:"connected"`
	ConnectedAt     string `json:"connected_at,omitempty"`  // RFC 3339; absent offline
	OfflineSince    string `json:"offline_since,omitempty"` // RFC 3339; absent online
	Subscriptions   int    `json:"subscriptions"`
	Inflight        int    `json:"inflight"`
	Queued          int    `json:"queued"`
	QueuedBytes     int64  `json:"queued_bytes"`
}

type clientDetailJSON struct {
	clientJSON
	// Subscriptions replaces the list's count with the subscriptions.
	Subscriptions []subscriptionJSON `json:"subscriptions"`
	// KeepAlive is in seconds; 0 for none, or offline.
	KeepAlive uint32 `json:"keep_alive"`
	// SessionExpiry is the Session Expiry Interval, in seconds.
	SessionExpiry uint32 `json:"session_expiry"`
	Dropped       uint64 `json:"dropped"`
}

type subscriptionJSON struct {
	Filter            string `json:"filter"`
	SharedGroup       string `json:"shared_group,omitempty"`
	QoS               byte   `json:"qos"`
	NoLocal           bool   `json:"no_local"`
	RetainAsPublished bool   `json:"retain_as_published"`
	RetainHandling    byte   `json:"retain_handling"`
	SubscriptionID    uint32 `json:"subscription_id,omitempty"`
}

type retainedList struct {
	Retained []retainedJSON `json:"retained"`
	// Truncated: more topics matched than the limit; narrow the prefix.
	Truncated bool `json:"truncated"`
}

type retainedJSON struct {
	Topic        string `json:"topic"`
	QoS          byte   `json:"qos"`
	PayloadBytes int    `json:"payload_bytes"`
	ExpiresAt    string `json:"expires_at,omitempty"`
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func summaryJSON(c broker.ClientSummary) clientJSON {
	j := clientJSON{ClientID: c.ClientID, Username: c.Username, Remote: c.Remote, Listener: c.Listener,
		ProtocolVersion: c.ProtocolVersion, Connected: c.Connected, Subscriptions: c.Subscriptions,
		Inflight: c.Inflight, Queued: c.Queued, QueuedBytes: c.QueuedBytes}
	if !c.ConnectedAt.IsZero() {
		j.ConnectedAt = rfc3339(c.ConnectedAt)
	}
	if !c.OfflineSince.IsZero() {
		j.OfflineSince = rfc3339(c.OfflineSince)
	}
	return j
}

func detailJSON(d broker.ClientDetail) clientDetailJSON {
	j := clientDetailJSON{clientJSON: summaryJSON(d.ClientSummary), Subscriptions: []subscriptionJSON{},
		KeepAlive: uint32(d.KeepAlive / time.Second), SessionExpiry: d.SessionExpiry, Dropped: d.Dropped}
	for _, s := range d.Subscriptions {
		j.Subscriptions = append(j.Subscriptions, subscriptionJSON{Filter: s.Filter, SharedGroup: s.SharedGroup,
			QoS: s.QoS, NoLocal: s.NoLocal, RetainAsPublished: s.RetainAsPublished, RetainHandling: s.RetainHandling,
			SubscriptionID: s.Identifier})
	}
	return j
}
