package jetstream

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Reads of the session bucket go to the bucket stream's leader. nats.go
// creates every KV bucket with AllowDirect, and its Get then asks any
// replica (DIRECT.GET, a queue group every replica joins; the local
// server's answers first). A replica that lags the leader — one that a
// restarted node's embedded server is still catching up — answers with an
// old revision or none: a restarted node saw a session it no longer owns as
// still its own, or a claim wrote the record as a stale replica had it at
// the leader's current revision (decision 0062). The leader's STREAM.MSG.GET
// always has the last acknowledged write.

// keyEntry is a record as the leader has it.
type keyEntry struct {
	value    []byte
	revision uint64
}

// getKey reads key of the sessions bucket from its leader; an error wrapping
// jetstream.ErrKeyNotFound when it has none or a delete marker.
func (s *Store) getKey(ctx context.Context, key string) (keyEntry, error) {
	m, err := s.lastOf(ctx, "KV_"+s.names.bucket, s.names.kvStem+key)
	if err != nil {
		if err == jetstream.ErrMsgNotFound { //nolint:errorlint // lastOf returns it as is
			return keyEntry{}, jetstream.ErrKeyNotFound
		}
		return keyEntry{}, err
	}
	if tombstone(m.Header) {
		return keyEntry{}, fmt.Errorf("%w: %s", jetstream.ErrKeyNotFound, describeTombstone(m))
	}
	return keyEntry{value: m.Data, revision: m.Sequence}, nil
}

// describeTombstone says which write deleted a record, for the error of a
// CONNECT that finds no session where its client expected one: an
// operator (or a fault run's reader) learns who deleted it, and when.
func describeTombstone(m *jetstream.RawStreamMsg) string {
	by := m.Header.Get(hdrTombstoneBy)
	if by == "" {
		by = "unnamed"
	}
	if reason := m.Header.Get(jetstream.MarkerReasonHeader); reason != "" {
		by = "the server (" + reason + ")"
	}
	return fmt.Sprintf("deleted by %s at revision %d, %s", by, m.Sequence, m.Time.Format(time.RFC3339Nano))
}

// msgGetReply is the JetStream API's answer to STREAM.MSG.GET.
type msgGetReply struct {
	Message *struct {
		Subject string    `json:"subject"`
		Seq     uint64    `json:"seq"`
		Header  []byte    `json:"hdrs,omitempty"`
		Data    []byte    `json:"data,omitempty"`
		Time    time.Time `json:"time"`
	} `json:"message,omitempty"`
	Error *jetstream.APIError `json:"error,omitempty"`
}

// lastOf reads the last message of subject in stream from the stream's
// leader; jetstream.ErrMsgNotFound when there is none.
func (s *Store) lastOf(ctx context.Context, stream, subject string) (*jetstream.RawStreamMsg, error) {
	return s.leaderGet(ctx, stream, msgGetRequest{LastFor: subject}, "last of "+subject)
}

// nextOf reads the first message at or after sequence seq whose subject
// filter takes, from stream's leader; jetstream.ErrMsgNotFound when there
// is none.
func (s *Store) nextOf(ctx context.Context, stream, filter string, seq uint64) (*jetstream.RawStreamMsg, error) {
	return s.leaderGet(ctx, stream, msgGetRequest{Seq: seq, NextFor: filter}, "next of "+filter)
}

// msgGetRequest is a STREAM.MSG.GET: the last message of a subject, or
// the first from a sequence on whose subject a filter takes.
type msgGetRequest struct {
	LastFor string `json:"last_by_subj,omitempty"`
	Seq     uint64 `json:"seq,omitempty"`
	NextFor string `json:"next_by_subj,omitempty"`
}

func (s *Store) leaderGet(ctx context.Context, stream string, get msgGetRequest, what string) (*jetstream.RawStreamMsg, error) {
	req, err := json.Marshal(get)
	if err != nil {
		return nil, err
	}
	msg, err := s.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+stream, req)
	if err != nil {
		return nil, fmt.Errorf("%s in %s: %w", what, stream, err)
	}
	var rep msgGetReply
	if err := json.Unmarshal(msg.Data, &rep); err != nil {
		return nil, fmt.Errorf("%s in %s: %w", what, stream, err)
	}
	if rep.Error != nil {
		if rep.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound {
			return nil, jetstream.ErrMsgNotFound
		}
		return nil, fmt.Errorf("%s in %s: %w", what, stream, rep.Error)
	}
	if rep.Message == nil {
		return nil, fmt.Errorf("%s in %s: %w", what, stream, jetstream.ErrInvalidJetStreamResponse)
	}
	var h nats.Header
	if len(rep.Message.Header) > 0 {
		if h, err = nats.DecodeHeadersMsg(rep.Message.Header); err != nil {
			return nil, fmt.Errorf("%s in %s: headers: %w", what, stream, err)
		}
	}
	return &jetstream.RawStreamMsg{Subject: rep.Message.Subject, Sequence: rep.Message.Seq, Header: h,
		Data: rep.Message.Data, Time: rep.Message.Time}, nil
}
