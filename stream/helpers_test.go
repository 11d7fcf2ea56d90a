package stream

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pollhook/pollhook/store"
)

// timestampLayout is the envelope's timestamp as webhooks carry it, for
// the envelopes the tests expect.
const timestampLayout = "2006-01-02T15:04:05.000Z"

const (
	adminToken = "admin-secret-token"
	dashToken  = "dash-secret-token"
)

// waitTimeout bounds each wait of a test; it only matters when something
// is broken.
const waitTimeout = 20 * time.Second

var discard = slog.New(slog.DiscardHandler)

// world is a store with streams enabled, a hub fed by it and a server
// serving the hub's endpoints.
type world struct {
	t       *testing.T
	dir     string
	streams *store.Streams
	hub     *Hub
	srv     *httptest.Server
	reg     *prometheus.Registry
	set     Settings
}

type worldOptions struct {
	dir       string
	ring      int
	settings  Settings
	sndbuf    int                             // SO_SNDBUF of the server's connections (0: the system's)
	wrap      func(http.Handler) http.Handler // wraps the hub's handler (nil: none)
	noCleanup bool
}

func defaultSettings() Settings {
	return Settings{AdminToken: adminToken, Tokens: []Token{{Token: dashToken, Jobs: []string{"orders"}}},
		Jobs: []string{"orders", "users"}, MaxClients: 10, Buffer: 64, Heartbeat: time.Hour}
}

func newWorld(t *testing.T, o worldOptions) *world {
	t.Helper()
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	if o.settings.Jobs == nil {
		o.settings = defaultSettings()
	}
	w := &world{t: t, dir: o.dir, reg: prometheus.NewRegistry(), set: o.settings}
	b, err := store.Open(o.dir, store.Options{Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	w.streams = store.NewStreams(b, func(events []store.Event) { w.hub.Publish(events) })
	w.hub, err = New(w.streams, Options{Logger: discard, Metrics: NewMetrics(w.reg), RingSize: o.ring})
	if err != nil {
		t.Fatal(err)
	}
	w.hub.Configure(o.settings)
	w.streams.Enable(time.Hour)
	var handler http.Handler = w.hub.Handler()
	if o.wrap != nil {
		handler = o.wrap(handler)
	}
	w.srv = httptest.NewUnstartedServer(handler)
	if o.sndbuf > 0 {
		w.srv.Listener = smallBufListener{w.srv.Listener, o.sndbuf}
	}
	w.srv.Start()
	t.Cleanup(w.close)
	return w
}

// close ends the world: hub, server, store (a second call does nothing).
func (w *world) close() {
	if w.srv == nil {
		return
	}
	if err := w.hub.Close(5 * time.Second); err != nil {
		w.t.Error(err)
	}
	w.srv.Close()
	if err := w.streams.Close(); err != nil {
		w.t.Error(err)
	}
	w.srv = nil
}

// smallBufListener gives each accepted connection a small send buffer, so
// that a client that does not read blocks the server's writes at once.
type smallBufListener struct {
	net.Listener
	size int
}

func (l smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(l.size)
	}
	return c, err
}

// commit commits one event per key of job with type typ and returns them
// with their ids.
func (w *world) commit(job, typ string, keys ...string) []store.Event {
	w.t.Helper()
	return w.commitData(job, typ, "", keys...)
}

// commitData is commit with a padding of the given text in each event's data.
func (w *world) commitData(job, typ, pad string, keys ...string) []store.Event {
	w.t.Helper()
	head, err := w.streams.Head(job)
	if err != nil {
		w.t.Fatal(err)
	}
	c := &store.Commit{Destinations: []string{"hook"}}
	for _, k := range keys {
		data, _ := json.Marshal(map[string]any{"job": job, "key": k, "after": map[string]string{"id": k, "pad": pad}})
		c.Events = append(c.Events, store.Event{Type: typ, Key: k, Data: data})
	}
	if _, err := w.streams.Commit(context.Background(), job, head.Version, c); err != nil {
		w.t.Fatal(err)
	}
	return c.Events
}

// sseEvent is one message read from an SSE stream.
type sseEvent struct {
	id, event, data string
	comment         string // a comment line (": heartbeat"), instead of an event
}

// sseClient reads an SSE response message by message.
type sseClient struct {
	t      *testing.T
	resp   *http.Response
	cancel context.CancelFunc
	msgs   chan sseEvent
	err    chan error
}

// get requests path with the headers and returns the response whatever its status.
func (w *world) get(path string, header map[string]string) *http.Response {
	w.t.Helper()
	req, err := http.NewRequest(http.MethodGet, w.srv.URL+path, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	return resp
}

// refused requests path and returns its status and body; the stream must not start.
func (w *world) refused(path string, header map[string]string) (int, string) {
	w.t.Helper()
	resp := w.get(path, header)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		w.t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// sse opens an SSE stream at path, with the admin token unless the
// headers give an Authorization or the path an access_token.
func (w *world) sse(path string, header map[string]string) *sseClient {
	w.t.Helper()
	return w.sseWith(http.DefaultClient, nil, path, header)
}

// sseWith is sse through hc; the client starts reading the stream only
// once gate is closed (nil: at once).
func (w *world) sseWith(hc *http.Client, gate chan struct{}, path string, header map[string]string) *sseClient {
	w.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.srv.URL+path, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	if header["Authorization"] == "" && !strings.Contains(path, "access_token=") {
		req.Header.Set("Authorization", "Bearer "+adminToken)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		cancel()
		w.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		w.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		w.t.Errorf("Content-Type %q, want text/event-stream", ct)
	}
	c := &sseClient{t: w.t, resp: resp, cancel: cancel, msgs: make(chan sseEvent, 1024), err: make(chan error, 1)}
	go func() {
		if gate != nil {
			<-gate
		}
		c.read()
	}()
	w.t.Cleanup(c.close)
	return c
}

func (c *sseClient) read() {
	sc := bufio.NewScanner(c.resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			c.msgs <- ev
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
			ev.comment = line
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev.data = line[6:]
		default:
			c.err <- fmt.Errorf("unexpected line %q", line)
			close(c.msgs)
			return
		}
	}
	c.err <- sc.Err()
	close(c.msgs)
}

// next returns the next message; ok is false at the end of the stream.
func (c *sseClient) next() (sseEvent, bool) {
	c.t.Helper()
	select {
	case ev, ok := <-c.msgs:
		return ev, ok
	case <-time.After(waitTimeout):
		c.t.Fatal("no SSE message within the wait")
		return sseEvent{}, false
	}
}

// events reads n events, skipping heartbeats, and returns their ids.
func (c *sseClient) ids(n int) []string {
	c.t.Helper()
	var out []string
	for len(out) < n {
		ev, ok := c.next()
		if !ok {
			c.t.Fatalf("stream ended after %d of %d events", len(out), n)
		}
		if ev.comment != "" {
			continue
		}
		out = append(out, ev.id)
	}
	return out
}

func (c *sseClient) close() {
	c.cancel()
	c.resp.Body.Close()
}

func ids(events []store.Event) []string {
	var out []string
	for _, ev := range events {
		out = append(out, ev.ID)
	}
	return out
}

func keys(n int, prefix string) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}
