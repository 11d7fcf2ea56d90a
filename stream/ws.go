package stream

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/coder/websocket"
)

// WebSocket: GET /api/v1/ws?job=a,b&types=item.created, with the same
// authentication and filters as the SSE stream. The client's first message
// subscribes: {} for live events from now on, or {"last_event_id":"evt_…"}
// to resume after that event. Each event is then one text message, the
// webhook's JSON envelope with the event id first:
// {"id":"evt_…","type":…,"timestamp":…,"data":{…}}. The server pings
// every heartbeat. A client the hub drops is closed with a reason:
// 4000 for a slow consumer, 1008 when its access was revoked, 1001 at
// shutdown.

// Close codes of the WebSocket stream.
const (
	StatusSlowConsumer websocket.StatusCode = 4000
)

// firstMessageTimeout bounds the wait for the subscription message.
const firstMessageTimeout = 10 * time.Second

// maxCloseReason is the longest close reason a control frame carries.
const maxCloseReason = 123

// subscription is the client's first message.
type subscription struct {
	LastEventID string `json:"last_event_id"`
}

// ServeWS serves GET /api/v1/ws.
func (h *Hub) ServeWS(w http.ResponseWriter, r *http.Request) {
	c, set := h.open(w, r, "ws")
	if c == nil {
		return
	}
	defer h.release(c)
	// Browsers send an Origin from any page; the bearer token, not a
	// cookie, is what authenticates, so a cross-origin page needs it too.
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return // Accept answered the handshake's error
	}
	defer conn.CloseNow()

	ctx, cancel := context.WithTimeout(h.ctx, firstMessageTimeout)
	typ, data, err := conn.Read(ctx)
	cancel()
	if err != nil {
		closeWS(conn, websocket.StatusPolicyViolation, `expected a first message: {} or {"last_event_id":"evt_..."}`)
		return
	}
	var sub subscription
	if typ != websocket.MessageText || json.Unmarshal(data, &sub) != nil {
		closeWS(conn, websocket.StatusPolicyViolation, `the first message is not {} or {"last_event_id":"evt_..."}`)
		return
	}
	cursor, herr := cursorParam(sub.LastEventID)
	if herr != nil {
		closeWS(conn, websocket.StatusPolicyViolation, herr.message)
		return
	}
	// From now on the client only answers pings and closes: CloseRead
	// reads those, and ends rctx when the connection ends. (Its context
	// is not the hub's: ending it would close the connection without a
	// reason, and Close tells clients why through their subscription.)
	rctx := conn.CloseRead(context.Background())
	err = h.run(rctx, c, cursor, set.Heartbeat, &wsSink{conn: conn, ctx: rctx, wtime: h.wtime})
	h.ended(c, err)
	switch {
	case errors.Is(err, errDropped):
		code := websocket.StatusPolicyViolation
		switch c.kind {
		case dropSlow:
			code = StatusSlowConsumer
		case dropShutdown:
			code = websocket.StatusGoingAway
		}
		closeWS(conn, code, c.reason)
	case errors.Is(err, errClosed):
		closeWS(conn, websocket.StatusGoingAway, "pollhook is shutting down")
	case errors.Is(err, errRevoked):
		closeWS(conn, websocket.StatusPolicyViolation, err.Error())
	case errors.Is(err, errGone):
	default:
		closeWS(conn, websocket.StatusInternalError, "stream failed")
	}
}

func closeWS(conn *websocket.Conn, code websocket.StatusCode, reason string) {
	if len(reason) > maxCloseReason {
		reason = reason[:maxCloseReason]
	}
	_ = conn.Close(code, reason)
}

// wsSink writes events to a WebSocket.
type wsSink struct {
	conn  *websocket.Conn
	ctx   context.Context
	wtime time.Duration
	buf   []byte
}

func (s *wsSink) event(f *frame) error {
	b := append(s.buf[:0], `{"id":"`...)
	b = append(b, f.id...) // ids are base32: nothing to escape
	b = append(b, `",`...)
	b = append(b, f.env[1:]...)
	s.buf = b
	ctx, cancel := context.WithTimeout(s.ctx, s.wtime)
	defer cancel()
	return s.conn.Write(ctx, websocket.MessageText, b)
}

func (s *wsSink) heartbeat() error {
	ctx, cancel := context.WithTimeout(s.ctx, s.wtime)
	defer cancel()
	return s.conn.Ping(ctx)
}

func (s *wsSink) flush() error { return nil }
