package stream

import (
	"errors"
	"net/http"
	"sync"
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
		s.final(code, reason)
		_ = s.flush()
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

// sseWriteMax bounds the bytes an SSE sink gathers before it writes them:
// the messages drained in one wake-up go to the response in one Write (per
// sseWriteMax bytes) and one flush, instead of one Write per message. It
// is the size of net/http's connection buffer, so that each Write costs
// at most about one write system call. Larger buffers do not pay: with
// 1,000 clients at 100 events/s (pollhook-streamload), 32 KiB buffers,
// kept per client or pooled, added 25-40 MB of RSS (a writer blocked on a
// slow socket holds its buffer) and saved no write system call, since a
// wake-up's events (10 per commit there) fit 4 KiB either way.
const sseWriteMax = 4 << 10

// sseBufs holds the buffers sinks gather messages in. A sink takes one
// for a send and gives it back at the flush, so that buffers are held by
// the clients being written to, not by every connected client.
var sseBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, sseWriteMax)
	return &b
}}

// sseSink writes events to an SSE response. It gathers the messages of
// one send in buf and writes them in one Write before the flush.
type sseSink struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	wtime time.Duration
	armed bool    // a write deadline is set for the writes until the next flush
	pb    *[]byte // buf's pooled storage, between the first message gathered and the flush
	buf   []byte
}

// gather makes sure buf has pooled storage.
func (s *sseSink) gather() {
	if s.pb == nil {
		s.pb = sseBufs.Get().(*[]byte)
		s.buf = (*s.pb)[:0]
	}
}

// release gives buf's storage back to the pool; buf must have been written.
func (s *sseSink) release() {
	if s.pb == nil {
		return
	}
	if cap(s.buf) <= 2*sseWriteMax { // a final message may have grown it
		*s.pb = s.buf[:0]
		sseBufs.Put(s.pb)
	}
	s.pb, s.buf = nil, nil
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

// writeBuf writes what buf gathered.
func (s *sseSink) writeBuf() error {
	if len(s.buf) == 0 {
		return nil
	}
	err := s.write(s.buf)
	s.buf = s.buf[:0]
	return err
}

func (s *sseSink) event(f *frame) error {
	const head = len("id: \nevent: \ndata: ") + len("\n\n")
	if n := head + len(f.id) + len(f.typ) + len(f.env); len(s.buf)+n > sseWriteMax {
		if err := s.writeBuf(); err != nil {
			return err
		}
		if n > sseWriteMax {
			// A message larger than the buffer goes out on its own,
			// so that buf never grows past sseWriteMax.
			if err := s.write([]byte("id: " + f.id + "\nevent: " + f.typ + "\ndata: ")); err != nil {
				return err
			}
			if err := s.write(f.env); err != nil {
				return err
			}
			return s.write([]byte("\n\n"))
		}
	}
	s.gather()
	b := append(s.buf, "id: "...)
	b = append(b, f.id...)
	b = append(b, "\nevent: "...)
	b = append(b, f.typ...)
	b = append(b, "\ndata: "...)
	b = append(b, f.env...)
	s.buf = append(b, "\n\n"...)
	return nil
}

func (s *sseSink) heartbeat() error {
	s.gather()
	s.buf = append(s.buf, ": heartbeat\n\n"...)
	return nil
}

// final gathers the last message of a stream the hub ended: an error
// event saying why, in the admin API's error shape.
func (s *sseSink) final(code, reason string) {
	s.gather()
	s.buf = append(append(append(s.buf, "event: error\ndata: "...), errorJSON(code, reason)...), "\n\n"...)
}

func (s *sseSink) flush() error {
	err := s.writeBuf()
	s.release()
	if err != nil {
		return err
	}
	s.armed = false
	return s.rc.Flush()
}
