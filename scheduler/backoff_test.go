package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pollhook/pollhook/differ"
	"github.com/pollhook/pollhook/poller"
	"github.com/pollhook/pollhook/store"
)

// fakeClock is the scheduler's clock in tests that decide by time; waits
// still take real time.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// source is an HTTP source whose status and Retry-After a test sets, and
// which reports each request it gets and can hold it until released.
type source struct {
	mu         sync.Mutex
	status     int
	retryAfter string
	hold       chan struct{} // when not nil, requests wait for it to close
	hits       chan string   // receives the request path of each request, when not nil
	inFlight   int
	peak       int
	count      int
}

func (s *source) set(status int, retryAfter string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.retryAfter = status, retryAfter
}

func (s *source) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

func (s *source) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.count++
	s.inFlight++
	s.peak = max(s.peak, s.inFlight)
	status, retryAfter, hold, hits := s.status, s.retryAfter, s.hold, s.hits
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	if hits != nil {
		hits <- r.URL.Path
	}
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
		}
	}
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.WriteHeader(status)
	fmt.Fprint(w, `{"ok":true}`)
}

// sourcePipeline is a document-mode pipeline of job name polling src at
// path name on a server of its own, on st.
func sourcePipeline(t *testing.T, name string, src http.Handler, st store.Store) *Pipeline {
	t.Helper()
	srv := httptest.NewServer(src)
	t.Cleanup(srv.Close)
	df, err := differ.Compile(differ.Spec{})
	if err != nil {
		t.Fatal(err)
	}
	return &Pipeline{
		Job:          name,
		Request:      poller.Request{URL: srv.URL + "/" + name},
		Poller:       poller.New(srv.Client()),
		Differ:       df,
		Store:        st,
		Destinations: []string{"hook"},
		Logger:       discard,
	}
}

// logRecorder keeps the records at Info and above as "message k=v ...".
type logRecorder struct {
	mu    sync.Mutex
	lines []string
	attrs []slog.Attr
	root  *logRecorder
}

func (l *logRecorder) Enabled(_ context.Context, level slog.Level) bool {
	return level >= slog.LevelInfo
}

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	line := r.Message
	add := func(a slog.Attr) bool {
		line += " " + a.Key + "=" + a.Value.String()
		return true
	}
	for _, a := range l.attrs {
		add(a)
	}
	r.Attrs(add)
	root := l.rootOf()
	root.mu.Lock()
	defer root.mu.Unlock()
	root.lines = append(root.lines, line)
	return nil
}

func (l *logRecorder) rootOf() *logRecorder {
	if l.root != nil {
		return l.root
	}
	return l
}

func (l *logRecorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logRecorder{attrs: append(append([]slog.Attr(nil), l.attrs...), attrs...), root: l.rootOf()}
}

func (l *logRecorder) WithGroup(string) slog.Handler { return l }

// matching returns the recorded lines that start with one of prefixes.
func (l *logRecorder) matching(prefixes ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		for _, p := range prefixes {
			if strings.HasPrefix(line, p) {
				out = append(out, line)
			}
		}
	}
	return out
}

// skipLog collects Options.Skipped calls.
type skipLog struct {
	mu  sync.Mutex
	got []string
	ch  chan string // also receives each "job reason", when not nil
}

func (s *skipLog) skipped(job, reason string) {
	s.mu.Lock()
	s.got = append(s.got, job+" "+reason)
	ch := s.ch
	s.mu.Unlock()
	if ch != nil {
		ch <- job + " " + reason
	}
}

func (s *skipLog) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

