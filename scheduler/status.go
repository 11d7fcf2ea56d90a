package scheduler

import (
	"time"

	"github.com/robfig/cron/v3"
)

// JobState is the scheduler's view of one job, for the admin API and the
// status page.
type JobState struct {
	// Running is true while a run of the job is claimed: polling, or
	// waiting for its jitter, a concurrency slot or its host's token.
	Running bool
	// Next is when the job next polls on its schedule, jitter not
	// included: the first tick that its backoff does not skip. Zero once
	// the scheduler has stopped.
	Next time.Time
	// BackoffUntil is set while the job backs off after failed polls or a
	// Retry-After: its ticks before that time are skipped. Zero when the
	// next tick runs, and once the scheduler has stopped.
	BackoffUntil time.Time
}

// maxSkippedTicks bounds the ticks Status steps over to find the first one
// a backoff lets run; a backoff is capped at 10 intervals by default.
const maxSkippedTicks = 10000

// Status returns the state of the named job; ok is false for a job never
// added or since removed.
func (s *Scheduler) Status(name string) (st JobState, ok bool) {
	s.mu.Lock()
	e, ok := s.entries[name]
	state := s.state
	st.Running = s.running[name]
	s.mu.Unlock()
	if !ok {
		return JobState{}, false
	}
	if state == stopped {
		return st, true
	}
	now := s.now()
	next := e.schedule.Next(now.In(s.loc))
	if _, every := e.schedule.(cron.ConstantDelaySchedule); every && state == started {
		// An @every schedule counts from its last activation, which only
		// cron knows; a cron expression's next time depends on the clock
		// alone, which Options.Now tells.
		next = s.cron.Entry(e.id).Next
	}
	e.pace.mu.Lock()
	notBefore := e.pace.notBefore
	e.pace.mu.Unlock()
	// A backoff that skips no tick (after a single failure, say) is not
	// worth showing.
	if !next.IsZero() && next.Before(notBefore) {
		st.BackoffUntil = notBefore
	}
	for i := 0; i < maxSkippedTicks && !next.IsZero() && next.Before(notBefore); i++ {
		next = e.schedule.Next(next)
	}
	st.Next = next
	return st, true
}
