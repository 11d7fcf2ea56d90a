package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The event streams of the real binary: SSE and WebSocket clients receive
// exactly the events the webhook receiver gets (same ids, same envelope),
// see their streams end with a reason at SIGTERM, resume after a restart
// with no gap and no duplicate, and are dropped as revoked by a reload
// that takes their token's job away.

const (
	strmAdminToken = "e2e-stream-admin-7Hq2"
	strmDashToken  = "e2e-stream-dash-Zp4W"
	// strmWait bounds each wait for a stream message; it only matters
	// when something is broken.
	strmWait = 20 * time.Second
	// strmStopBound is how long SIGTERM may take to end the streams and
	// the process (the e2e tests' bound for SIGTERM).
	strmStopBound = 8 * time.Second
)

// strmConfig is a configuration with streams: the orders job, a users job
// whose source never changes, and a stream token for dashJobs.
func strmConfig(dir, orders, users, rcv, dashJobs string) string {
	return ordersConfig{dir: dir, src: orders, rcv: rcv,
		server: "  admin_token: " + strmAdminToken + "\n",
		sections: `streams:
  heartbeat: 1h
  tokens:
    - token: ` + strmDashToken + `
      jobs: ` + dashJobs + "\n",
		jobs: `  - name: users
    schedule: "@every 1s"
    request: {url: "` + users + `/api/users"}
    items: data.orders
    key: id
    ignore: [updated_at]
    destinations: [receiver]
`}.String()
}

// strmMsg is one message of a stream: an SSE event, or a WebSocket text
// message (event holds its type, data the whole message).
type strmMsg struct{ id, event, data string }

// strmClient is an SSE or WebSocket client reading its stream in the
// background until it ends.
type strmClient struct {
	t     *testing.T
	name  string
	msgs  chan strmMsg
	ended chan struct{} // closed once the stream ended; end and endErr say when and how
	end   time.Time
	// endErr is why the stream ended: nil at the end of an SSE response,
	// the read error (a websocket.CloseError for a close frame) of a
	// WebSocket.
	endErr error
	stop   func()
}

func newStrmClient(t *testing.T, name string, stop func()) *strmClient {
	c := &strmClient{t: t, name: name, msgs: make(chan strmMsg, 1024), ended: make(chan struct{}), stop: stop}
	t.Cleanup(c.stop)
	return c
}

// finish records the end of the stream.
func (c *strmClient) finish(err error) {
	c.end, c.endErr = time.Now(), err
	close(c.msgs)
	close(c.ended)
}

// strmSSE opens GET /api/v1/stream<query> with token (in the header, or
// in the query when the query asks for it) and header.
func strmSSE(t *testing.T, in *instance, name, query, token string, header map[string]string) *strmClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+in.admin+"/api/v1/stream"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(query, "access_token=") {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("%s: %v", name, err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		t.Fatalf("%s: %d %s %s, want 200 text/event-stream", name, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	// The response's headers come once the client is subscribed: whatever
	// is committed from now on reaches it.
	c := newStrmClient(t, name, func() { cancel(); resp.Body.Close() })
	go func() {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var m strmMsg
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if m != (strmMsg{}) {
					c.msgs <- m
				}
				m = strmMsg{}
			case strings.HasPrefix(line, ":"): // heartbeat
			case strings.HasPrefix(line, "id: "):
				m.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				m.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				m.data = line[6:]
			default:
				c.finish(fmt.Errorf("unexpected line %q", line))
				return
			}
		}
		c.finish(sc.Err())
	}()
	return c
}

// strmWS opens GET /api/v1/ws<query> with token and subscribes with hello.
func strmWS(t *testing.T, in *instance, name, query, token, hello string) *strmClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), strmWait)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws://"+in.admin+"/api/v1/ws"+query,
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if err := conn.Write(ctx, websocket.MessageText, []byte(hello)); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	c := newStrmClient(t, name, func() { _ = conn.CloseNow() })
	// Reading all along also answers the server's close frame at once.
	go func() {
		for {
			typ, data, err := conn.Read(context.Background())
			if err != nil {
				c.finish(err)
				return
			}
			var m struct {
				ID   string `json:"id"`
				Type string `json:"type"`
			}
			if typ != websocket.MessageText || json.Unmarshal(data, &m) != nil {
				c.finish(fmt.Errorf("message %q is not a JSON event", data))
				return
			}
			c.msgs <- strmMsg{id: m.ID, event: m.Type, data: string(data)}
		}
	}()
	return c
}

// next returns the next message; ok is false once the stream ended.
func (c *strmClient) next() (strmMsg, bool) {
	c.t.Helper()
	select {
	case m, ok := <-c.msgs:
		return m, ok
	case <-time.After(strmWait):
		c.t.Fatalf("%s: no message in %s", c.name, strmWait)
		return strmMsg{}, false
	}
}

