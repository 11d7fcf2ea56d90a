package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
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

	// Shutdown closes it with 1001 and the reason. The client reads
	// meanwhile, so that it answers the close frame (Close waits for that).
	read := make(chan error, 1)
	go func() { _, _, err := conn.Read(ctx); read <- err }()
	if err := w.hub.Close(waitTimeout); err != nil {
		t.Fatal(err)
	}
	err = <-read
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

// dialWSWith is dialWS through hc, whose connections may have small buffers.
func (w *world) dialWSWith(ctx context.Context, hc *http.Client, path, token, hello string) *websocket.Conn {
	w.t.Helper()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(w.srv.URL, "http")+path,
		&websocket.DialOptions{HTTPClient: hc, HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { _ = conn.CloseNow() })
	if err := conn.Write(ctx, websocket.MessageText, []byte(hello)); err != nil {
		w.t.Fatal(err)
	}
	return conn
}

// A WebSocket client that stops reading is dropped once its queue is
// full, with close code 4000 and the reason, after the events it had been
// sent; meanwhile a fast client receives every event. It then resumes
// from the last id it received.
func TestWebSocketSlowConsumerDropped(t *testing.T) {
	set := defaultSettings()
	set.Buffer = 4
	w := newWorld(t, worldOptions{settings: set, sndbuf: 8 << 10})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()

	// Both resume from base, so that each receives every later event
	// whenever its subscription starts.
	base := w.commit("orders", "item.created", "base")
	hello := `{"last_event_id":"` + base[0].ID + `"}`
	slow := w.dialWSWith(ctx, smallReadClient(), "/api/v1/ws?job=orders", adminToken, hello)
	fast := w.dialWS(ctx, "/api/v1/ws?job=orders", dashToken, hello)
	first := w.commit("orders", "item.created", "first")
	if got := wsIDs(ctx, t, fast, 1); !slices.Equal(got, ids(first)) {
		t.Fatalf("fast client got %v, want %v", got, ids(first))
	}
	want := ids(first)

	// The slow client reads nothing now; each commit waits for the fast
	// client, which is never behind.
	pad := strings.Repeat("x", 4000)
	for i := range 40 {
		evs := w.commitData("orders", "item.updated", pad, keys(5, string(rune('a'+i%26))+"-")...)
		want = append(want, ids(evs)...)
		if got := wsIDs(ctx, t, fast, len(evs)); !slices.Equal(got, ids(evs)) {
			t.Fatalf("commit %d: the fast client got %v, want %v", i, got, ids(evs))
		}
	}
	if n := testutil.ToFloat64(w.hub.metrics.drops.WithLabelValues("ws", dropSlow)); n != 1 {
		t.Fatalf("slow WebSocket consumers dropped = %v, want 1", n)
	}

	// Now it reads: a proper prefix of the events, in order, then the close.
	var got []string
	var closed websocket.CloseError
	for {
		typ, data, err := slow.Read(ctx)
		if errors.As(err, &closed) {
			break
		}
		if err != nil {
			t.Fatalf("after %d events: %v, want a close frame", len(got), err)
		}
		var m struct {
			ID string `json:"id"`
		}
		if typ != websocket.MessageText || json.Unmarshal(data, &m) != nil {
			t.Fatalf("message %.100s, want a JSON event", data)
		}
		got = append(got, m.ID)
	}
	if len(got) == 0 || len(got) >= len(want) || !slices.Equal(got, want[:len(got)]) {
		t.Errorf("the slow client got %d events before its drop; want a proper prefix of the %d, in order", len(got), len(want))
	}
	var waiting int
	if _, err := fmt.Sscanf(closed.Reason, "slow consumer: %d events", &waiting); err != nil || waiting < set.Buffer ||
		closed.Reason != fmt.Sprintf("slow consumer: %d events were still waiting to be sent when more came; reconnect from your last event id to resume", waiting) {
		t.Errorf("close reason %q, want the slow consumer's with at least %d events waiting", closed.Reason, set.Buffer)
	}
	if closed.Code != StatusSlowConsumer || StatusSlowConsumer != 4000 {
		t.Errorf("close code %d, want 4000", closed.Code)
	}

	// It resumes where it stopped, and has everything.
	again := w.dialWS(ctx, "/api/v1/ws?job=orders", adminToken, `{"last_event_id":"`+got[len(got)-1]+`"}`)
	if rest := wsIDs(ctx, t, again, len(want)-len(got)); !slices.Equal(rest, want[len(got):]) {
		t.Errorf("resumed with %d events, want the %d it missed", len(rest), len(want)-len(got))
	}
}

// Past max_clients a WebSocket handshake is refused with 503, before the
// upgrade, and counted; the clients admitted are served as before.
func TestWebSocketMaxClients(t *testing.T) {
	set := defaultSettings()
	set.MaxClients = 2
	w := newWorld(t, worldOptions{settings: set})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	base := w.commit("orders", "item.created", "0")
	a := w.dialWS(ctx, "/api/v1/ws", adminToken, `{"last_event_id":"`+base[0].ID+`"}`)
	w.sse("/api/v1/stream?job=orders", map[string]string{"Authorization": "Bearer " + dashToken})

	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(w.srv.URL, "http")+"/api/v1/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + adminToken}}})
	if err == nil || resp == nil {
		t.Fatalf("third client: dial error %v, response %v; want a refused handshake", err, resp)
	}
	body, _ := io.ReadAll(resp.Body)
	want := `{"error":{"code":"unavailable","message":"too many stream clients are connected (streams.max_clients); try again later"}}` + "\n"
	if resp.StatusCode != http.StatusServiceUnavailable || string(body) != want || resp.Header.Get("Retry-After") != "5" {
		t.Errorf("third client: %d (Retry-After %q) %s, want 503 (Retry-After 5) %s", resp.StatusCode, resp.Header.Get("Retry-After"), body, want)
	}
	if n := testutil.ToFloat64(w.hub.metrics.refusal.WithLabelValues("ws")); n != 1 {
		t.Errorf("refused WebSocket clients = %v, want 1", n)
	}
	if n := testutil.ToFloat64(w.hub.metrics.refusal.WithLabelValues("sse")); n != 0 {
		t.Errorf("refused SSE clients = %v, want 0", n)
	}
	o := w.commit("orders", "item.created", "1")
	if got := wsIDs(ctx, t, a, 1); !slices.Equal(got, ids(o)) {
		t.Errorf("admitted client: %v, want %v", got, ids(o))
	}
}
