package scheduler

import (
	"errors"
	"sync"
	"time"

	"github.com/pollhook/pollhook/poller"
)

// A job whose source keeps failing backs off: cron keeps firing, and the
// job skips its ticks until a not-before time. After n failures in a row
// of the tick scheduled at t, the next tick that runs is the first at or
// after t + gap × 2^(n-1), gap being the time from t to the tick after it,
// capped at Entry.BackoffMax. So the first failure skips nothing, the
// second skips one tick, the third three, and so on up to the cap; a
// Retry-After (on a 429 or 503) pushes the time further when it asks for
// more, capped the same. The first successful poll puts the job back on
// its schedule. A manual Trigger is not held back, since someone asked
// for that poll; its outcome counts like any other.
//
// Failures that are not the source's (a cancelled poll, a store error)
// neither count nor reset the count. The state lives in memory: after a
// restart a job polls at once, as every job does at start-up.

// pace is a job's backoff and missed-tick state.
type pace struct {
	mu        sync.Mutex
	failures  int       // source failures in a row
	notBefore time.Time // ticks scheduled before it are skipped
	logged    waitKey   // the backoff last logged; zero: none since the last success
	missed    int       // ticks missed for want of a slot or token since the last run
}

// waitKey identifies a backoff as logged, so that a job failing at its
// ceiling logs its backoff once rather than at every poll.
type waitKey struct {
	delay, retryAfter time.Duration
}

// holds reports whether the tick scheduled at at must be skipped.
func (p *pace) holds(at time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return at.Before(p.notBefore)
}

// backoffDelay is gap × 2^(failures-1), at most ceiling.
func backoffDelay(gap time.Duration, failures int, ceiling time.Duration) time.Duration {
	d := gap
	for i := 1; i < failures && d < ceiling; i++ {
		d *= 2
	}
	return min(d, ceiling)
}

// sourceFailure reports whether a failed poll's reason (see
// FailureReason) blames the source: a cancelled poll or a store that
// could not commit says nothing about it.
func sourceFailure(reason string) bool {
	return reason != string(poller.ReasonCanceled) && reason != "store"
}

// settle records the outcome of the run of e scheduled at at, next being
// the tick after it, and sets when the job may poll again.
func (s *Scheduler) settle(e *entry, at, next time.Time, out Outcome) {
	reason := out.Reason
	if out.Err != nil && reason == "" {
		reason = FailureReason(out.Err)
	}
	p := &e.pace
	p.mu.Lock()
	defer p.mu.Unlock()
	if out.Err == nil {
		if p.logged != (waitKey{}) {
			s.logger.Info("source answered again; back on schedule", "job", e.Name, "failures", p.failures)
		}
		p.failures, p.notBefore, p.logged = 0, time.Time{}, waitKey{}
		return
	}
	if !sourceFailure(reason) {
		return
	}
	p.failures++
	key := waitKey{delay: backoffDelay(next.Sub(at), p.failures, e.BackoffMax)}
	p.notBefore = at.Add(key.delay)
	if perr, ok := errors.AsType[*poller.Error](out.Err); ok && perr.RetryAfter > 0 {
		key.retryAfter = min(perr.RetryAfter, e.BackoffMax)
		if until := s.now().Add(key.retryAfter); until.After(p.notBefore) {
			p.notBefore = until
		}
	}
	if p.notBefore.After(next) && key != p.logged {
		args := []any{"job", e.Name, "failures", p.failures, "reason", reason, "until", p.notBefore.Format(time.RFC3339)}
		if key.retryAfter > 0 {
			args = append(args, "retry_after", key.retryAfter)
		}
		s.logger.Warn("source failing; backing off", args...)
		p.logged = key
	}
}

// skip reports a tick that does not run.
func (s *Scheduler) skip(e *entry, reason string) {
	if s.skipped != nil {
		s.skipped(e.Name, reason)
	}
}

// miss reports a run given up for want of a slot or a token. The first of
// a series is a warning; the others are counted (Options.Skipped) and
// summed up once a run goes through again, so that an overloaded pollhook
// does not also flood its log.
func (s *Scheduler) miss(e *entry, reason string, scheduled bool) {
	s.skip(e, reason)
	p := &e.pace
	p.mu.Lock()
	p.missed++
	first := p.missed == 1
	p.mu.Unlock()
	what := "a tick"
	if !scheduled {
		what = "a triggered poll"
	}
	msg := "skipped " + what + ": no free slot (limits.max_concurrent_polls) before the job's next tick"
	if reason == SkipHostRate {
		msg = "skipped " + what + ": the source host's rate (limits.per_host) allows no poll before the job's next tick"
	}
	if first {
		s.logger.Warn(msg, "job", e.Name)
	} else {
		s.logger.Debug(msg, "job", e.Name)
	}
}

// resume notes that a run of e goes through, after missed ones if any.
func (s *Scheduler) resume(e *entry) {
	p := &e.pace
	p.mu.Lock()
	missed := p.missed
	p.missed = 0
	p.mu.Unlock()
	if missed > 0 {
		s.logger.Info("polling again after missed ticks", "job", e.Name, "missed", missed)
	}
}
