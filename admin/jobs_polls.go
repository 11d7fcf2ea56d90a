package admin

import (
	"sync"
	"time"

	"github.com/pollhook/pollhook/scheduler"
)

// Polls records, in memory, the outcome of each job's last poll for the
// jobs API and the status page. Its ObservePoll is a scheduler.Pipeline
// Observe hook, which the daemon chains with Metrics.ObservePoll. It is
// keyed by job name, so one Polls can outlive a configuration reload; a
// restart forgets it (the store keeps no poll outcomes, only their commits).
type Polls struct {
	now  func() time.Time
	mu   sync.Mutex
	jobs map[string]PollRecord
}

// PollRecord is what Polls knows of one job's polls.
type PollRecord struct {
	At       time.Time     // when the last poll ended
	Duration time.Duration // how long it took
	Result   string        // scheduler.ResultFailed, ResultChanged, ...
	Reason   string        // why it failed (scheduler.FailureReason); "" when it did not
	Err      string        // its error, URLs redacted; "" when it did not fail
	Failures int           // failed polls in a row, the last one included
	// ChangedAt is when a poll last committed change events (zero: none
	// since the start).
	ChangedAt time.Time
}

// NewPolls returns an empty recorder whose times come from now (nil:
// time.Now).
func NewPolls(now func() time.Time) *Polls {
	if now == nil {
		now = time.Now
	}
	return &Polls{now: now, jobs: make(map[string]PollRecord)}
}

// ObservePoll records one tick's outcome.
func (p *Polls) ObservePoll(o scheduler.Outcome) {
	at := p.now().UTC()
	var errText string
	if o.Err != nil {
		// Poll errors are redacted where they are made; this is the net
		// under that, for an answer that anyone with the token reads.
		errText = redactURLs(o.Err.Error())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.jobs[o.Job]
	r.At, r.Duration, r.Result, r.Reason, r.Err = at, o.Duration, o.Result, o.Reason, errText
	if o.Err != nil {
		r.Failures++
	} else {
		r.Failures = 0
	}
	if o.Result == scheduler.ResultChanged {
		r.ChangedAt = at
	}
	p.jobs[o.Job] = r
}

// Last returns what is known of the job's polls; ok is false when none
// was observed.
func (p *Polls) Last(job string) (r PollRecord, ok bool) {
	if p == nil {
		return PollRecord{}, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok = p.jobs[job]
	return r, ok
}

// Forget drops what is known of jobs a reload removed.
func (p *Polls) Forget(jobs ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, j := range jobs {
		delete(p.jobs, j)
	}
}