// expect reads len(want) messages and requires them to be exactly the
// webhooks want, in order: the same ids, types and envelopes, and the
// items keys.
func (c *strmClient) expect(ws bool, want []delivery, keys ...string) {
	c.t.Helper()
	for i, d := range want {
		m, ok := c.next()
		if !ok {
			c.t.Fatalf("%s: stream ended (%v) after %d of %d events", c.name, c.endErr, i, len(want))
		}
		var env struct {
			Type string `json:"type"`
			Data struct {
				Key string `json:"key"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(m.data), &env); err != nil {
			c.t.Fatalf("%s: event %d: %v", c.name, i, err)
		}
		data := string(d.body) // the webhook body: the envelope
		if ws {
			data = `{"id":"` + d.id + `",` + data[1:]
		}
		if m.id != d.id || m.event != d.event(c.t).Type || m.data != data || env.Type != m.event || env.Data.Key != keys[i] {
			c.t.Errorf("%s: event %d:\n got  id %s event %s key %s data %s\n want id %s event %s key %s data %s",
				c.name, i, m.id, m.event, env.Data.Key, m.data, d.id, d.event(c.t).Type, keys[i], data)
		}
	}
}

// waitEnd waits for the stream to end and returns the messages that
// came before the end and were not read yet.
func (c *strmClient) waitEnd() []strmMsg {
	c.t.Helper()
	var rest []strmMsg
	for {
		m, ok := c.next()
		if !ok {
			return rest
		}
		rest = append(rest, m)
	}
}

// expectEndSSE requires the SSE stream to end with exactly one message:
// the error event carrying code and message.
func (c *strmClient) expectEndSSE(code, message string) {
	c.t.Helper()
	rest := c.waitEnd()
	want := strmMsg{event: "error", data: `{"error":{"code":"` + code + `","message":"` + message + `"}}`}
	if len(rest) != 1 || rest[0] != want || c.endErr != nil {
		c.t.Errorf("%s: stream ended (%v) after %+v, want only %+v", c.name, c.endErr, rest, want)
	}
}

// expectEndWS requires the WebSocket to be closed with code and reason,
// with no message before.
func (c *strmClient) expectEndWS(code websocket.StatusCode, reason string) {
	c.t.Helper()
	rest := c.waitEnd()
	var ce websocket.CloseError
	if len(rest) != 0 || !errors.As(c.endErr, &ce) || ce.Code != code || ce.Reason != reason {
		c.t.Errorf("%s: ended with %v after %d messages, want close %d %q and no message", c.name, c.endErr, len(rest), code, reason)
	}
}

// strmSubscribed waits until the process counts n live clients of transport.
func strmSubscribed(t *testing.T, in *instance, transport string, n int) {
	t.Helper()
	line := fmt.Sprintf("\npollhook_stream_clients{transport=%q} %d\n", transport, n)
	if !waitUntil(strmWait, nil, func() bool { return strings.Contains(scrape(in), line) }) {
		t.Fatalf("/metrics never showed %q", strings.TrimSpace(line))
	}
}

func TestStreamsEndToEnd(t *testing.T) {
	skipShort(t)
	src, users := newSource(), newSource()
	srcURL, usersURL := serve(t, src), serve(t, users)
	rcv := newReceiver()
	rcvURL := serve(t, rcv)
	dir := t.TempDir()
	in := writeInstance(t, dir, strmConfig(dir, srcURL, usersURL, rcvURL, "[orders, users]"))

	p := in.start()
	src.waitPolls(t, 2) // baselines committed: no events
	users.waitPolls(t, 2)

	// 1. Three live clients: SSE with the admin token and a job filter,
	// SSE with the stream token in the query (its jobs: orders, users),
	// WebSocket with the admin token.
	a := strmSSE(t, in, "sse admin", "?job=orders", strmAdminToken, nil)
	b := strmSSE(t, in, "sse token", "?access_token="+strmDashToken, "", nil)
	w := strmWS(t, in, "ws admin", "?job=orders", strmAdminToken, `{}`)
	strmSubscribed(t, in, "ws", 1)

	want := firstChanges(src)
	got := rcv.waitDelivered(t, 3)
	checkEvents(t, got, want)
	a.expect(false, got, "1002", "1004", "1001")
	b.expect(false, got, "1002", "1004", "1001")
	w.expect(true, got, "1002", "1004", "1001")

	// The admin SSE client goes away; one more change reaches the others.
	a.stop()
	src.edit(func(o map[int]map[string]any) { o[1004]["status"] = "paid" })
	got = rcv.waitDelivered(t, 4)
	checkEvents(t, got[3:], []event{statusChanged(1004, "open", "paid")})
	b.expect(false, got[3:], "1004")
	w.expect(true, got[3:], "1004")

	// 2. SIGTERM with b and w connected: both are told why and their
	// streams end, and pollhook exits 0, promptly.
	signalled := time.Now()
	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("pollhook exited with %v after SIGTERM, want status 0", err)
	}
	exited := time.Since(signalled)
	const shutdown = "pollhook is shutting down; reconnect with your last event id to resume"
	b.expectEndSSE("shutdown", shutdown)
	w.expectEndWS(websocket.StatusGoingAway, shutdown)
	for _, c := range []*strmClient{b, w} {
		if d := c.end.Sub(signalled); d > strmStopBound {
			t.Errorf("%s: stream ended %s after SIGTERM, want within %s", c.name, d, strmStopBound)
		}
	}
	t.Logf("SIGTERM: SSE stream ended after %s, WebSocket after %s, process exited after %s",
		b.end.Sub(signalled).Round(time.Millisecond), w.end.Sub(signalled).Round(time.Millisecond), exited.Round(time.Millisecond))

	// 3. A change while pollhook is down, committed at the restart; the
	// clients resume from their last ids: the SSE client that left before
	// the last change gets it (from the store: the restarted hub's memory
	// is empty) and the new one, the others the new one; then live events.
	src.edit(func(o map[int]map[string]any) { o[1003]["status"] = "shipped" })
	p = in.start()
	got = rcv.waitDelivered(t, 5)
	checkEvents(t, got[4:], []event{statusChanged(1003, "open", "shipped")})
	a = strmSSE(t, in, "sse admin, resumed", "?job=orders", strmAdminToken, map[string]string{"Last-Event-ID": got[2].id})
	a.expect(false, got[3:5], "1004", "1003")
	b = strmSSE(t, in, "sse token, resumed", "?job=orders&access_token="+strmDashToken+"&last_event_id="+got[3].id, "", nil)
	b.expect(false, got[4:5], "1003")
	w = strmWS(t, in, "ws admin, resumed", "?job=orders", strmAdminToken, `{"last_event_id":"`+got[2].id+`"}`)
	w.expect(true, got[3:5], "1004", "1003")
	dw := strmWS(t, in, "ws token, resumed", "", strmDashToken, `{"last_event_id":"`+got[2].id+`"}`)
	dw.expect(true, got[3:5], "1004", "1003")

	// 4. A reload that takes orders away from the stream token drops its
	// clients as revoked; the admin clients stay and get what follows.
	writeFile(t, in.config, strmConfig(dir, srcURL, usersURL, rcvURL, "[users]"))
	sendSignal(t, p, syscall.SIGHUP)
	const revoked = "access revoked: the configuration no longer lets this token read job orders"
	b.expectEndSSE("revoked", revoked)
	dw.expectEndWS(websocket.StatusPolicyViolation, revoked+", users")
	waitLog(t, p, "configuration reloaded", 1)
	status, body := strmRefused(t, in, "?job=orders&access_token="+strmDashToken)
	if want := `{"error":{"code":"forbidden","message":"this token may not read job \"orders\"; it reads users"}}` + "\n"; status != http.StatusForbidden || body != want {
		t.Errorf("stream token after the reload: %d %s, want 403 %s", status, body, want)
	}

	src.edit(func(o map[int]map[string]any) { o[1005] = openOrder(1005) })
	got = rcv.waitDelivered(t, 6)
	checkEvents(t, got[5:], []event{orderCreated("orders", 1005)})
	a.expect(false, got[5:], "1005")
	w.expect(true, got[5:], "1005")
	strmMetrics(t, in, []string{
		`pollhook_stream_clients{transport="sse"} 1`,
		`pollhook_stream_clients{transport="ws"} 1`,
		`pollhook_stream_clients_dropped_total{reason="revoked",transport="sse"} 1`,
		`pollhook_stream_clients_dropped_total{reason="revoked",transport="ws"} 1`,
		`pollhook_stream_events_sent_total{transport="sse"} 4`,
		`pollhook_stream_events_sent_total{transport="ws"} 5`,
	})

	if err := p.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("pollhook exited with %v after SIGTERM, want status 0", err)
	}
	a.expectEndSSE("shutdown", shutdown)
	w.expectEndWS(websocket.StatusGoingAway, shutdown)
	if n := len(rcv.all()); n != 6 {
		t.Errorf("the receiver got %d requests, want the 6 events once each:%s", n, describe(rcv.all()))
	}
	if log := p.stderr.String(); strings.Contains(log, strmDashToken) || strings.Contains(log, strmAdminToken) {
		t.Errorf("a stream token reached the logs:\n%s", log)
	}
}

// strmMetrics waits until the process's /metrics has each of the exact
// sample lines (a client may receive an event just before it is counted).
func strmMetrics(t *testing.T, in *instance, lines []string) {
	t.Helper()
	var missing []string
	waitUntil(strmWait, nil, func() bool {
		missing = missingSamples(scrape(in), lines)
		return len(missing) == 0
	})
	if len(missing) > 0 {
		t.Errorf("/metrics lacks %q", missing)
	}
}

// strmRefused requests the SSE stream and returns the status and body of
// a refusal.
func strmRefused(t *testing.T, in *instance, query string) (int, string) {
	t.Helper()
	return fetch(t, http.MethodGet, "http://"+in.admin+"/api/v1/stream"+query)
}
