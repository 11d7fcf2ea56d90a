package pusher

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pollhook/pollhook/store"
)

// waitLimit bounds every wait on a channel in these tests: generous, since
// it only matters when something is broken.
const waitLimit = 20 * time.Second

const ms = time.Millisecond

// highest makes the backoff jitter deterministic: always the top of the range.
func highest(n int64) int64 { return n - 1 }

// fastRetry keeps durable retries in the millisecond range.
var fastRetry = RetryPolicy{InitialInterval: 10 * ms, MaxInterval: 50 * ms, MaxAttempts: 10, MaxAge: time.Hour}

// testOptions are the Options of most tests: quick in-process retries and
// deterministic jitter.
func testOptions() Options {
	return Options{
		UserAgent:    "pollhook/test",
		RetryWaitMin: time.Millisecond,
		RetryWaitMax: 5 * ms,
		Rand:         highest,
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// openStore opens a real in-memory Badger store, or an on-disk one in dir.
func openStore(t testing.TB, dir string) *store.Badger {
	t.Helper()
	opts := store.Options{InMemory: dir == ""}
	st, err := store.Open(dir, opts)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// commit appends one item.created event per data document to job's log,
// routed to dests, and returns the events as stored (ID, Seq, Time set).
func commit(t testing.TB, st store.Store, job string, dests []string, data ...string) []store.Event {
	t.Helper()
	head, err := st.Head(job)
	if err != nil {
		t.Fatalf("head of %s: %v", job, err)
	}
	c := &store.Commit{Snapshot: []byte("snapshot"), BodyHash: []byte("hash"), Destinations: dests}
	for i, d := range data {
		c.Events = append(c.Events, store.Event{Type: "item.created", Job: job, Key: fmt.Sprint(i), Data: json.RawMessage(d)})
	}
	if _, err := st.Commit(context.Background(), job, head.Version, c); err != nil {
		t.Fatalf("commit %s: %v", job, err)
	}
	return c.Events
}

func laneState(t *testing.T, st store.Store, dest, job string) store.LaneState {
	t.Helper()
	ls, err := st.Lane(dest, job)
	if err != nil {
		t.Fatalf("lane %s/%s: %v", dest, job, err)
	}
	return ls
}

// hit is one request as a receiver saw it.
type hit struct {
	N      int // 1-based arrival number at this receiver
	Method string
	Path   string
	Header http.Header
	Body   []byte
	At     time.Time
}

// ID is the webhook-id of the request.
func (h hit) ID() string { return h.Header.Get(HeaderID) }

// receiver is a real HTTP server that records each request on hits before
// answering it with respond.
type receiver struct {
	*httptest.Server
	hits chan hit
}

func newReceiver(t *testing.T, respond func(h hit, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{hits: make(chan hit, 1024)}
	var n atomic.Int64
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return // the client went away mid-request
		}
		h := hit{N: int(n.Add(1)), Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: body, At: time.Now()}
		rc.hits <- h
		// A handler that waits for its request's context also ends with
		// the test, so a failing test cannot leave Close waiting forever.
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		defer context.AfterFunc(t.Context(), cancel)()
		respond(h, w, r.WithContext(ctx))
	}))
	t.Cleanup(rc.Close)
	return rc
}

// status answers every request with one status code.
func status(code int) func(hit, http.ResponseWriter, *http.Request) {
	return func(_ hit, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

// next waits for the receiver's next request.
func (rc *receiver) next(t *testing.T) hit {
	t.Helper()
	select {
	case h := <-rc.hits:
		return h
	case <-time.After(waitLimit):
		t.Fatalf("no request reached the receiver within %s", waitLimit)
		return hit{}
	}
}

// none checks that no request is queued (those that arrived already).
func (rc *receiver) none(t *testing.T) {
	t.Helper()
	select {
	case h := <-rc.hits:
		t.Errorf("unexpected request %d with webhook-id %s: %s", h.N, h.ID(), h.Body)
	default:
	}
}

// runner is one Run of a Pusher in the background.
type runner struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	took   time.Duration
}

// start runs p until stop is called or the test ends.
func start(t *testing.T, p *Pusher) *runner {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run, waits for it to return and reports how long that took
// after the cancellation.
func (r *runner) stop(t *testing.T) time.Duration {
	t.Helper()
	r.once.Do(func() {
		begin := time.Now()
		r.cancel()
		select {
		case err := <-r.done:
			r.took = time.Since(begin)
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(waitLimit):
			t.Fatalf("Run did not return within %s of cancellation", waitLimit)
		}
	})
	return r.took
}

// logLines is a logger whose lines (text format, no time) arrive on a
// channel, so tests can wait for a log event and pin its exact text.
type logLines struct {
	lines   chan string
	skipped []string // lines wait passed over, kept for rest; test goroutine only
}

func newLogLines(level slog.Level) (*slog.Logger, *logLines) {
	ll := &logLines{lines: make(chan string, 1024)}
	h := slog.NewTextHandler(ll, &slog.HandlerOptions{Level: level, ReplaceAttr: dropTime})
	return slog.New(h), ll
}

// Write receives one complete record: slog's text handler writes each
// record with a single call.
func (ll *logLines) Write(p []byte) (int, error) {
	ll.lines <- strings.TrimSuffix(string(p), "\n")
	return len(p), nil
}

// wait returns the next line whose message is msg; the lines before it are
// kept for rest.
func (ll *logLines) wait(t *testing.T, msg string) string {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case l := <-ll.lines:
			if strings.Contains(l, `msg="`+msg+`"`) || strings.Contains(l, "msg="+msg+" ") {
				return l
			}
			ll.skipped = append(ll.skipped, l)
		case <-deadline:
			t.Fatalf("no %q log line within %s", msg, waitLimit)
			return ""
		}
	}
}

// rest returns the lines logged so far that wait did not return.
func (ll *logLines) rest() []string {
	out := ll.skipped
	ll.skipped = nil
	for {
		select {
		case l := <-ll.lines:
			out = append(out, l)
		default:
			return out
		}
	}
}

func newPusher(t *testing.T, st store.Store, dests []Destination, routes map[string][]string, logger *slog.Logger, opts Options) *Pusher {
	t.Helper()
	if logger == nil {
		logger = discardLogger()
	}
	p, err := New(st, dests, routes, logger, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}
