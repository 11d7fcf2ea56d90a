package stream

import (
	"errors"
	"net/http"
	"time"

	"github.com/pollhook/pollhook/store"
)

// Server-Sent Events: GET /api/v1/stream?job=a,b&types=item.created.
// Each event is
//
//	id: <event id>
//	event: <type>
//	data: <the webhook's JSON envelope>
//
// a comment line (": heartbeat") is sent every heartbeat, and a client
// that reconnects with Last-Event-ID (or ?last_event_id=) gets every kept
// event after it that its filters match, then the live ones. A client the
// hub drops gets a last "event: error" whose data says why (the admin
// API's error shape), and the response ends.

// open authenticates r, reads its filters and admits it as a client of
// transport; on refusal it answers and returns nil. The caller must
// release the client.
func (h *Hub) open(w http.ResponseWriter, r *http.Request, transport string) (*client, settings) {
	h.mu.Lock()
	set := h.set
	h.mu.Unlock()
	if set.MaxClients == 0 {
		writeError(w, http.StatusServiceUnavailable, codeUnavailable, "event streams are off")
		return nil, set
	}
	g, f, herr := set.authorize(r)
	if herr != nil {
		herr.write(w)
		return nil, set
	}
	set, err := h.admit()
	switch {
	case errors.Is(err, errFull):
		h.metrics.refused(transport)
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable, codeUnavailable,
			"too many stream clients are connected (streams.max_clients); try again later")
		return nil, set
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, codeUnavailable, err.Error())
		return nil, set
	}
	h.logger.Debug("stream client connected", "transport", transport, "remote", r.RemoteAddr,
		"jobs", f.String(), "types", f.types, "admin", g.admin)
	return &client{transport: transport, grant: g, filter: f, buffer: set.Buffer, wake: make(chan struct{}, 1), quit: make(chan struct{})}, set
}

// cursorParam is the last event id a client resumes from ("": live only),
// or an error answered to it.
func cursorParam(id string) (string, *httpError) {
	if id != "" && !store.ValidEventID(id) {
		return "", &httpError{http.StatusBadRequest, codeBadRequest,
			"last event id is not an event id (evt_ and 26 base32 characters)"}
	}
	return id, nil
}

// ServeSSE serves GET /api/v1/stream.
func (h *Hub) ServeSSE(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("Last-Event-ID")
	if id == "" {
		id = r.URL.Query().Get("last_event_id")
	}
	cursor, herr := cursorParam(id)
	if herr != nil {
		herr.write(w)
		return
	}
	c, set := h.open(w, r, "sse")
	if c == nil {
		return
	}
	defer h.release(c)
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	// The headers go out once the client is subscribed (run flushes them).
	s := &sseSink{w: w, rc: http.NewResponseController(w), wtime: h.wtime}
	err := h.run(r.Context(), c, cursor, set.Heartbeat, s)
	h.ended(c, err)
	if errors.Is(err, errDropped) || errors.Is(err, errRevoked) || errors.Is(err, errClosed) {
		code, reason := c.kind, c.reason
		if !errors.Is(err, errDropped) {
			code, reason = dropRevoked, err.Error()
			if errors.Is(err, errClosed) {
				code = dropShutdown
			}
		}
		s.buf = append(append(append(s.buf[:0], "event: error\ndata: "...), errorJSON(code, reason)...), "\n\n"...)
		if s.write(s.buf) == nil {
			_ = s.flush()
		}
	}
}

// ended logs why c's subscription ended.
func (h *Hub) ended(c *client, err error) {
	switch {
	case errors.Is(err, errDropped):
		h.logger.Info("stream client dropped", "transport", c.transport, "reason", c.reason)
	case errors.Is(err, errGone), errors.Is(err, errClosed):
	default:
		h.logger.Debug("stream client ended", "transport", c.transport, "err", err)
	}
}

// sseSink writes events to an SSE response.
type sseSink struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	wtime time.Duration
	armed bool // a write deadline is set for the writes until the next flush
	buf   []byte
}

func (s *sseSink) write(p []byte) error {
	if !s.armed {
		// A client that stops reading blocks the write once the socket's
		// buffers are full: the deadline ends it.
		_ = s.rc.SetWriteDeadline(time.Now().Add(s.wtime))
		s.armed = true
	}
	_, err := s.w.Write(p)
	return err
}

func (s *sseSink) event(f *frame) error {
	b := append(s.buf[:0], "id: "...)
	b = append(b, f.id...)
	b = append(b, "\nevent: "...)
	b = append(b, f.typ...)
	b = append(b, "\ndata: "...)
	b = append(b, f.env...)
	b = append(b, "\n\n"...)
	s.buf = b
	return s.write(b)
}

func (s *sseSink) heartbeat() error { return s.write([]byte(": heartbeat\n\n")) }

func (s *sseSink) flush() error {
	s.armed = false
	return s.rc.Flush()
}
