package dashboard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// streamBuffer is how many events a stream holds for a client that reads
// slower than they come; past it the newest is dropped for that client
// alone. The sampler never waits for a reader.
const streamBuffer = 8

// writeTimeout bounds one write to an event stream: a client that stops
// reading is cut off after it, which frees its place among MaxStreams.
const writeTimeout = 10 * time.Second

// errTooManyStreams is the answer past Config.MaxStreams.
var errTooManyStreams = errors.New("too many event streams open; poll /api/v1/overview")

// stream is one open GET /api/v1/events.
type stream struct {
	events  chan []byte
	dropped int // events not delivered because events was full; under streams.mu
}

// streams are the open event streams, at most max of them.
type streams struct {
	mu     sync.Mutex
	max    int
	open   map[*stream]struct{}
	closed chan struct{} // closed by closeAll: every stream ends
}

func newStreams(max int) *streams {
	return &streams{max: max, open: map[*stream]struct{}{}, closed: make(chan struct{})}
}

func (ss *streams) add() (*stream, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	select {
	case <-ss.closed:
		return nil, http.ErrServerClosed
	default:
	}
	if len(ss.open) >= ss.max {
		return nil, errTooManyStreams
	}
	s := &stream{events: make(chan []byte, streamBuffer)}
	ss.open[s] = struct{}{}
	return s, nil
}

func (ss *streams) remove(s *stream) {
	ss.mu.Lock()
	delete(ss.open, s)
	ss.mu.Unlock()
}

// send offers ev to every stream without waiting: a full stream loses it.
func (ss *streams) send(ev []byte) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for s := range ss.open {
		select {
		case s.events <- ev:
		default:
			s.dropped++
		}
	}
}

// count is the number of open streams.
func (ss *streams) count() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return len(ss.open)
}

// closeAll ends every stream and refuses new ones.
func (ss *streams) closeAll() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	select {
	case <-ss.closed:
	default:
		close(ss.closed)
	}
}

// encodeEvent frames o as one server-sent event named "sample". JSON has no
// raw newline, so the data fits one "data:" line.
func encodeEvent(o Overview) ([]byte, error) {
	data, err := json.Marshal(o)
	if err != nil {
		return nil, fmt.Errorf("dashboard: encode event: %w", err)
	}
	var b bytes.Buffer
	b.Grow(len(data) + 24)
	b.WriteString("event: sample\ndata: ")
	b.Write(data)
	b.WriteString("\n\n")
	return b.Bytes(), nil
}

// serveEvents answers GET /api/v1/events: a server-sent event stream, one
// "sample" event per sampling period, until the client goes, its writes stall
// for writeTimeout, or Stop.
func (d *Dashboard) serveEvents(w http.ResponseWriter, r *http.Request) {
	s, err := d.streams.add()
	if err != nil {
		w.Header().Set("Retry-After", "10")
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer d.streams.remove(s)
	rc := http.NewResponseController(w)
	securityHeaders(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // a proxy in front must not hold events back
	w.WriteHeader(http.StatusOK)
	// retry: how long EventSource waits before reconnecting after a break.
	if !writeEvent(w, rc, []byte("retry: 2000\n\n")) {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-d.streams.closed:
			return
		case ev := <-s.events:
			if !writeEvent(w, rc, ev) {
				return
			}
		}
	}
}

// writeEvent writes and flushes one event under writeTimeout; false means
// the stream is over.
func writeEvent(w http.ResponseWriter, rc *http.ResponseController, ev []byte) bool {
	// Not every ResponseWriter supports deadlines (httptest's recorder); the
	// write is then unbounded, which only tests see.
	_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := w.Write(ev); err != nil {
		return false
	}
	return rc.Flush() == nil
}
