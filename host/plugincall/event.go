package plugincall

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/plumemq/plume/core/hooks"
	"github.com/plumemq/plume/core/packets"
)

// Event is one call described as data, for `plume plugin call FILE.wasm
// --event JSON`. Point is "authenticate", "authorize", "on-publish" or
// "transform".
type Event struct {
	Point  string      `json:"point"`
	Client EventClient `json:"client"`
	// authenticate
	Step       string `json:"step,omitempty"` // "connect" (default), "continue", "reauth"
	AuthMethod string `json:"auth_method,omitempty"`
	AuthData   string `json:"auth_data,omitempty"`
	// authorize
	Action string `json:"action,omitempty"` // "publish" (default) or "subscribe"
	// authorize, on-publish, transform
	Topic       string            `json:"topic,omitempty"`
	QoS         byte              `json:"qos,omitempty"`
	Retain      bool              `json:"retain,omitempty"`
	Payload     string            `json:"payload,omitempty"`
	ContentType *string           `json:"content_type,omitempty"`
	UserProps   map[string]string `json:"user_properties,omitempty"`
}

// EventClient is the client of an Event.
type EventClient struct {
	ID              string            `json:"id"`
	Username        string            `json:"username,omitempty"`
	Password        *string           `json:"password,omitempty"`
	ProtocolVersion byte              `json:"protocol_version,omitempty"` // default 5
	RemoteAddr      string            `json:"remote_addr,omitempty"`
	Listener        string            `json:"listener,omitempty"`
	CertSubject     string            `json:"cert_subject,omitempty"`
	CertSANs        []string          `json:"cert_sans,omitempty"` // "DNS:name", "IP:addr", "email:…", "URI:…"
	CertFingerprint string            `json:"cert_fingerprint,omitempty"`
	UserProps       map[string]string `json:"user_properties,omitempty"`
	Attributes      map[string]string `json:"attributes,omitempty"`
}

// ParseEvent decodes an Event from JSON, refusing unknown keys.
func ParseEvent(b []byte) (Event, error) {
	var ev Event
	d := json.NewDecoder(bytesReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&ev); err != nil {
		return ev, fmt.Errorf("event: %w", err)
	}
	return ev, nil
}

func (c EventClient) client() *hooks.Client {
	hc := &hooks.Client{
		ID: c.ID, Username: c.Username, ProtocolVersion: c.ProtocolVersion, RemoteAddr: c.RemoteAddr,
		Listener: c.Listener, Attributes: c.Attributes,
	}
	if hc.ProtocolVersion == 0 {
		hc.ProtocolVersion = packets.V5
	}
	if c.Password != nil || c.CertSubject != "" || c.CertSANs != nil || c.CertFingerprint != "" {
		hc.Creds = &hooks.Credentials{CertSubject: c.CertSubject, CertSANs: c.CertSANs, CertFingerprint: c.CertFingerprint}
		if c.Password != nil {
			hc.Creds.Password = []byte(*c.Password)
		}
	}
	hc.SetUserProperties(props(c.UserProps))
	return hc
}

func props(m map[string]string) []packets.UserProperty {
	var ps []packets.UserProperty
	for k, v := range m {
		ps = append(ps, packets.UserProperty{Key: k, Value: v})
	}
	return ps
}

// Call runs ev and returns the plugin's answer as a value that marshals to
// readable JSON: a hooks.AuthResult, hooks.AuthzResult, hooks.PublishResult
// or, for transform, the resulting message.
func (p *Plugin) Call(ctx context.Context, ev Event) (any, error) {
	c := ev.Client.client()
	msg := &packets.Publish{Topic: ev.Topic, QoS: ev.QoS, Retain: ev.Retain, Payload: []byte(ev.Payload)}
	msg.Properties.User = props(ev.UserProps)
	if ev.ContentType != nil {
		msg.Properties.ContentType = *ev.ContentType
		msg.Properties.Set(packets.PropContentType)
	}
	switch ev.Point {
	case "authenticate":
		steps := map[string]hooks.AuthStep{"": hooks.AuthConnect, "connect": hooks.AuthConnect, "continue": hooks.AuthContinue, "reauth": hooks.AuthReauth}
		step, ok := steps[ev.Step]
		if !ok {
			return nil, fmt.Errorf("event: step %q is not connect, continue or reauth", ev.Step)
		}
		req := &hooks.AuthRequest{Client: c, Step: step, Method: ev.AuthMethod}
		if ev.AuthData != "" {
			req.Data = []byte(ev.AuthData)
		}
		return p.p.Authenticate(ctx, req)
	case "authorize":
		action := hooks.ActionPublish
		switch ev.Action {
		case "", "publish":
		case "subscribe":
			action = hooks.ActionSubscribe
		default:
			return nil, fmt.Errorf("event: action %q is not publish or subscribe", ev.Action)
		}
		return p.p.Authorize(ctx, &hooks.AuthzRequest{Client: c, Action: action, Topic: ev.Topic, QoS: ev.QoS, Retain: ev.Retain})
	case "on-publish":
		return p.p.OnPublish(ctx, c, msg)
	case "transform":
		if err := p.p.Transform(ctx, c, msg); err != nil {
			return nil, err
		}
		return TransformOutput{Topic: msg.Topic, Payload: string(msg.Payload), ContentType: msg.Properties.ContentType,
			HasContentType: msg.Properties.Has(packets.PropContentType), UserProps: msg.Properties.User}, nil
	}
	return nil, fmt.Errorf("event: point %q is not authenticate, authorize, on-publish or transform", ev.Point)
}

// TransformOutput is the message a transform produced.
type TransformOutput struct {
	Topic          string                 `json:"topic"`
	Payload        string                 `json:"payload"`
	ContentType    string                 `json:"content_type,omitempty"`
	HasContentType bool                   `json:"has_content_type"`
	UserProps      []packets.UserProperty `json:"user_properties,omitempty"`
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
