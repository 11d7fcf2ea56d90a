package pusher

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pollhook/pollhook/store"
)

var orders = map[string][]string{"orders": {"hook"}}

// failFirst answers the first n requests with code and body, then 200.
func failFirst(n, code int, body string) func(hit, http.ResponseWriter, *http.Request) {
	return func(h hit, w http.ResponseWriter, _ *http.Request) {
		if h.N <= n {
			w.WriteHeader(code)
			w.Write([]byte(body))
		}
	}
}

// heldUntil answers request n (1-based) only once hold is closed, so a test
// can begin shutdown while that request is in flight; it then answers as
// respond says. Other requests are answered at once.
func heldUntil(hold <-chan struct{}, n int, respond func(hit, http.ResponseWriter, *http.Request)) func(hit, http.ResponseWriter, *http.Request) {
	return func(h hit, w http.ResponseWriter, r *http.Request) {
		if h.N == n {
			select {
			case <-hold:
			case <-r.Context().Done():
				return
			}
		}
		respond(h, w, r)
	}
}

func TestRetryKeepsIDAndRefreshesTimestamp(t *testing.T) {
	st := openStore(t, "")
	// Four failures: one durable attempt of three tries, then a second
	// attempt whose first in-process retry succeeds.
	rc := newReceiver(t, failFirst(4, http.StatusServiceUnavailable, ""))
	// Each reading of the clock is one second later, so every try must carry
	// a newer webhook-timestamp than the one before.
	var tick atomic.Int64
	base := time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)
	opts := testOptions()
	opts.Now = func() time.Time { return base.Add(time.Duration(tick.Add(1)) * time.Second) }
	p := newPusher(t, st, []Destination{{Name: "hook", URL: rc.URL, Secrets: []string{secretA}, Retry: fastRetry}}, orders, nil, opts)
	ev := commit(t, st, "orders", []string{"hook"}, `{"n":1}`)[0]
	start(t, p)

	var last int64
	for i := 1; i <= 5; i++ {
		h := rc.next(t)
		if h.ID() != ev.ID {
			t.Errorf("try %d: webhook-id %s, want %s", i, h.ID(), ev.ID)
		}
		ts, err := strconv.ParseInt(h.Header.Get(HeaderTimestamp), 10, 64)
		if err != nil || ts <= last {
			t.Errorf("try %d: webhook-timestamp %q not after %d", i, h.Header.Get(HeaderTimestamp), last)
		}
		last = ts
		if err := VerifyStandard(secretA, h.Header, h.Body, 0, time.Time{}); err != nil {
			t.Errorf("try %d: signature: %v", i, err)
		}
	}
}

func TestOrderKeptAcrossRetries(t *testing.T) {
	st := openStore(t, "")
	// Event 1 fails two durable attempts of three tries each.
	rc := newReceiver(t, failFirst(6, http.StatusServiceUnavailable, "busy\n"))
	logger, logs := newLogLines(slog.LevelInfo)
	p := newPusher(t, st, []Destination{{Name: "hook", URL: rc.URL, Retry: fastRetry}}, orders, logger, testOptions())
	evs := commit(t, st, "orders", []string{"hook"}, `{"n":1}`, `{"n":2}`, `{"n":3}`)
	r := start(t, p)

	var got []string
	for range 9 {
		got = append(got, rc.next(t).ID())
	}
	r.stop(t)
	e1, e2, e3 := evs[0].ID, evs[1].ID, evs[2].ID
	want := []string{e1, e1, e1, e1, e1, e1, e1, e2, e3}
	if !slices.Equal(got, want) {
		t.Errorf("arrival order %v, want %v", got, want)
	}
	rc.none(t)
	if ls := laneState(t, st, "hook", "orders"); ls != (store.LaneState{Destination: "hook", Job: "orders", Cursor: evs[2].Seq + 1}) {
		t.Errorf("lane = %+v, want cursor past event 3 and no retry state", ls)
	}
	wantLogs := []string{
		`level=WARN msg="delivery failed" destination=hook job=orders event_id=` + e1 + ` attempt=1 status=503 reason="503 Service Unavailable: busy"`,
		`level=WARN msg="delivery failed" destination=hook job=orders event_id=` + e1 + ` attempt=2 status=503 reason="503 Service Unavailable: busy"`,
	}
	if gotLogs := logs.rest(); !slices.Equal(gotLogs, wantLogs) {
		t.Errorf("logs =\n%s\nwant\n%s", strings.Join(gotLogs, "\n"), strings.Join(wantLogs, "\n"))
	}
}

