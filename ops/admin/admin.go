// Package admin is the admin API of the operations endpoint: JSON under
// /api/v1/ for what an operator asks a running broker and the few things
// they do to it.
//
//	GET  /api/v1/clients?search=&limit=&after=   sessions, a page at a time, by client id
//	GET  /api/v1/clients/{id}                    one session with its subscriptions
//	POST /api/v1/clients/{id}/disconnect         end its connection (5.0: DISCONNECT 0x98)
//	GET  /api/v1/retained?prefix=&limit=         retained topics
//	GET  /api/v1/plugins                         the plugin chain with its counters
//	POST /api/v1/reload                          what SIGHUP does: re-read the config file
//	GET  /api/v1/cluster                         a cluster node's membership, health and refusals
//
// It depends on small interfaces (Broker) and funcs (Config.Plugins,
// Config.Reload) that the binary wires, never on the plugin host or the
// transports themselves. Every list is bounded (broker.MaxListLimit); the
// broker copies its state out under its locks and this package encodes it
// after they are released. Errors are {"error": "..."} with the status that
// says whose fault it is. Credentials are the operations server's (ops.Auth);
// each action is reported to Config.Auditor with who asked.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/plumemq/plume/core/broker"
	"github.com/plumemq/plume/ops"
)

// Broker is what the admin API reads and asks of the broker;
// *broker.Broker implements it (core/broker/introspect.go).
type Broker interface {
	Clients(q broker.ClientQuery) broker.ClientPage
	ClientInfo(id string) (broker.ClientDetail, error)
	Disconnect(id string) error
	Retained(prefix string, limit int) ([]broker.RetainedInfo, bool)
}

var _ Broker = (*broker.Broker)(nil)

// Plugin is one plugin of the chain as GET /api/v1/plugins shows it. The
// binary fills it from the plugin host; fields it does not know stay zero
// and are left out.
type Plugin struct {
	Name string `json:"name"`
	// Source is where the module came from: a file path or "builtin:NAME".
	Source string `json:"source,omitempty"`
	// SHA256 is the hash of the module serving now, lower-case hex.
	SHA256   string     `json:"sha256,omitempty"`
	LoadedAt *time.Time `json:"loaded_at,omitempty"`
	Calls    *uint64    `json:"calls,omitempty"`
	Errors   *uint64    `json:"errors,omitempty"`
	// Traps counts calls that trapped or overran their deadline.
	Traps uint64 `json:"traps"`
	// Shadow is the counters of the plugin's shadow, if it has one
	// (docs/decisions/0028-shadow-plugins.md).
	Shadow any `json:"shadow,omitempty"`
}

// ReloadReport is what a reload did.
type ReloadReport struct {
	// Applied names what the reload changed or re-read ("plugins",
	// "certificates").
	Applied []string `json:"applied"`
	// NeedsRestart names the settings that changed but take a restart.
	NeedsRestart []string `json:"needs_restart"`
}

// Auditor hears of every action taken through the API, after it was taken
// (or refused): who (ops.ActorOf), from where (the remote address), what
// ("disconnect", "reload"), on what (a client id; "" for a reload), and the
// error, nil on success. It is called on the request's goroutine: it should
// not block.
type Auditor interface {
	AdminAction(actor, remote, action, target string, err error)
}

// Config is what the binary wires into the API.
type Config struct {
	Broker Broker
	// Plugins lists the chain in order; nil answers an empty list.
	Plugins func() []Plugin
	// Reload does what SIGHUP does; nil when there is nothing to reload
	// (no config file): POST /api/v1/reload answers 409.
	Reload func(ctx context.Context) (ReloadReport, error)
	// Auditor, if set, hears of every action.
	Auditor Auditor
	// Cluster is the node's status (broker.Broker.Cluster); nil, or false,
	// on a broker that is no cluster node: GET /api/v1/cluster answers 404.
	Cluster func() (broker.ClusterStatus, bool)
}

// Register adds the API's routes to s.
func Register(s *ops.Server, cfg Config) {
	for pattern, h := range Handlers(cfg) {
		s.Handle(pattern, h)
	}
}

// Handlers returns the API's routes by ServeMux pattern, for a server
// other than ops.Server (tests, an embedder).
func Handlers(cfg Config) map[string]http.Handler {
	a := &api{cfg: cfg}
	return map[string]http.Handler{
		"/api/v1/":                        http.HandlerFunc(a.notFound),
		"/api/v1/clients":                 method(http.MethodGet, a.clients),
		"/api/v1/clients/{id}":            method(http.MethodGet, a.client),
		"/api/v1/clients/{id}/disconnect": method(http.MethodPost, a.disconnect),
		"/api/v1/retained":                method(http.MethodGet, a.retained),
		"/api/v1/plugins":                 method(http.MethodGet, a.plugins),
		"/api/v1/reload":                  method(http.MethodPost, a.reload),
		"/api/v1/cluster":                 method(http.MethodGet, a.cluster),
	}
}

