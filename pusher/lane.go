package pusher

import (
	"context"
	"fmt"
	"time"

	"github.com/pollhook/pollhook/store"
)

// runLane is the loop of one lane. It owns the lane's state in the store:
// nothing else moves its cursor while it runs, so the state read at the top
// of each round stays true until this goroutine changes it.
func (p *Pusher) runLane(ctx, sendCtx context.Context, l *lane) {
	name, job := l.dest.Name, l.job
	for ctx.Err() == nil {
		st, err := p.st.Lane(name, job)
		if err != nil {
			p.storeFailed(l, "read lane state", err)
			if !sleep(ctx, storeRetryDelay) {
				return
			}
			continue
		}
		// The head's retry schedule comes first: new events queue behind it.
		if !st.NextAttempt.IsZero() {
			if wait := st.NextAttempt.Sub(p.opts.Now()); wait > 0 {
				if !sleep(ctx, wait) {
					return
				}
				continue
			}
		}
		events, err := p.st.Pending(name, job, p.opts.BatchSize)
		if err != nil {
			p.storeFailed(l, "read pending events", err)
			if !sleep(ctx, storeRetryDelay) {
				return
			}
			continue
		}
		if len(events) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-l.wake:
			}
			continue
		}
		if !p.sendBatch(ctx, sendCtx, l, st, events) {
			// A store write failed: back off before reading the state again.
			if !sleep(ctx, storeRetryDelay) {
				return
			}
		}
	}
}

// sendBatch delivers events in order until one fails, the batch is done or
// shutdown begins. st is the retry state of the first event. It reports
// false when a store write failed.
func (p *Pusher) sendBatch(ctx, sendCtx context.Context, l *lane, st store.LaneState, events []store.Event) bool {
	d := l.dest
	for _, ev := range events {
		if ctx.Err() != nil {
			return true // no new delivery once shutdown has begun
		}
		body, err := renderJSON(ev)
		if err != nil {
			// No later attempt can render it either: park it right away
			// rather than block the lane for the whole retry schedule.
			return p.deadLetter(l, ev, st.Attempts, 0, err.Error(), "event cannot be rendered")
		}
		start := p.opts.Now()
		res := d.deliver(sendCtx, ev, body, p.opts.UserAgent)
		if res.cancelled {
			return true // the event stays at the head, attempts unchanged
		}
		if res.outcome == delivered {
			if err := p.st.Ack(d.Name, l.job, ev.Seq); err != nil {
				// Delivered but not recorded: it will be sent again, which
				// at-least-once allows and webhook-id lets receivers dedupe.
				p.storeFailed(l, "ack event "+ev.ID, err)
				return false
			}
			st = store.LaneState{Destination: d.Name, Job: l.job, Cursor: ev.Seq + 1}
			continue
		}
		return p.failed(l, st, ev, start, res)
	}
	return true
}

// failed records a failed attempt of the lane's head event: either its next
// attempt time or, once attempts or age are used up, its dead letter.
func (p *Pusher) failed(l *lane, st store.LaneState, ev store.Event, start time.Time, res result) bool {
	d, now := l.dest, p.opts.Now()
	attempts := st.Attempts + 1
	first := st.FirstAttempt
	if first.IsZero() {
		first = start
	}
	p.log.Warn("delivery failed", "destination", d.Name, "job", l.job, "event_id", ev.ID,
		"attempt", attempts, "status", res.status, "reason", res.reason)

	switch {
	case attempts >= d.policy.MaxAttempts:
		return p.deadLetter(l, ev, attempts, res.status, res.reason,
			fmt.Sprintf("max_attempts %d reached", d.policy.MaxAttempts))
	case now.Sub(ev.Time) > d.policy.MaxAge:
		// Age counts from detection, not from the first attempt: behind a
		// receiver that is down for days, a queued backlog then ages out
		// together instead of each event starting a fresh retry cycle.
		return p.deadLetter(l, ev, attempts, res.status, res.reason,
			fmt.Sprintf("max_age %s exceeded (detected %s)", d.policy.MaxAge, ev.Time.UTC().Format(time.RFC3339)))
	}
	delay := backoff(d.policy.InitialInterval, d.policy.MaxInterval, attempts, res.retryAfter, res.hasRetryAfter, p.opts.Rand)
	err := p.st.SetRetry(store.LaneState{
		Destination:  d.Name,
		Job:          l.job,
		Cursor:       ev.Seq,
		Attempts:     attempts,
		FirstAttempt: first,
		NextAttempt:  now.Add(delay),
		LastStatus:   res.status,
		LastError:    res.reason,
	})
	if err != nil {
		// The attempt goes uncounted; the lane retries after storeRetryDelay.
		p.storeFailed(l, "record retry of event "+ev.ID, err)
		return false
	}
	return true
}

// deadLetter moves ev off the lane with the last failure as its reason;
// why says which limit ended it.
func (p *Pusher) deadLetter(l *lane, ev store.Event, attempts, status int, reason, why string) bool {
	d := l.dest
	err := p.st.DeadLetter(store.DeadLetter{
		Destination: d.Name,
		Event:       ev,
		Attempts:    attempts,
		LastStatus:  status,
		LastError:   reason,
		DeadAt:      p.opts.Now(),
	})
	if err != nil {
		p.storeFailed(l, "dead-letter event "+ev.ID, err)
		return false
	}
	p.log.Error("event dead-lettered", "destination", d.Name, "job", l.job, "event_id", ev.ID,
		"attempts", attempts, "status", status, "reason", reason, "why", why)
	return true
}

func (p *Pusher) storeFailed(l *lane, what string, err error) {
	p.log.Error("store error", "destination", l.dest.Name, "job", l.job, "op", what, "err", err)
}

// sleep waits for d or ctx, reporting whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
