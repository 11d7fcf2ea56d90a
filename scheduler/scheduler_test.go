package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// wait is how long a test waits for something that should happen within a
// second or two; it only bounds a failing test.
const wait = 10 * time.Second

// logWatch is a slog.Handler that passes the records a test waits for, as
// "message job=name", and drops the rest.
type logWatch struct {
	want  map[string]bool
	ch    chan string
	attrs []slog.Attr
}

func newLogWatch(messages ...string) *logWatch {
	w := &logWatch{want: map[string]bool{}, ch: make(chan string, 64)}
	for _, m := range messages {
		w.want[m] = true
	}
	return w
}

func (w *logWatch) Enabled(context.Context, slog.Level) bool { return true }

func (w *logWatch) Handle(_ context.Context, r slog.Record) error {
	if !w.want[r.Message] {
		return nil
	}
	job := ""
	find := func(a slog.Attr) bool {
		if a.Key == "job" {
			job = a.Value.String()
		}
		return true
	}
	for _, a := range w.attrs {
		find(a)
	}
	r.Attrs(find)
	w.ch <- r.Message + " job=" + job
	return nil
}

func (w *logWatch) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logWatch{want: w.want, ch: w.ch, attrs: append(append([]slog.Attr(nil), w.attrs...), attrs...)}
}

func (w *logWatch) WithGroup(string) slog.Handler { return w }

// await fails the test unless the record line is logged within wait.
func (w *logWatch) await(t *testing.T, line string) {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case got := <-w.ch:
			if got == line {
				return
			}
		case <-timeout:
			t.Fatalf("no log record %q within %v", line, wait)
		}
	}
}

// discard is the logger of tests that watch no log record.
var discard = slog.New(slog.DiscardHandler)

// start returns a started Scheduler holding entries; it is stopped when the
// test ends.
func start(t *testing.T, logger *slog.Logger, opts Options, entries ...Entry) *Scheduler {
	t.Helper()
	s := New(logger, opts)
	for _, e := range entries {
		if err := s.Add(e); err != nil {
			t.Fatalf("Add(%q): %v", e.Name, err)
		}
	}
	s.Start(t.Context())
	t.Cleanup(func() {
		if err := s.Stop(wait); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s
}

// receive fails the test unless ch yields within wait.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("no %s within %v", what, wait)
		panic("unreachable")
	}
}

func nop(context.Context) {}

func TestAddErrors(t *testing.T) {
	s := New(discard, Options{})
	if err := s.Add(Entry{Name: "orders", Schedule: "@every 30s", Run: nop}); err != nil {
		t.Fatalf("Add: %v", err)
	}
	tests := []struct {
		entry Entry
		want  string
	}{
		{Entry{Name: "orders", Schedule: "@hourly", Run: nop}, `job "orders" is already scheduled`},
		{Entry{Name: "users", Schedule: "every 5m", Run: nop}, `job "users": schedule "every 5m": expected 5 to 6 fields, found 2: [every 5m]`},
		{Entry{Name: "users", Schedule: "", Run: nop}, `job "users": schedule "": empty schedule`},
		{Entry{Name: "", Schedule: "@hourly", Run: nop}, "job name is empty"},
		{Entry{Name: "users", Schedule: "@hourly"}, `job "users": neither Run nor Tick is set`},
		{Entry{Name: "users", Schedule: "@hourly", Jitter: -time.Second, Run: nop}, `job "users": jitter -1s is negative`},
		{Entry{Name: "users", Schedule: "@hourly", Run: nop, Tick: func(context.Context) Outcome { return Outcome{} }}, `job "users": both Run and Tick are set`},
		{Entry{Name: "users", Schedule: "@hourly", Run: nop, BackoffMax: -time.Minute}, `job "users": backoff max -1m0s is negative`},
	}
	for _, tt := range tests {
		if err := s.Add(tt.entry); err == nil || err.Error() != tt.want {
			t.Errorf("Add(%+v) = %v, want %q", tt.entry, err, tt.want)
		}
	}
}

type ctxKey struct{}