func TestFailingLaneDoesNotBlockOthers(t *testing.T) {
	st := openStore(t, "")
	// x fails every event of job a but delivers job b; y delivers job a.
	x := newReceiver(t, func(h hit, w http.ResponseWriter, _ *http.Request) {
		if bytes.Contains(h.Body, []byte(`"job":"a"`)) {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	y := newReceiver(t, status(http.StatusOK))
	slow := RetryPolicy{InitialInterval: time.Hour, MaxInterval: time.Hour}
	p := newPusher(t, st, []Destination{{Name: "x", URL: x.URL, Retry: slow}, {Name: "y", URL: y.URL, Retry: slow}},
		map[string][]string{"a": {"x", "y"}, "b": {"x"}}, nil, testOptions())
	a := commit(t, st, "a", []string{"x", "y"}, `{"job":"a","n":1}`, `{"job":"a","n":2}`, `{"job":"a","n":3}`)
	b := commit(t, st, "b", []string{"x"}, `{"job":"b","n":1}`, `{"job":"b","n":2}`)
	r := start(t, p)

	// y gets job a in order while x's lane for job a is stuck on its head.
	for i, ev := range a {
		if h := y.next(t); h.ID() != ev.ID {
			t.Errorf("y request %d: webhook-id %s, want %s", i+1, h.ID(), ev.ID)
		}
	}
	// x gets job b in order, and event a1 once per try of its one attempt.
	var gotA, gotB []string
	for range 5 {
		h := x.next(t)
		if bytes.Contains(h.Body, []byte(`"job":"a"`)) {
			gotA = append(gotA, h.ID())
		} else {
			gotB = append(gotB, h.ID())
		}
	}
	r.stop(t)
	if want := []string{a[0].ID, a[0].ID, a[0].ID}; !slices.Equal(gotA, want) {
		t.Errorf("x got job a %v, want %v", gotA, want)
	}
	if want := []string{b[0].ID, b[1].ID}; !slices.Equal(gotB, want) {
		t.Errorf("x got job b %v, want %v", gotB, want)
	}
	x.none(t)
	y.none(t)
	ls := laneState(t, st, "x", "a")
	if ls.Cursor != a[0].Seq || ls.Attempts != 1 || ls.LastStatus != 500 || ls.LastError != "500 Internal Server Error" {
		t.Errorf("lane x/a = %+v, want cursor %d, 1 attempt, status 500", ls, a[0].Seq)
	}
	for _, l := range []struct{ dest, job string }{{"y", "a"}, {"x", "b"}} {
		if ls := laneState(t, st, l.dest, l.job); ls.Attempts != 0 || ls.Cursor == 0 {
			t.Errorf("lane %s/%s = %+v, want delivered", l.dest, l.job, ls)
		}
	}
}

func TestFailureReasons(t *testing.T) {
	target := newReceiver(t, status(http.StatusOK)) // where redirects point
	closed := httptestClosedURL(t)
	big := strings.Repeat("x", 100<<10)
	type want struct {
		status int
		reason string
		tries  int
	}
	tests := []struct {
		name    string
		respond func(hit, http.ResponseWriter, *http.Request)
		url     func(rc *receiver) string
		timeout time.Duration
		want    func(rc *receiver) want
	}{
		{
			name:    "4xx with an explanation",
			respond: failFirst(99, http.StatusBadRequest, "  bad signature\n"),
			want:    func(*receiver) want { return want{400, "400 Bad Request: bad signature", 1} },
		},
		{
			name:    "empty body",
			respond: failFirst(99, http.StatusNotFound, ""),
			want:    func(*receiver) want { return want{404, "404 Not Found", 1} },
		},
		{
			name:    "unknown status",
			respond: failFirst(99, 499, "client closed"),
			want:    func(*receiver) want { return want{499, "499: client closed", 1} },
		},
		{
			name:    "5xx body truncated to 1 KiB, retried in process",
			respond: failFirst(99, http.StatusInternalServerError, big),
			want: func(*receiver) want {
				return want{500, "500 Internal Server Error: " + big[:1024] + "…", 3}
			},
		},
		{
			name: "redirect not followed",
			respond: func(_ hit, w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target.URL+"/moved?token=s3cr3t", http.StatusFound)
			},
			want: func(*receiver) want {
				return want{302, "302 Found (redirects are not followed; location " + target.URL + "/…)", 1}
			},
		},
		{
			name: "relative redirect names the receiver's host",
			respond: func(_ hit, w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Location", "/v2/hook")
				w.WriteHeader(http.StatusPermanentRedirect)
			},
			want: func(rc *receiver) want {
				return want{308, "308 Permanent Redirect (redirects are not followed; location " + rc.URL + "/…)", 1}
			},
		},
		{
			name: "connection refused, URL redacted",
			url: func(*receiver) string {
				return strings.Replace(closed, "http://", "http://user:s3cr3t@", 1) + "/hook?token=s3cr3t"
			},
			want: func(*receiver) want {
				host := strings.TrimPrefix(closed, "http://")
				return want{0, `Post "` + closed + `/…": dial tcp ` + host + `: connect: connection refused`, 0}
			},
		},
		{
			name: "per-attempt timeout",
			respond: func(_ hit, _ http.ResponseWriter, r *http.Request) {
				<-r.Context().Done()
			},
			url:     func(rc *receiver) string { return rc.URL + "/hook?token=s3cr3t" },
			timeout: 50 * ms,
			want: func(rc *receiver) want {
				return want{0, `Post "` + rc.URL + `/…": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`, 3}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t, "")
			respond := tt.respond
			if respond == nil {
				respond = status(http.StatusOK)
			}
			rc := newReceiver(t, respond)
			u := rc.URL
			if tt.url != nil {
				u = tt.url(rc)
			}
			// Debug level: go-retryablehttp's own lines are checked for leaks too.
			logger, logs := newLogLines(slog.LevelDebug)
			policy := fastRetry
			policy.MaxAttempts = 1
			p := newPusher(t, st, []Destination{{Name: "hook", URL: u, Timeout: tt.timeout, Secrets: []string{secretA}, Retry: policy}}, orders, logger, testOptions())
			ev := commit(t, st, "orders", []string{"hook"}, `{"n":1}`)[0]
			r := start(t, p)
			dead := logs.wait(t, "event dead-lettered")
			r.stop(t)

			w := tt.want(rc)
			wantLine := fmt.Sprintf(`level=ERROR msg="event dead-lettered" destination=hook job=orders event_id=%s attempts=1 status=%d reason=%s why="max_attempts 1 reached"`,
				ev.ID, w.status, strconv.Quote(w.reason))
			if dead != wantLine {
				t.Errorf("log\n%s\nwant\n%s", dead, wantLine)
			}
			dls, err := st.DeadLetters("hook")
			if err != nil {
				t.Fatal(err)
			}
			if len(dls) != 1 {
				t.Fatalf("%d dead letters, want 1", len(dls))
			}
			dl := dls[0]
			if dl.Destination != "hook" || dl.Event.ID != ev.ID || dl.Event.Seq != ev.Seq || string(dl.Event.Data) != `{"n":1}` ||
				dl.Attempts != 1 || dl.LastStatus != w.status || dl.LastError != w.reason || dl.DeadAt.IsZero() {
				t.Errorf("dead letter = %+v\nwant status %d, reason %q", dl, w.status, w.reason)
			}
			if ls := laneState(t, st, "hook", "orders"); ls.Cursor != ev.Seq+1 || ls.Attempts != 0 {
				t.Errorf("lane = %+v, want moved past the dead letter", ls)
			}
			if len(rc.hits) != w.tries {
				t.Errorf("receiver got %d requests, want %d", len(rc.hits), w.tries)
			}
			rest := logs.rest()
			if tt.url != nil && !slices.ContainsFunc(rest, func(l string) bool { return strings.Contains(l, "http client") }) {
				t.Errorf("no debug line from the http client among %q", rest)
			}
			for _, l := range append(rest, dead) {
				for _, leak := range []string{"s3cr3t", "token", "user", secretA} {
					if strings.Contains(l, leak) {
						t.Errorf("log line leaks %q: %s", leak, l)
					}
				}
			}
		})
	}
	target.none(t)
}

// httptestClosedURL returns the URL of a local port nothing listens on.
func httptestClosedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

func TestDeadLetterAfterMaxAttempts(t *testing.T) {
	st := openStore(t, "")
	var firstID atomic.Value
	rc := newReceiver(t, func(h hit, w http.ResponseWriter, _ *http.Request) {
		if h.ID() == firstID.Load() {
			http.Error(w, "unknown tenant", http.StatusUnprocessableEntity)
		}
	})
	logger, logs := newLogLines(slog.LevelInfo)
	policy := fastRetry
	policy.MaxAttempts = 3
	opts := testOptions()
	var mu sync.Mutex
	var observed []string
	opts.Observe = func(d Delivery) {
		mu.Lock()
		defer mu.Unlock()
		observed = append(observed, fmt.Sprintf("%s %s %s %d %d latency>=0:%v", d.Destination, d.Job, d.Result, d.Status, d.Events, d.Latency >= 0))
	}
	p := newPusher(t, st, []Destination{{Name: "hook", URL: rc.URL, Retry: policy}}, orders, logger, opts)
	evs := commit(t, st, "orders", []string{"hook"}, `{"n":1}`, `{"n":2}`)
	firstID.Store(evs[0].ID)
	r := start(t, p)

	var got []string
	for range 4 {
		got = append(got, rc.next(t).ID())
	}
	r.stop(t)
	if want := []string{evs[0].ID, evs[0].ID, evs[0].ID, evs[1].ID}; !slices.Equal(got, want) {
		t.Errorf("arrivals %v, want %v", got, want)
	}
	wantObserved := []string{
		"hook orders failed 422 1 latency>=0:true",
		"hook orders failed 422 1 latency>=0:true",
		"hook orders failed 422 1 latency>=0:true",
		"hook orders dead_lettered 422 1 latency>=0:true",
		"hook orders delivered 200 1 latency>=0:true",
	}
	mu.Lock()
	if !slices.Equal(observed, wantObserved) {
		t.Errorf("observed\n%s\nwant\n%s", strings.Join(observed, "\n"), strings.Join(wantObserved, "\n"))
	}
	mu.Unlock()
	const reason = `reason="422 Unprocessable Entity: unknown tenant"`
	prefix := `destination=hook job=orders event_id=` + evs[0].ID
	wantLogs := []string{
		`level=WARN msg="delivery failed" ` + prefix + ` attempt=1 status=422 ` + reason,
		`level=WARN msg="delivery failed" ` + prefix + ` attempt=2 status=422 ` + reason,
		`level=WARN msg="delivery failed" ` + prefix + ` attempt=3 status=422 ` + reason,
		`level=ERROR msg="event dead-lettered" ` + prefix + ` attempts=3 status=422 ` + reason + ` why="max_attempts 3 reached"`,
	}
	if gotLogs := logs.rest(); !slices.Equal(gotLogs, wantLogs) {
		t.Errorf("logs =\n%s\nwant\n%s", strings.Join(gotLogs, "\n"), strings.Join(wantLogs, "\n"))
	}
	dls, err := st.DeadLetters("")
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 || dls[0].Event.ID != evs[0].ID || dls[0].Attempts != 3 || dls[0].LastStatus != 422 ||
		dls[0].LastError != "422 Unprocessable Entity: unknown tenant" {
		t.Errorf("dead letters = %+v", dls)
	}
	if ls := laneState(t, st, "hook", "orders"); ls.Cursor != evs[1].Seq+1 {
		t.Errorf("lane = %+v, want both events done", ls)
	}
}

// TestDeadLetterAfterMaxAge shows that max_age counts from the event's
// detection: an old event is dead-lettered at its first failed attempt, while
// a fresh one behind it is retried even though its lane has been failing
// for longer than max_age.
func TestDeadLetterAfterMaxAge(t *testing.T) {
	st := openStore(t, "")
	rc := newReceiver(t, failFirst(99, http.StatusServiceUnavailable, "down"))
	logger, logs := newLogLines(slog.LevelInfo)
	policy := fastRetry
	policy.MaxAge = time.Hour
	p := newPusher(t, st, []Destination{{Name: "hook", URL: rc.URL, Retry: policy}}, orders, logger, testOptions())
	detected := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	c := &store.Commit{Snapshot: []byte("s"), BodyHash: []byte("h"), Destinations: []string{"hook"}, Events: []store.Event{
		{Type: "item.created", Job: "orders", Key: "old", Time: detected, Data: json.RawMessage(`{"n":1}`)},
		{Type: "item.created", Job: "orders", Key: "new", Data: json.RawMessage(`{"n":2}`)},
	}}
	if _, err := st.Commit(context.Background(), "orders", 0, c); err != nil {
		t.Fatal(err)
	}
	old, fresh := c.Events[0], c.Events[1]
	// The lane has been failing for two hours already.
	if err := st.SetRetry(store.LaneState{Destination: "hook", Job: "orders", Cursor: old.Seq, Attempts: 4,
		FirstAttempt: detected, LastStatus: 503, LastError: "503 Service Unavailable"}); err != nil {
		t.Fatal(err)
	}
	r := start(t, p)
	dead := logs.wait(t, "event dead-lettered")
	for {
		if l := logs.wait(t, "delivery failed"); strings.Contains(l, "event_id="+fresh.ID+" attempt=2 ") {
			break
		}
	}
	r.stop(t)

	want := `level=ERROR msg="event dead-lettered" destination=hook job=orders event_id=` + old.ID +
		` attempts=5 status=503 reason="503 Service Unavailable: down" why="max_age 1h0m0s exceeded (detected ` +
		detected.UTC().Format(time.RFC3339) + `)"`
	if dead != want {
		t.Errorf("log\n%s\nwant\n%s", dead, want)
	}
	dls, err := st.DeadLetters("hook")
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 1 || dls[0].Event.ID != old.ID || dls[0].Attempts != 5 || dls[0].LastError != "503 Service Unavailable: down" {
		t.Errorf("dead letters = %+v, want only the old event", dls)
	}
	if ls := laneState(t, st, "hook", "orders"); ls.Cursor != fresh.Seq || ls.Attempts < 2 {
		t.Errorf("lane = %+v, want the fresh event still retrying", ls)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	at := time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		code       int
		retryAfter string
		maxIntv    time.Duration
		want       time.Duration // from the failure to the stored next attempt
	}{
		{"429 seconds", 429, "1", time.Hour, time.Second},
		{"503 seconds capped", 503, "3600", 50 * ms, 50 * ms},
		{"503 HTTP date", 503, at.Add(2 * time.Second).Format(http.TimeFormat), time.Hour, 2 * time.Second},
		{"503 without header: backoff", 503, "", time.Hour, 10 * ms},
		{"500 ignores the header", 500, "1", time.Hour, 10 * ms},
		{"429 zero", 429, "0", time.Hour, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := openStore(t, "")
			hold := make(chan struct{})
			rc := newReceiver(t, heldUntil(hold, 1, func(_ hit, w http.ResponseWriter, _ *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.code)
			}))
			opts := testOptions()
			opts.Now = func() time.Time { return at }
			policy := RetryPolicy{InitialInterval: 10 * ms, MaxInterval: tt.maxIntv, MaxAttempts: 10, MaxAge: time.Hour}
			p := newPusher(t, st, []Destination{{Name: "hook", URL: rc.URL, Retry: policy}}, orders, nil, opts)
			ev := commit(t, st, "orders", []string{"hook"}, `{"n":1}`)[0]
			r := start(t, p)
			rc.next(t)
			// Shutdown begins before the answer arrives: the attempt still
			// finishes and records its retry, and nothing more is tried.
			r.cancel()
			close(hold)
			r.stop(t)
			rc.none(t)
			ls := laneState(t, st, "hook", "orders")
			if ls.Cursor != ev.Seq || ls.Attempts != 1 || ls.LastStatus != tt.code || !ls.NextAttempt.Equal(at.Add(tt.want)) {
				t.Errorf("lane = %+v, want 1 attempt, status %d, next attempt %s", ls, tt.code, at.Add(tt.want))
			}
		})
	}
}