func TestBackoffDelay(t *testing.T) {
	const h = time.Hour
	tests := []struct {
		gap      time.Duration
		failures int
		ceiling  time.Duration
		want     time.Duration
	}{
		{h, 1, 8 * h, h},
		{h, 2, 8 * h, 2 * h},
		{h, 3, 8 * h, 4 * h},
		{h, 4, 8 * h, 8 * h},
		{h, 5, 8 * h, 8 * h},
		{h, 1000, 8 * h, 8 * h}, // no overflow however long the outage
		{h, 3, 3 * h, 3 * h},
		{30 * time.Second, 2, 5 * time.Minute, time.Minute},
		{h, 2, 30 * time.Minute, 30 * time.Minute}, // a ceiling under the interval: no backoff at all
	}
	for _, tt := range tests {
		if got := backoffDelay(tt.gap, tt.failures, tt.ceiling); got != tt.want {
			t.Errorf("backoffDelay(%s, %d, %s) = %s, want %s", tt.gap, tt.failures, tt.ceiling, got, tt.want)
		}
	}
}

// backoffScheduler starts a scheduler on a fake clock with one job polling
// src every hour through a real pipeline, and returns it with its entry.
func backoffScheduler(t *testing.T, src *source, backoffMax time.Duration) (*Scheduler, *entry, *fakeClock, *logRecorder, *skipLog) {
	t.Helper()
	clock := &fakeClock{now: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	rec, skips := &logRecorder{}, &skipLog{}
	p := sourcePipeline(t, "orders", src, openStore(t))
	s := start(t, slog.New(rec), Options{Now: clock.Now, Skipped: skips.skipped},
		Entry{Name: "orders", Schedule: "@every 1h", Tick: p.Tick, BackoffMax: backoffMax})
	return s, s.entries["orders"], clock, rec, skips
}

// fireHours fires e's hourly ticks 0 to hours-1 from the clock's time,
// with the source answering answer(h) at hour h, and returns the hours
// whose tick polled.
func fireHours(s *Scheduler, e *entry, clock *fakeClock, src *source, hours int, answer func(h int) (status int, retryAfter string)) []int {
	t0 := clock.Now()
	var ran []int
	for h := range hours {
		at := t0.Add(time.Duration(h) * time.Hour)
		clock.Set(at)
		src.set(answer(h))
		before := src.requests()
		s.fire(e, at)
		if src.requests() > before {
			ran = append(ran, h)
		}
	}
	return ran
}

// TestBackoff fails a source for 23 hours on an hourly schedule: the
// waits double up to backoff.max, each new wait is logged once, the first
// success puts the job back on its schedule, and a later single failure
// skips nothing. Ticks are fired directly at their scheduled times.
func TestBackoff(t *testing.T) {
	src := &source{}
	s, e, clock, rec, skips := backoffScheduler(t, src, 8*time.Hour)
	ran := fireHours(s, e, clock, src, 27, func(h int) (int, string) {
		if h < 23 || h == 25 {
			return 503, ""
		}
		return 200, ""
	})
	if want := []int{0, 1, 3, 7, 15, 23, 24, 25, 26}; fmt.Sprint(ran) != fmt.Sprint(want) {
		t.Errorf("polled at hours %v, want %v", ran, want)
	}
	if got := len(skips.all()); got != 27-len(ran) || got != 18 {
		t.Errorf("%d skips reported (%v) for %d skipped hours, want 18", got, skips.all(), 27-len(ran))
	}
	for _, sk := range skips.all() {
		if sk != "orders backoff" {
			t.Errorf("skip reported as %q, want orders backoff", sk)
		}
	}
	want := []string{
		"source failing; backing off job=orders failures=2 reason=status until=2026-03-01T03:00:00Z",
		"source failing; backing off job=orders failures=3 reason=status until=2026-03-01T07:00:00Z",
		"source failing; backing off job=orders failures=4 reason=status until=2026-03-01T15:00:00Z",
		"source answered again; back on schedule job=orders failures=5",
	}
	if got := rec.matching("source "); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("logged\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestTriggerIgnoresBackoff: a poll someone asked for runs although the
// job is backing off, and its success ends the backoff.
func TestTriggerIgnoresBackoff(t *testing.T) {
	src := &source{hits: make(chan string, 1)}
	s, e, clock, _, _ := backoffScheduler(t, src, 8*time.Hour)
	t0 := clock.Now()
	src.set(503, "")
	for h := range 2 {
		s.fire(e, t0.Add(time.Duration(h)*time.Hour))
		receive(t, src.hits, "failed poll")
	}
	if !e.pace.holds(t0.Add(2 * time.Hour)) {
		t.Fatalf("the job does not back off after two failures")
	}
	src.set(200, "")
	clock.Set(t0.Add(90 * time.Minute))
	if err := s.Trigger("orders"); err != nil {
		t.Fatal(err)
	}
	receive(t, src.hits, "triggered poll")
	// Stop waits for the triggered run, settling included.
	if err := s.Stop(wait); err != nil {
		t.Fatal(err)
	}
	if e.pace.holds(t0.Add(2 * time.Hour)) {
		t.Errorf("still backing off after a successful poll")
	}
}

// TestRetryAfter: a 429 or 503 with Retry-After holds the job that long
// (at most backoff.max) even after a single failure; other statuses'
// Retry-After, and waits shorter than the interval, skip nothing.
func TestRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter string
		wantRan    []int // of hours 0..11; the source fails at hour 0 only
		wantLog    []string
	}{
		{"429 for two hours", 429, "7200", []int{0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, []string{
			"source failing; backing off job=orders failures=1 reason=status until=2026-03-01T02:00:00Z retry_after=2h0m0s",
			"source answered again; back on schedule job=orders failures=1",
		}},
		{"503 for three hours and a bit", 503, "11000", []int{0, 4, 5, 6, 7, 8, 9, 10, 11}, []string{
			"source failing; backing off job=orders failures=1 reason=status until=2026-03-01T03:03:20Z retry_after=3h3m20s",
			"source answered again; back on schedule job=orders failures=1",
		}},
		{"capped at backoff.max", 429, "86400", []int{0, 10, 11}, []string{
			"source failing; backing off job=orders failures=1 reason=status until=2026-03-01T10:00:00Z retry_after=10h0m0s",
			"source answered again; back on schedule job=orders failures=1",
		}},
		{"shorter than the interval", 503, "1800", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, nil},
		{"not honoured on a 500", 500, "7200", []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &source{}
			s, e, clock, rec, _ := backoffScheduler(t, src, 10*time.Hour)
			ran := fireHours(s, e, clock, src, 12, func(h int) (int, string) {
				if h == 0 {
					return tt.status, tt.retryAfter
				}
				return 200, ""
			})
			if fmt.Sprint(ran) != fmt.Sprint(tt.wantRan) {
				t.Errorf("polled at hours %v, want %v", ran, tt.wantRan)
			}
			if got := rec.matching("source "); strings.Join(got, "\n") != strings.Join(tt.wantLog, "\n") {
				t.Errorf("logged\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.wantLog, "\n"))
			}
		})
	}
}

// TestBackoffOnCronTicks runs the real cron: after a 429 asking for an
// hour, the job's next scheduled ticks are skipped as backing off.
func TestBackoffOnCronTicks(t *testing.T) {
	t.Parallel()
	src := &source{hits: make(chan string, 8)}
	src.set(429, "3600")
	skips := &skipLog{ch: make(chan string, 8)}
	p := sourcePipeline(t, "orders", src, openStore(t))
	start(t, discard, Options{Skipped: skips.skipped}, Entry{Name: "orders", Schedule: "@every 1s", Tick: p.Tick})
	receive(t, src.hits, "first scheduled poll")
	for range 2 {
		if got := receive(t, skips.ch, "skipped tick"); got != "orders backoff" {
			t.Fatalf("skipped %q, want orders backoff", got)
		}
	}
	if n := src.requests(); n != 1 {
		t.Errorf("%d polls, want 1 until the Retry-After has passed", n)
	}
}
