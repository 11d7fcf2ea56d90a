package stream

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

// dialWS opens the WebSocket stream at path with the token and sends
// hello as the first message.
func (w *world) dialWS(ctx context.Context, path, token, hello string) *websocket.Conn {
	w.t.Helper()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(w.srv.URL, "http")+path,
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { _ = conn.CloseNow() })
	if err := conn.Write(ctx, websocket.MessageText, []byte(hello)); err != nil {
		w.t.Fatal(err)
	}
	return conn
}

// wsIDs reads n messages and returns their ids, checking each one's shape.
func wsIDs(ctx context.Context, t *testing.T, conn *websocket.Conn, n int) []string {
	t.Helper()
	var out []string
	for range n {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("after %d of %d messages: %v", len(out), n, err)
		}
		var m struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		}
		if typ != websocket.MessageText || json.Unmarshal(data, &m) != nil || m.ID == "" || m.Type == "" {
			t.Fatalf("message %s, want a JSON event", data)
		}
		out = append(out, m.ID)
	}
	return out
}

func TestWebSocketResumeAndFilters(t *testing.T) {
	w := newWorld(t, worldOptions{ring: 4})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	base := w.commit("orders", "item.created", "0")

	// Resuming from base: everything after it, whatever the moment the
	// subscription is registered.
	conn := w.dialWS(ctx, "/api/v1/ws?job=orders&types=item.updated", adminToken, `{"last_event_id":"`+base[0].ID+`"}`)
	w.commit("orders", "item.created", "1")
	u := w.commit("orders", "item.updated", keys(6, "u")...) // more than the ring: from the store
	w.commit("users", "item.updated", "1")
	_, data, err := conn.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"` + u[0].ID + `","type":"item.updated","timestamp":"` + u[0].Time.Format(timestampLayout) +
		`","data":{"after":{"id":"u0","pad":""},"job":"orders","key":"u0"}}`
	if string(data) != want {
		t.Errorf("message %s\nwant %s", data, want)
	}
	if got := wsIDs(ctx, t, conn, 5); !slices.Equal(got, ids(u[1:])) {
		t.Errorf("got %v, want %v", got, ids(u[1:]))
	}
	_ = conn.Close(websocket.StatusNormalClosure, "")

	// A stream token resumes its job from the middle of what it missed.
	conn = w.dialWS(ctx, "/api/v1/ws", dashToken, `{"last_event_id":"`+u[2].ID+`"}`)
	live := w.commit("orders", "item.deleted", "u0")
	if got := wsIDs(ctx, t, conn, 4); !slices.Equal(got, append(ids(u[3:]), live[0].ID)) {
		t.Errorf("stream token resumed with %v, want %v", got, append(ids(u[3:]), live[0].ID))
	}

	// Shutdown closes it with 1001 and the reason.
	if err := w.hub.Close(waitTimeout); err != nil {
		t.Fatal(err)
	}
	_, _, err = conn.Read(ctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway || !strings.HasPrefix(ce.Reason, "pollhook is shutting down") {
		t.Errorf("after shutdown: %v, want close 1001 pollhook is shutting down", err)
	}
}

func TestWebSocketBadSubscription(t *testing.T) {
	w := newWorld(t, worldOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for _, tc := range []struct{ hello, reason string }{
		{`{"last_event_id":"42"}`, "last event id is not an event id (evt_ and 26 base32 characters)"},
		{`[1]`, `the first message is not {} or {"last_event_id":"evt_..."}`},
	} {
		conn := w.dialWS(ctx, "/api/v1/ws", adminToken, tc.hello)
		_, _, err := conn.Read(ctx)
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || ce.Reason != tc.reason {
			t.Errorf("first message %s: %v, want close 1008 %q", tc.hello, err, tc.reason)
		}
	}
}
