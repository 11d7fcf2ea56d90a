package scheduler

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pollhook/pollhook/poller"
)

// TestStatus: Status tells whether a job is running, when it next polls
// (stepping over the ticks its backoff skips) and until when it backs
// off, on the scheduler's clock.
func TestStatus(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	entered, release := make(chan struct{}), make(chan struct{})
	failing := true
	tick := func(ctx context.Context) Outcome {
		if !failing {
			entered <- struct{}{}
			<-release
			return Outcome{Result: ResultUnchanged}
		}
		return Outcome{Result: ResultFailed, Err: &poller.Error{Reason: poller.ReasonStatus, Err: errors.New("503")}}
	}
	s := New(discard, Options{Now: clock.Now, Location: time.UTC})
	if err := s.Add(Entry{Name: "orders", Schedule: "0 * * * *", Tick: tick, BackoffMax: 8 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	check := func(what string, want JobState) {
		t.Helper()
		got, ok := s.Status("orders")
		if !ok || got != want {
			t.Errorf("%s: Status = %+v, %v; want %+v, true", what, got, ok, want)
		}
	}
	t0 := clock.Now()
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }

	check("before Start", JobState{Next: at(1)})
	if _, ok := s.Status("invoices"); ok {
		t.Errorf("Status of a job never added reports ok")
	}
	s.Start(t.Context())
	t.Cleanup(func() { _ = s.Stop(wait) })
	check("started", JobState{Next: at(1)})

	e := s.entries["orders"]
	s.fire(e, at(0)) // one failure skips no tick
	clock.Set(at(0).Add(30 * time.Minute))
	check("after one failure", JobState{Next: at(1)})
	s.fire(e, at(1)) // a second one skips one: the job waits until 03:00
	clock.Set(at(1).Add(30 * time.Minute))
	check("backing off", JobState{Next: at(3), BackoffUntil: at(3)})
	clock.Set(at(3))
	check("backoff over", JobState{Next: at(4)})

	failing = false
	if err := s.Trigger("orders"); err != nil {
		t.Fatal(err)
	}
	receive(t, entered, "triggered run")
	check("running", JobState{Running: true, Next: at(4)})
	close(release)

	if err := s.Stop(wait); err != nil {
		t.Fatal(err)
	}
	check("stopped", JobState{})
	s.Remove("orders")
	if _, ok := s.Status("orders"); ok {
		t.Errorf("Status of a removed job reports ok")
	}
}

// TestStatusEvery: an @every job's next time is cron's, which counts from
// the job's last activation, pushed past a backoff like any other.
func TestStatusEvery(t *testing.T) {
	s := New(discard, Options{})
	if err := s.Add(Entry{Name: "orders", Schedule: "@every 1h", Run: nop}); err != nil {
		t.Fatal(err)
	}
	s.Start(t.Context())
	t.Cleanup(func() { _ = s.Stop(wait) })
	e := s.entries["orders"]
	next := s.cron.Entry(e.id).Next
	if got, _ := s.Status("orders"); got.Next != next || next.IsZero() {
		t.Errorf("Next = %v, want cron's %v", got.Next, next)
	}
	e.pace.mu.Lock()
	e.pace.notBefore = next.Add(90 * time.Minute)
	e.pace.mu.Unlock()
	if got, _ := s.Status("orders"); got.Next != next.Add(2*time.Hour) || got.BackoffUntil != next.Add(90*time.Minute) {
		t.Errorf("Status = %+v, want Next %v and BackoffUntil %v", got, next.Add(2*time.Hour), next.Add(90*time.Minute))
	}
}