type api struct {
	cfg Config
}

// method answers 405 in JSON for any other method. A POST that a browser
// sends from another site (a form, with basic-auth credentials it cached)
// is refused: an action needs the request to come from the endpoint's own
// pages or from a tool that sends no Origin.
func method(m string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != m && !(m == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", m)
			writeError(w, http.StatusMethodNotAllowed, r.Method+" "+r.URL.Path+": use "+m)
			return
		}
		if m == http.MethodPost && crossSite(r) {
			writeError(w, http.StatusForbidden, "a cross-site request may not act on the broker")
			return
		}
		h(w, r)
	})
}

// crossSite reports whether r carries an Origin other than its own host.
func crossSite(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	return err != nil || u.Host != r.Host
}

func (a *api) notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
}

// limitParam reads ?limit=: absent is the default, more than the maximum is
// the maximum (broker.ListLimit); anything but a positive integer is a 400.
func limitParam(r *http.Request) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return broker.DefaultListLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, errors.New("limit: want a positive integer (at most " + strconv.Itoa(broker.MaxListLimit) + ")")
	}
	return broker.ListLimit(n), nil
}

func (a *api) clients(w http.ResponseWriter, r *http.Request) {
	limit, err := limitParam(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	q := r.URL.Query()
	page := a.cfg.Broker.Clients(broker.ClientQuery{Search: q.Get("search"), After: q.Get("after"), Limit: limit})
	out := clientList{Clients: make([]clientJSON, 0, len(page.Clients)), Total: page.Total, Next: page.Next}
	for _, c := range page.Clients {
		out.Clients = append(out.Clients, summaryJSON(c))
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *api) client(w http.ResponseWriter, r *http.Request) {
	d, err := a.cfg.Broker.ClientInfo(r.PathValue("id"))
	if errors.Is(err, broker.ErrNoClient) {
		writeError(w, http.StatusNotFound, "no session for client id "+strconv.Quote(r.PathValue("id")))
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, detailJSON(d))
}

func (a *api) disconnect(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	err := a.cfg.Broker.Disconnect(id)
	a.audit(r, "disconnect", id, err)
	switch {
	case errors.Is(err, broker.ErrNoClient):
		writeError(w, http.StatusNotFound, "no connection for client id "+strconv.Quote(id))
	case err != nil:
		writeError(w, http.StatusInternalServerError, err.Error())
	default:
		// The kick is asked; the connection ends on its own goroutine, and
		// a client that reconnects may be back before this answer arrives.
		writeJSON(w, http.StatusAccepted, map[string]any{"client_id": id, "disconnecting": true})
	}
}

func (a *api) retained(w http.ResponseWriter, r *http.Request) {
	limit, err := limitParam(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	msgs, truncated := a.cfg.Broker.Retained(r.URL.Query().Get("prefix"), limit)
	out := retainedList{Retained: make([]retainedJSON, 0, len(msgs)), Truncated: truncated}
	for _, m := range msgs {
		rj := retainedJSON{Topic: m.Topic, QoS: m.QoS, PayloadBytes: m.PayloadBytes}
		if !m.Expires.IsZero() {
			rj.ExpiresAt = rfc3339(m.Expires)
		}
		out.Retained = append(out.Retained, rj)
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *api) plugins(w http.ResponseWriter, _ *http.Request) {
	out := struct {
		Plugins []Plugin `json:"plugins"`
	}{Plugins: []Plugin{}}
	if a.cfg.Plugins != nil {
		if ps := a.cfg.Plugins(); ps != nil {
			out.Plugins = ps
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// PluginsHandler is GET /api/v1/plugins alone, for the binary to serve
// under its older path, /plugins, too.
func PluginsHandler(cfg Config) http.Handler {
	a := &api{cfg: cfg}
	return method(http.MethodGet, a.plugins)
}

func (a *api) reload(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Reload == nil {
		err := errors.New("the broker runs without a config file: there is nothing to reload")
		a.audit(r, "reload", "", err)
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	rep, err := a.cfg.Reload(r.Context())
	a.audit(r, "reload", "", err)
	if rep.Applied == nil {
		rep.Applied = []string{}
	}
	if rep.NeedsRestart == nil {
		rep.NeedsRestart = []string{}
	}
	if err != nil {
		// The config is the operator's to fix; what was left running is said.
		writeJSON(w, http.StatusUnprocessableEntity, struct {
			Error string `json:"error"`
			ReloadReport
		}{err.Error(), rep})
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (a *api) audit(r *http.Request, action, target string, err error) {
	if a.cfg.Auditor != nil {
		a.cfg.Auditor.AdminAction(ops.ActorOf(r), r.RemoteAddr, action, target, err)
	}
}

// writeJSON encodes v, indented for a person reading curl's output.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v) // the client went away; nothing to tell it
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, struct {
		Error string `json:"error"`
	}{msg})
}
