package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pollhook/pollhook/pusher"
	"github.com/pollhook/pollhook/store"
)

// The admin API tests run a real Badger store, real pushers and real
// receivers; these helpers set them up.

// waitLimit bounds every wait in these tests; it only matters when
// something is broken.
const waitLimit = 20 * time.Second

// t0 is the pushers' and the API's clock: fixed, so that answers can be
// pinned byte for byte.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const testToken = "admin-token-for-tests"

// receiver is a webhook receiver answering status (changeable at any
// time) with body; the webhook-id of every request it answers with a 2xx
// arrives on delivered.
type receiver struct {
	*httptest.Server
	status    atomic.Int64
	body      string
	delivered chan string
}

func newReceiver(t *testing.T, status int, body string) *receiver {
	t.Helper()
	rc := &receiver{body: body, delivered: make(chan string, 100)}
	rc.status.Store(int64(status))
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		code := int(rc.status.Load())
		if code < 300 {
			rc.delivered <- r.Header.Get("webhook-id")
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, rc.body)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// next returns the webhook-id of the next delivered request.
func (rc *receiver) next(t *testing.T) string {
	t.Helper()
	select {
	case id := <-rc.delivered:
		return id
	case <-time.After(waitLimit):
		t.Fatalf("no delivery within %s", waitLimit)
		return ""
	}
}

// logWatch is a slog handler that passes each record's message on, so a
// test can wait for what the pusher logs after it has written the store.
type logWatch struct{ msgs chan string }

func newLogWatch() *logWatch { return &logWatch{msgs: make(chan string, 1024)} }

func (h *logWatch) Enabled(context.Context, slog.Level) bool { return true }
func (h *logWatch) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logWatch) WithGroup(string) slog.Handler            { return h }
func (h *logWatch) Handle(_ context.Context, r slog.Record) error {
	h.msgs <- r.Message
	return nil
}

// wait skips messages until msg.
func (h *logWatch) wait(t *testing.T, msg string) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case m := <-h.msgs:
			if m == msg {
				return
			}
		case <-deadline:
			t.Fatalf("no log message %q within %s", msg, waitLimit)
		}
	}
}

const (
	logPaused = "destination paused: its receiver answered 410 Gone; resume it to deliver again"
	logDead   = "event dead-lettered"
)

// world is one store with the destinations and routes of a test.
type world struct {
	t      *testing.T
	st     *store.Badger
	dests  []pusher.Destination
	routes map[string][]string
	logs   *logWatch
}

func newWorld(t *testing.T, dests []pusher.Destination, routes map[string][]string) *world {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &world{t: t, st: st, dests: dests, routes: routes, logs: newLogWatch()}
}

// commit appends one item.created event per detection time to job's log,
// routed to the job's destinations, and returns them as stored.
func (w *world) commit(job string, times ...time.Time) []store.Event {
	w.t.Helper()
	head, err := w.st.Head(job)
	if err != nil {
		w.t.Fatal(err)
	}
	c := &store.Commit{Snapshot: []byte("snapshot"), BodyHash: []byte("hash"), Destinations: w.routes[job]}
	for i, at := range times {
		c.Events = append(c.Events, store.Event{Type: "item.created", Job: job, Key: string(rune('a' + i)),
			Time: at, Data: json.RawMessage(`{}`)})
	}
	if _, err := w.st.Commit(context.Background(), job, head.Version, c); err != nil {
		w.t.Fatal(err)
	}
	return c.Events
}

// pusher builds a pusher over the world's store with the fixed clock.
func (w *world) pusher() *pusher.Pusher {
	w.t.Helper()
	p, err := pusher.New(w.st, w.dests, w.routes, slog.New(w.logs), pusher.Options{
		Now:          func() time.Time { return t0 },
		Rand:         func(n int64) int64 { return n - 1 },
		RetryWaitMin: time.Millisecond,
		RetryWaitMax: 5 * time.Millisecond,
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

// run runs a new pusher until the returned stop is called (or the test
// ends); stop returns once Run has, every delivery recorded.
func (w *world) run() (*pusher.Pusher, func()) {
	w.t.Helper()
	p := w.pusher()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				w.t.Errorf("Run: %v", err)
			}
		case <-time.After(waitLimit):
			w.t.Fatalf("Run did not return within %s", waitLimit)
		}
	}
	w.t.Cleanup(stop)
	return p, stop
}

// adminDests describes the world's destinations as the daemon does.
func (w *world) adminDests() []Destination {
	var out []Destination
	for _, d := range w.dests {
		ad := Destination{Name: d.Name, URL: d.URL, Method: "POST", Format: "json", Events: d.Events}
		for job, names := range w.routes {
			if slices.Contains(names, d.Name) {
				ad.Jobs = append(ad.Jobs, job)
			}
		}
		slices.Sort(ad.Jobs)
		out = append(out, ad)
	}
	return out
}

// serve starts an admin server whose API acts through p.
func (w *world) serve(p *pusher.Pusher, token string) *client {
	w.t.Helper()
	s := New(slog.New(slog.DiscardHandler), nil, nil)
	s.MountAPI(APIConfig{Token: token, Store: w.st, Deliveries: p, Destinations: w.adminDests(),
		Now: func() time.Time { return t0 }})
	srv := httptest.NewServer(s.Handler())
	w.t.Cleanup(srv.Close)
	return &client{t: w.t, url: srv.URL, token: token}
}

// client calls an admin server.
type client struct {
	t     *testing.T
	url   string
	token string
}

// do sends method path with the client's token and returns the status,
// the body and the response headers.
func (c *client) do(method, path string) (int, string, http.Header) {
	c.t.Helper()
	return c.doAuth(method, path, "Bearer "+c.token)
}

// doAuth sends method path with the given Authorization header ("" for none).
func (c *client) doAuth(method, path, auth string) (int, string, http.Header) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// expect checks that method path answers code with exactly want (a
// trailing newline is added, as the encoder writes one).
func (c *client) expect(method, path string, code int, want string) {
	c.t.Helper()
	got, body, _ := c.do(method, path)
	if got != code || body != want+"\n" {
		c.t.Errorf("%s %s = %d\n%s\nwant %d\n%s", method, path, got, body, code, want)
	}
}

// call is one request of a test: a method and a path.
type call struct{ method, path string }

// answersNoSecret sends each of calls and fails the test for every answer,
// headers included, that holds one of secrets.
func (c *client) answersNoSecret(calls []call, secrets []string) {
	c.t.Helper()
	for _, cl := range calls {
		code, body, h := c.do(cl.method, cl.path)
		var hdr strings.Builder
		_ = h.Write(&hdr)
		for _, s := range secrets {
			if strings.Contains(body, s) || strings.Contains(hdr.String(), s) {
				c.t.Errorf("%s %s (%d) answers secret %q:\n%s%s", cl.method, cl.path, code, s, hdr.String(), body)
			}
		}
	}
}

// compact removes the indentation of a JSON literal written for reading.
func compact(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("bad JSON in test: %v\n%s", err, s)
	}
	return b.String()
}