func TestScheduledRun(t *testing.T) {
	t.Parallel()
	parent := context.WithValue(t.Context(), ctxKey{}, "from Start")
	ran := make(chan any, 1)
	s := New(discard, Options{})
	err := s.Add(Entry{Name: "tick", Schedule: "@every 1s", Run: func(ctx context.Context) {
		select {
		case ran <- ctx.Value(ctxKey{}):
		default:
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Running() {
		t.Error("Running() before Start = true")
	}
	s.Start(parent)
	if !s.Running() {
		t.Error("Running() after Start = false")
	}
	if got := receive(t, ran, "scheduled run"); got != "from Start" {
		t.Errorf("run context value = %v, want the one of Start's context", got)
	}
	if err := s.Stop(wait); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if s.Running() {
		t.Error("Running() after Stop = true")
	}
	if err := s.Trigger("tick"); !errors.Is(err, ErrNotRunning) || err.Error() != `job "tick": scheduler is not running` {
		t.Errorf("Trigger after Stop = %v, want ErrNotRunning", err)
	}
}

// TestNoOverlap hammers a slow job with triggers while its schedule fires.
func TestNoOverlap(t *testing.T) {
	t.Parallel()
	var active, peak, runs atomic.Int32
	release := make(chan struct{})
	started := make(chan int32, 8)
	watch := newLogWatch("skipped scheduled run: the previous run is still going")
	s := start(t, slog.New(watch), Options{}, Entry{Name: "slow", Schedule: "@every 1s", Run: func(ctx context.Context) {
		n := active.Add(1)
		defer active.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		started <- runs.Add(1)
		<-release
	}})

	if err := s.Trigger("slow"); err != nil {
		t.Fatalf("first Trigger: %v", err)
	}
	receive(t, started, "triggered run")
	var wg sync.WaitGroup
	var refused atomic.Int32
	for range 20 {
		wg.Go(func() {
			if err := s.Trigger("slow"); errors.Is(err, ErrRunning) && err.Error() == `job "slow": already running` {
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	if got := refused.Load(); got != 20 {
		t.Errorf("%d of 20 triggers during a run returned ErrRunning, want all", got)
	}
	// The schedule fires while the triggered run holds the job.
	watch.await(t, "skipped scheduled run: the previous run is still going job=slow")
	close(release)
	if n := receive(t, started, "next scheduled run"); n != 2 {
		t.Errorf("next run is run %d, want 2", n)
	}
	if p := peak.Load(); p != 1 {
		t.Errorf("peak concurrent runs = %d, want 1", p)
	}
}

func TestPanicRecovered(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	again := make(chan struct{}, 8)
	watch := newLogWatch("cron panic")
	run := func(ctx context.Context) {
		if calls.Add(1) == 1 {
			panic("boom")
		}
		again <- struct{}{}
	}
	s := start(t, slog.New(watch), Options{},
		Entry{Name: "scheduled", Schedule: "@every 1s", Run: run},
	)
	watch.await(t, "cron panic job=scheduled")
	receive(t, again, "run after the panic")

	// A triggered run is recovered too, and releases the job.
	var tcalls atomic.Int32
	err := s.Add(Entry{Name: "triggered", Schedule: "@yearly", Run: func(ctx context.Context) {
		if tcalls.Add(1) == 1 {
			panic(errors.New("boom"))
		}
		again <- struct{}{}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Trigger("triggered"); err != nil {
		t.Fatalf("Trigger: %v", err)
	}
	watch.await(t, "cron panic job=triggered")
	if err := s.Trigger("triggered"); err != nil {
		t.Fatalf("Trigger after the panic: %v", err)
	}
	receive(t, again, "triggered run after the panic")
}

func TestStopWaitsForRunningJob(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	ended := make(chan error, 1)
	watch := newLogWatch("stopping: waiting for running jobs")
	s := New(slog.New(watch), Options{})
	if err := s.Add(Entry{Name: "busy", Schedule: "@yearly", Run: func(ctx context.Context) {
		<-release
		ended <- ctx.Err()
	}}); err != nil {
		t.Fatal(err)
	}
	s.Start(t.Context())
	if err := s.Trigger("busy"); err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- s.Stop(wait) }()
	watch.await(t, "stopping: waiting for running jobs job=")
	if s.Running() {
		t.Error("Running() during Stop = true")
	}
	close(release)
	if err := receive(t, stopped, "Stop"); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	// Stop returned after the run ended, and without cancelling it.
	select {
	case err := <-ended:
		if err != nil {
			t.Errorf("run context ended with %v, want it not cancelled", err)
		}
	default:
		t.Error("Stop returned before the run ended")
	}
}

func TestStopTimeout(t *testing.T) {
	const timeout, grace = 100 * time.Millisecond, 50 * time.Millisecond
	tests := []struct {
		name    string
		honour  bool // the job returns when its context is cancelled
		wantErr string
	}{
		{name: "cancelled job ends", honour: true},
		{name: "stuck job named", honour: false, wantErr: `scheduler stop: job "stuck job named" still running 50ms after the 100ms timeout cancelled them`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			running := make(chan struct{})
			release := make(chan struct{})
			ended := make(chan error, 1)
			s := New(discard, Options{CancelGrace: grace})
			if err := s.Add(Entry{Name: tt.name, Schedule: "@yearly", Run: func(ctx context.Context) {
				close(running)
				if tt.honour {
					<-ctx.Done()
				} else {
					<-release
				}
				ended <- ctx.Err()
			}}); err != nil {
				t.Fatal(err)
			}
			s.Start(t.Context())
			if err := s.Trigger(tt.name); err != nil {
				t.Fatal(err)
			}
			<-running
			begin := time.Now()
			err := s.Stop(timeout)
			if elapsed := time.Since(begin); elapsed < timeout {
				t.Errorf("Stop returned after %v, before its %v timeout", elapsed, timeout)
			}
			if tt.wantErr == "" && err != nil {
				t.Errorf("Stop: %v", err)
			}
			if tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Errorf("Stop = %v, want %q", err, tt.wantErr)
			}
			close(release)
			if got := receive(t, ended, "end of the run"); !errors.Is(got, context.Canceled) {
				t.Errorf("run context ended with %v, want context.Canceled", got)
			}
		})
	}
}

// fixedSource is a rand.Source that always returns the same value.
type fixedSource uint64

func (f fixedSource) Uint64() uint64 { return uint64(f) }

func TestJitterBounds(t *testing.T) {
	const max = 3 * time.Second
	tests := []struct {
		name   string
		source rand.Source
		max    time.Duration
		want   time.Duration // -1: anything in [0, max)
	}{
		{name: "highest draw", source: fixedSource(^uint64(0)), max: max, want: max - 1},
		{name: "no jitter", source: fixedSource(^uint64(0)), max: 0, want: 0},
		{name: "seeded", source: rand.NewPCG(1, 2), max: max, want: -1},
		{name: "global source", max: max, want: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(discard, Options{Rand: tt.source})
			seen := map[time.Duration]bool{}
			for range 1000 {
				d := s.jitter(tt.max)
				seen[d] = true
				if tt.want >= 0 && d != tt.want {
					t.Fatalf("jitter(%v) = %v, want %v", tt.max, d, tt.want)
				}
				if d < 0 || (tt.max > 0 && d >= tt.max) {
					t.Fatalf("jitter(%v) = %v, outside [0, %v)", tt.max, d, tt.max)
				}
			}
			if tt.want < 0 && len(seen) < 900 {
				t.Errorf("1000 draws gave %d distinct delays, want them spread", len(seen))
			}
		})
	}
}

func TestJitterDelaysScheduledRun(t *testing.T) {
	t.Parallel()
	const jitter = 300 * time.Millisecond
	ran := make(chan time.Time, 1)
	s := start(t, discard, Options{Rand: fixedSource(^uint64(0))}, Entry{Name: "j", Schedule: "@every 1s", Jitter: jitter, Run: func(context.Context) {
		select {
		case ran <- time.Now():
		default:
		}
	}})
	due := s.Next("j")
	// The highest draw is jitter-1ns; cron fires no earlier than due.
	if at := receive(t, ran, "jittered run"); at.Sub(due) < jitter-time.Nanosecond {
		t.Errorf("run began %v after its scheduled time, want at least %v", at.Sub(due), jitter-time.Nanosecond)
	}
	// Trigger means now: no jitter, and the job runs. The jittered run may
	// still hold the job's guard just after it reported (or the next tick
	// may be in its jitter wait), so ErrRunning is retried until it ends.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		err := s.Trigger("j")
		if err == nil {
			break
		}
		if !errors.Is(err, ErrRunning) {
			t.Fatalf("Trigger: %v", err)
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("Trigger still %v after 10s", err)
		}
	}
	receive(t, ran, "triggered run")
}

// TestTriggerJittered: a jittered trigger (the daemon's start-up polls)
// waits the job's jitter, as a scheduled run does; a plain one does not.
func TestTriggerJittered(t *testing.T) {
	t.Parallel()
	const jitter = 300 * time.Millisecond
	ran := make(chan time.Time, 1)
	s := start(t, discard, Options{Rand: fixedSource(^uint64(0))}, Entry{Name: "j", Schedule: "@hourly", Jitter: jitter, Run: func(context.Context) {
		ran <- time.Now()
	}})
	begin := time.Now()
	if err := s.TriggerJittered("j"); err != nil {
		t.Fatal(err)
	}
	// The highest draw is jitter-1ns.
	if at := receive(t, ran, "jittered trigger"); at.Sub(begin) < jitter-time.Nanosecond {
		t.Errorf("a jittered trigger ran %v after it, want at least %v", at.Sub(begin), jitter-time.Nanosecond)
	}
	begin = time.Now()
	for err := s.Trigger("j"); err != nil; err = s.Trigger("j") {
		if !errors.Is(err, ErrRunning) { // the run above may still hold the job's guard
			t.Fatalf("Trigger: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	if at := receive(t, ran, "plain trigger"); at.Sub(begin) >= jitter {
		t.Errorf("a plain trigger waited %v, want no jitter", at.Sub(begin))
	}
}

func TestStopEndsJitterWait(t *testing.T) {
	t.Parallel()
	var runs atomic.Int32
	watch := newLogWatch("delaying run by jitter")
	s := New(slog.New(watch), Options{Rand: fixedSource(^uint64(0))})
	if err := s.Add(Entry{Name: "late", Schedule: "@every 1s", Jitter: time.Hour, Run: func(context.Context) { runs.Add(1) }}); err != nil {
		t.Fatal(err)
	}
	s.Start(t.Context())
	watch.await(t, "delaying run by jitter job=late")
	if err := s.Trigger("late"); !errors.Is(err, ErrRunning) {
		t.Errorf("Trigger during the jitter wait = %v, want ErrRunning", err)
	}
	// Without the wait ending, Stop would run into its timeout.
	if err := s.Stop(time.Hour); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if n := runs.Load(); n != 0 {
		t.Errorf("job ran %d times, want 0: Stop cuts the jitter wait and skips the run", n)
	}
}

func TestTrigger(t *testing.T) {
	t.Parallel()
	ran := make(chan struct{}, 1)
	s := New(discard, Options{})
	if err := s.Add(Entry{Name: "orders", Schedule: "@yearly", Run: func(context.Context) { ran <- struct{}{} }}); err != nil {
		t.Fatal(err)
	}
	if err := s.Trigger("orders"); !errors.Is(err, ErrNotRunning) || err.Error() != `job "orders": scheduler is not running` {
		t.Errorf("Trigger before Start = %v, want ErrNotRunning", err)
	}
	s.Start(t.Context())
	t.Cleanup(func() { s.Stop(wait) })
	if err := s.Trigger("nope"); !errors.Is(err, ErrUnknownJob) || err.Error() != `unknown job "nope"` {
		t.Errorf("Trigger(unknown) = %v, want ErrUnknownJob", err)
	}
	if err := s.Trigger("orders"); err != nil {
		t.Fatalf("Trigger: %v", err)
	}
	receive(t, ran, "triggered run")
}

// TestRemoveAddDoesNotOverlap covers a config reload: a job removed and
// added again while its old run is going still runs once at a time.
func TestRemoveAddDoesNotOverlap(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	running := make(chan struct{})
	s := start(t, discard, Options{}, Entry{Name: "orders", Schedule: "@yearly", Run: func(context.Context) {
		close(running)
		<-release
	}})
	if err := s.Trigger("orders"); err != nil {
		t.Fatal(err)
	}
	<-running
	s.Remove("orders")
	if err := s.Trigger("orders"); !errors.Is(err, ErrUnknownJob) {
		t.Errorf("Trigger after Remove = %v, want ErrUnknownJob", err)
	}
	if next := s.Next("orders"); !next.IsZero() {
		t.Errorf("Next after Remove = %v, want zero", next)
	}
	s.Remove("never added") // a no-op
	if err := s.Add(Entry{Name: "orders", Schedule: "@yearly", Run: nop}); err != nil {
		t.Fatalf("Add after Remove: %v", err)
	}
	if err := s.Trigger("orders"); !errors.Is(err, ErrRunning) {
		t.Errorf("Trigger of the re-added job while the old run goes = %v, want ErrRunning", err)
	}
	close(release)
}

func TestNextUsesLocation(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	s := New(discard, Options{Location: berlin})
	if err := s.Add(Entry{Name: "morning", Schedule: "0 9 * * *", Run: nop}); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		next := s.Next("morning").In(berlin)
		if next.Hour() != 9 || next.Minute() != 0 || next.Second() != 0 || !next.After(time.Now()) || next.Sub(time.Now()) > 24*time.Hour {
			t.Errorf("Next %s = %v, want the next 09:00 in Berlin", when, next)
		}
	}
	check("before Start")
	s.Start(t.Context())
	check("after Start")
	if err := s.Stop(wait); err != nil {
		t.Fatal(err)
	}
	if next := s.Next("morning"); !next.IsZero() {
		t.Errorf("Next after Stop = %v, want zero", next)
	}
}
