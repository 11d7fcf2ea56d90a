package scheduler

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

// limitsScheduler starts a scheduler with opts on a fake clock set to now,
// with one job per name, each polling src (at path /name) through a real
// pipeline, on schedule "@daily" so that cron itself never fires during
// the test: a run's budget is the time from the clock to midnight.
func limitsScheduler(t *testing.T, opts Options, now time.Time, src *source, jobs map[string]string) (*Scheduler, *fakeClock, *logRecorder, *skipLog) {
	t.Helper()
	clock := &fakeClock{now: now}
	rec, skips := &logRecorder{}, &skipLog{ch: make(chan string, 16)}
	opts.Now, opts.Skipped = clock.Now, skips.skipped
	st := openStore(t)
	var entries []Entry
	for name, host := range jobs {
		p := sourcePipeline(t, name, src, st)
		entries = append(entries, Entry{Name: name, Schedule: "@daily", Tick: p.Tick, Host: host})
	}
	s := New(slog.New(rec), opts)
	for _, e := range entries {
		if err := s.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	return s, clock, rec, skips
}

// startLimited starts s with a hook that reports each run that starts to
// wait for a slot or a token, and stops it (releasing held sources first)
// when the test ends.
func startLimited(t *testing.T, s *Scheduler, src *source) chan string {
	t.Helper()
	blocked := make(chan string, 16)
	s.limits.blocked = func(what string) { blocked <- what }
	s.Start(t.Context())
	t.Cleanup(func() {
		src.mu.Lock()
		if src.hold != nil {
			select {
			case <-src.hold:
			default:
				close(src.hold)
			}
		}
		src.mu.Unlock()
		if err := s.Stop(wait); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return blocked
}

func trigger(t *testing.T, s *Scheduler, name string) {
	t.Helper()
	if err := s.Trigger(name); err != nil {
		t.Fatalf("Trigger(%q): %v", name, err)
	}
}

// TestMaxConcurrentWaits: with two slots, a third poll waits for one to
// come free, and the source never sees more than two at once.
func TestMaxConcurrentWaits(t *testing.T) {
	src := &source{hold: make(chan struct{}), hits: make(chan string, 8)}
	src.set(200, "")
	noon := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s, _, _, skips := limitsScheduler(t, Options{MaxConcurrent: 2}, noon, src, map[string]string{"a": "", "b": "", "c": ""})
	blocked := startLimited(t, s, src)
	trigger(t, s, "a")
	trigger(t, s, "b")
	first := []string{receive(t, src.hits, "first poll"), receive(t, src.hits, "second poll")}
	trigger(t, s, "c")
	if got := receive(t, blocked, "c waiting"); got != SkipConcurrency {
		t.Fatalf("c waits for %q, want a slot", got)
	}
	if n := src.requests(); n != 2 {
		t.Fatalf("%d polls at the source while c waits, want 2", n)
	}
	close(src.hold) // a and b end; c takes a freed slot
	if got := receive(t, src.hits, "third poll"); got != "/c" {
		t.Errorf("third poll is %s, want /c (first two: %v)", got, first)
	}
	if err := s.Stop(wait); err != nil {
		t.Fatal(err)
	}
	src.mu.Lock()
	peak := src.peak
	src.mu.Unlock()
	if peak != 2 {
		t.Errorf("the source saw %d polls at once, want 2", peak)
	}
	if got := skips.all(); len(got) != 0 {
		t.Errorf("skips %v, want none", got)
	}
}

// TestMaxConcurrentSkips: a poll that finds no slot before its job's next
// tick is skipped and counted; the warning is logged once for a series of
// misses, and summed up when the job polls again.
func TestMaxConcurrentSkips(t *testing.T) {
	src := &source{hold: make(chan struct{}), hits: make(chan string, 8)}
	src.set(200, "")
	// 300 ms before midnight, the next tick of an @daily job.
	now := time.Date(2026, 3, 1, 23, 59, 59, 700_000_000, time.UTC)
	s, clock, rec, skips := limitsScheduler(t, Options{MaxConcurrent: 1}, now, src, map[string]string{"a": "", "b": ""})
	startLimited(t, s, src)
	trigger(t, s, "a")
	receive(t, src.hits, "a's poll")
	e := s.entries["b"]
	for range 2 {
		s.fire(e, now) // returns once b gave up
		if got := receive(t, skips.ch, "skip"); got != "b concurrency" {
			t.Fatalf("skip %q, want b concurrency", got)
		}
	}
	if n := src.requests(); n != 1 {
		t.Fatalf("%d polls, want only a's", n)
	}
	want := []string{
		"skipped a tick: no free slot (limits.max_concurrent_polls) before the job's next tick job=b",
	}
	if got := rec.matching("skipped", "polling again"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("logged\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Once a is done, b's next tick (with the whole day to wait) polls.
	close(src.hold)
	noon := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	clock.Set(noon)
	s.fire(e, noon)
	if got := receive(t, src.hits, "b's poll"); got != "/b" {
		t.Fatalf("poll %s, want /b", got)
	}
	want = append(want, "polling again after missed ticks job=b missed=2")
	if got := rec.matching("skipped", "polling again"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("logged\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestHostRateSkips: jobs of one host (names ignore case) share its
// bucket; one that would wait for a token past its next tick is skipped
// at once, while a job of another host is not held back.
func TestHostRateSkips(t *testing.T) {
	src := &source{hits: make(chan string, 8)}
	src.set(200, "")
	// A token every 1000 s, and 10 minutes to the next tick.
	now := time.Date(2026, 3, 1, 23, 50, 0, 0, time.UTC)
	s, _, rec, skips := limitsScheduler(t, Options{HostRate: 0.001, HostBurst: 1}, now, src,
		map[string]string{"x": "legacy", "y": "LEGACY", "z": "other"})
	startLimited(t, s, src)
	trigger(t, s, "x")
	if got := receive(t, src.hits, "x's poll"); got != "/x" {
		t.Fatalf("poll %s, want /x", got)
	}
	trigger(t, s, "y")
	if got := receive(t, skips.ch, "y skipped"); got != "y host_rate" {
		t.Fatalf("skip %q, want y host_rate", got)
	}
	trigger(t, s, "z")
	if got := receive(t, src.hits, "z's poll"); got != "/z" {
		t.Fatalf("poll %s, want /z", got)
	}
	if err := s.Stop(wait); err != nil {
		t.Fatal(err)
	}
	if n := src.requests(); n != 2 {
		t.Errorf("%d polls, want x and z", n)
	}
	want := "skipped a triggered poll: the source host's rate (limits.per_host) allows no poll before the job's next tick job=y"
	if got := rec.matching("skipped"); len(got) != 1 || got[0] != want {
		t.Errorf("logged %q, want %q", got, want)
	}
}

// TestHostRateWaits: a second job of the host waits for the next token
// and then polls, the rate's interval after the first.
func TestHostRateWaits(t *testing.T) {
	src := &source{hits: make(chan string, 8)}
	src.set(200, "")
	noon := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s, _, _, skips := limitsScheduler(t, Options{HostRate: 10, HostBurst: 1}, noon, src, map[string]string{"x": "legacy", "y": "legacy"})
	blocked := startLimited(t, s, src)
	first := time.Now() // before x takes the token
	trigger(t, s, "x")
	receive(t, src.hits, "x's poll")
	trigger(t, s, "y")
	if got := receive(t, blocked, "y waiting"); got != SkipHostRate {
		t.Fatalf("y waits for %q, want a token", got)
	}
	receive(t, src.hits, "y's poll")
	// A lower bound only: a slow machine makes the gap longer, never shorter.
	if gap := time.Since(first); gap < 90*time.Millisecond {
		t.Errorf("y polled %s after x, want at least the 100ms between tokens", gap)
	}
	if got := skips.all(); len(got) != 0 {
		t.Errorf("skips %v, want none", got)
	}
}

// TestNoLimitsNoWait: without limits a run takes no slot and no token.
func TestNoLimitsNoWait(t *testing.T) {
	l := newLimits(Options{})
	if l.host("legacy") != nil {
		t.Errorf("a host bucket without HostRate")
	}
	done, reason := l.acquire(t.Context(), nil, 0, nil)
	if done == nil || reason != "" {
		t.Fatalf("acquire gave release %t and reason %q; want a no-op release", done != nil, reason)
	}
	done()
	if l := newLimits(Options{HostRate: 1}); l.host("") != nil || l.host("A") != l.host("a") || l.host("a") == l.host("b") {
		t.Errorf("host buckets are not one per host name, case ignored")
	}
}