func TestRetryAfterWaited(t *testing.T) {
	st := openStore(t, "")
	rc := newReceiver(t, func(h hit, w http.ResponseWriter, _ *http.Request) {
		if h.N == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	policy := RetryPolicy{InitialInterval: 10 * ms, MaxInterval: time.Hour}
	p := newPusher(t, st, []Destination{{Name: "hook", URL: rc.URL, Retry: policy}}, orders, nil, testOptions())
	commit(t, st, "orders", []string{"hook"}, `{"n":1}`)
	start(t, p)
	first, second := rc.next(t), rc.next(t)
	// The backoff alone would retry after 10ms; the receiver asked for 1s.
	if gap := second.At.Sub(first.At); gap < time.Second {
		t.Errorf("retried after %s, want at least the 1s Retry-After", gap)
	}
}

func TestShutdownCancelsHangingDelivery(t *testing.T) {
	st := openStore(t, "")
	hanging := newReceiver(t, func(_ hit, _ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers; released when the client gives up
	})
	logger, logs := newLogLines(slog.LevelInfo)
	opts := testOptions()
	opts.DrainTimeout = 200 * ms
	p := newPusher(t, st, []Destination{{Name: "hook", URL: hanging.URL, Timeout: time.Hour, Retry: fastRetry}}, orders, logger, opts)
	ev := commit(t, st, "orders", []string{"hook"}, `{"n":1}`)[0]
	r := start(t, p)
	hanging.next(t)
	// Without the drain bound Run would wait for the hour-long timeout;
	// stop fails the test if Run has not returned within waitLimit.
	if took := r.stop(t); took < opts.DrainTimeout {
		t.Errorf("Run returned after %s, before the %s grace period", took, opts.DrainTimeout)
	}
	if ls := laneState(t, st, "hook", "orders"); ls != (store.LaneState{Destination: "hook", Job: "orders", Cursor: ev.Seq}) {
		t.Errorf("lane = %+v, want the event at the head with no attempt counted", ls)
	}
	if rest := logs.rest(); len(rest) != 0 {
		t.Errorf("a cancelled delivery logged %q", rest)
	}
	pending, err := st.Pending("hook", "orders", 10)
	if err != nil || len(pending) != 1 || pending[0].ID != ev.ID {
		t.Fatalf("pending = %+v, %v; want the event", pending, err)
	}

	// The next run re-sends it with the same id.
	rc := newReceiver(t, status(http.StatusOK))
	p2 := newPusher(t, st, []Destination{{Name: "hook", URL: rc.URL, Retry: fastRetry}}, orders, nil, testOptions())
	r2 := start(t, p2)
	if h := rc.next(t); h.ID() != ev.ID {
		t.Errorf("re-sent with webhook-id %s, want %s", h.ID(), ev.ID)
	}
	r2.stop(t)
	if ls := laneState(t, st, "hook", "orders"); ls.Cursor != ev.Seq+1 {
		t.Errorf("lane = %+v, want delivered", ls)
	}
}

func TestShutdownLetsInFlightDeliveryFinish(t *testing.T) {
	st := openStore(t, "")
	release := make(chan struct{})
	rc := newReceiver(t, func(_ hit, w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	opts := testOptions()
	opts.DrainTimeout = waitLimit
	p := newPusher(t, st, []Destination{{Name: "hook", URL: rc.URL, Retry: fastRetry}}, orders, nil, opts)
	evs := commit(t, st, "orders", []string{"hook"}, `{"n":1}`, `{"n":2}`)
	r := start(t, p)
	rc.next(t)
	r.cancel() // shutdown begins while the receiver holds the request
	close(release)
	r.stop(t)
	// The first event was delivered and recorded; the second was not started.
	if ls := laneState(t, st, "hook", "orders"); ls != (store.LaneState{Destination: "hook", Job: "orders", Cursor: evs[1].Seq}) {
		t.Errorf("lane = %+v, want cursor at event 2", ls)
	}
	rc.none(t)
}

func TestRestartResumesRetrySchedule(t *testing.T) {
	dir := t.TempDir()
	policy := RetryPolicy{InitialInterval: 300 * ms, MaxInterval: 600 * ms, MaxAttempts: 10, MaxAge: time.Hour}
	dests := func(rc *receiver) []Destination {
		return []Destination{{Name: "hook", URL: rc.URL, Retry: policy}}
	}

	// Run 1: event 1 is delivered, event 2 fails once.
	// Each run is stopped while its last request is held, so that exactly
	// one attempt is made and recorded.
	st := openStore(t, dir)
	hold1 := make(chan struct{})
	rc1 := newReceiver(t, heldUntil(hold1, 2, func(h hit, w http.ResponseWriter, _ *http.Request) {
		if h.N > 1 {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	}))
	evs := commit(t, st, "orders", []string{"hook"}, `{"n":1}`, `{"n":2}`)
	r := start(t, newPusher(t, st, dests(rc1), orders, nil, testOptions()))
	rc1.next(t)
	if h := rc1.next(t); h.ID() != evs[1].ID {
		t.Fatalf("second request webhook-id %s, want %s", h.ID(), evs[1].ID)
	}
	r.cancel()
	close(hold1)
	r.stop(t)
	ls1 := laneState(t, st, "hook", "orders")
	if ls1.Cursor != evs[1].Seq || ls1.Attempts != 1 || ls1.LastStatus != 503 || ls1.LastError != "503 Service Unavailable: down" ||
		ls1.NextAttempt.Before(ls1.FirstAttempt.Add(policy.InitialInterval)) {
		t.Fatalf("lane after run 1 = %+v", ls1)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// Run 2, on the reopened store: the retry waits for its scheduled time
	// and fails once more, keeping the time of the first attempt.
	st = openStore(t, dir)
	hold2 := make(chan struct{})
	rc2 := newReceiver(t, heldUntil(hold2, 1, failFirst(1, http.StatusServiceUnavailable, "still down")))
	r = start(t, newPusher(t, st, dests(rc2), orders, nil, testOptions()))
	h := rc2.next(t)
	r.cancel()
	close(hold2)
	r.stop(t)
	if h.ID() != evs[1].ID || h.At.Before(ls1.NextAttempt) {
		t.Errorf("run 2 sent %s at %s, want %s not before %s", h.ID(), h.At, evs[1].ID, ls1.NextAttempt)
	}
	ls2 := laneState(t, st, "hook", "orders")
	if ls2.Cursor != evs[1].Seq || ls2.Attempts != 2 || !ls2.FirstAttempt.Equal(ls1.FirstAttempt) ||
		ls2.LastError != "503 Service Unavailable: still down" {
		t.Fatalf("lane after run 2 = %+v, want 2 attempts since %s", ls2, ls1.FirstAttempt)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// Run 3: delivered, at its scheduled time, and nothing earlier re-sent.
	st = openStore(t, dir)
	r = start(t, newPusher(t, st, dests(rc2), orders, nil, testOptions()))
	h = rc2.next(t)
	r.stop(t)
	if h.ID() != evs[1].ID || h.At.Before(ls2.NextAttempt) {
		t.Errorf("run 3 sent %s at %s, want %s not before %s", h.ID(), h.At, evs[1].ID, ls2.NextAttempt)
	}
	if ls := laneState(t, st, "hook", "orders"); ls != (store.LaneState{Destination: "hook", Job: "orders", Cursor: evs[1].Seq + 1}) {
		t.Errorf("lane after run 3 = %+v", ls)
	}
	rc1.none(t)
	rc2.none(t)
}
