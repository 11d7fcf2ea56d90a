package pusher

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/pollhook/pollhook/store"
)

// A lane delivers the events of one job to one destination, strictly in
// order: the event (or batch) at its head is sent until it is delivered,
// dead-lettered or the destination is paused, and only then the next. What
// it sends comes from two places, read in this order:
//
//  1. its queue of redeliveries (dead letters retried, replays), oldest
//     event first, one event per request, each with its own retry state;
//  2. the job's log from its cursor on, one event per request or, when the
//     destination batches, up to Batch.MaxEvents per request.
//
// Events of types the destination does not take are skipped: acked as if
// delivered. Deliveries are acked in the background (see acker), so the
// lane's position in memory runs ahead of its stored cursor; failures are
// recorded synchronously, after the acks before them.

// laneRun is one running lane, owned by its goroutine: nothing else moves
// the lane's cursor or writes its retry state while it runs.
type laneRun struct {
	p    *Pusher
	l    *lane
	acks *acker

	loaded bool            // next and retry were read from the store
	next   uint64          // sequence number of the next event of the log to send
	retry  store.LaneState // retry state of the event (or batch) at next
}

// head is what one request carries, with the retry state it has so far.
type head struct {
	events   []store.Event     // sent in one request
	last     uint64            // for the log: the last sequence number the request settles (skipped events included)
	redo     *store.Redelivery // set when the event comes from the queue
	attempts int               // failed attempts so far
	first    time.Time         // first attempt (zero: none yet)
}

// runLane is the loop of one lane; it returns once ctx is done and the
// acks of what it delivered are written.
func (p *Pusher) runLane(ctx, sendCtx context.Context, l *lane) {
	r := &laneRun{p: p, l: l}
	r.acks = newAcker(p.st, l.dest.Name, l.job, func(what string, err error) { p.storeFailed(l, what, err) })
	var acking sync.WaitGroup
	acking.Go(r.acks.run)
	l.acks.Store(r.acks)
	defer func() {
		r.acks.close()
		acking.Wait()
	}()
	for ctx.Err() == nil {
		if !r.step(ctx, sendCtx) {
			// A store operation failed: back off, then read the lane's
			// state again rather than trust what is in memory.
			r.loaded = false
			if !sleep(ctx, storeRetryDelay) {
				return
			}
		}
	}
}

// step does one round of the lane and reports false after a store error.
func (r *laneRun) step(ctx, sendCtx context.Context) bool {
	l := r.l
	if resumed := l.gate.pausedCh(); resumed != nil {
		_ = r.acks.flush() // a failure is logged, and retried by the acker
		select {
		case <-resumed:
		case <-ctx.Done():
		}
		return true
	}
	if !r.loaded {
		if r.acks.flush() != nil {
			return false
		}
		st, err := r.p.st.Lane(l.dest.Name, l.job)
		if err != nil {
			r.p.storeFailed(l, "read lane state", err)
			return false
		}
		if st.Cursor == 0 {
			// No lane stored yet: the first commit that names the
			// destination creates it, and wakes the lane.
			r.idle(ctx)
			return true
		}
		r.next, r.retry, r.loaded = st.Cursor, st, true
	}
	if l.queued.Load() {
		if ok, handled := r.redeliver(ctx, sendCtx); !ok || handled {
			return ok
		}
	}
	// The head's retry schedule comes first: new events queue behind it.
	if at := r.retry.NextAttempt; !at.IsZero() {
		if wait := at.Sub(r.p.opts.Now()); wait > 0 {
			r.wait(ctx, wait)
			return true
		}
	}
	events, err := r.p.st.Events(l.job, r.next, r.readLimit())
	if err != nil {
		r.p.storeFailed(l, "read pending events", err)
		return false
	}
	if len(events) == 0 {
		r.idle(ctx)
		return true
	}
	if l.dest.batched() {
		return r.sendBatch(ctx, sendCtx, events)
	}
	return r.sendEach(ctx, sendCtx, events)
}

// readLimit is how many events of the log a lane reads at once.
func (r *laneRun) readLimit() int {
	return max(r.p.opts.BatchSize, r.l.dest.Batch.MaxEvents)
}

// idle waits for a wake-up or the end of ctx.
func (r *laneRun) idle(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-r.l.wake:
	}
}

// wait waits for d, a wake-up (a redelivery may have been queued) or the
// end of ctx.
func (r *laneRun) wait(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-r.l.wake:
	case <-t.C:
	}
}

// passed moves the lane past seq, delivered or skipped.
func (r *laneRun) passed(seq uint64) {
	r.acks.delivered(seq)
	r.next, r.retry = seq+1, store.LaneState{}
}

// sendEach delivers events one per request until one fails, the events
// are done, the destination is paused or shutdown begins.
func (r *laneRun) sendEach(ctx, sendCtx context.Context, events []store.Event) bool {
	g := r.l.gate
	for _, ev := range events {
		if ctx.Err() != nil || g.pausedCh() != nil {
			return true // no new delivery once shutdown has begun
		}
		if !g.wants(ev.Type) {
			r.passed(ev.Seq)
			continue
		}
		h := &head{events: []store.Event{ev}, last: ev.Seq, attempts: r.retry.Attempts, first: r.retry.FirstAttempt}
		if ok, sent := r.send(ctx, sendCtx, h); !ok || !sent {
			return ok
		}
	}
	return true
}

// sendBatch gathers up to Batch.MaxEvents events the destination takes,
// starting with events, waiting up to Batch.MaxWait for more while the
// batch is not full, and sends them in one request. A batch whose attempts
// failed is sent again exactly as it was (LaneState.BatchLast), so that its
// webhook-id keeps naming the same events; a retry does not wait.
func (r *laneRun) sendBatch(ctx, sendCtx context.Context, events []store.Event) bool {
	d, g := r.l.dest, r.l.gate
	pinned := r.retry.BatchLast
	h := &head{attempts: r.retry.Attempts, first: r.retry.FirstAttempt}
	// take adds events to the batch and reports whether it can take more.
	take := func(events []store.Event) bool {
		for _, ev := range events {
			if pinned > 0 && ev.Seq > pinned {
				return false
			}
			if g.wants(ev.Type) {
				if len(h.events) == d.Batch.MaxEvents {
					return false
				}
				h.events = append(h.events, ev)
			}
			h.last = ev.Seq
		}
		return len(h.events) < d.Batch.MaxEvents && (pinned == 0 || h.last < pinned)
	}
	more := take(events)
	for more && len(events) == r.readLimit() {
		var err error
		if events, err = r.p.st.Events(r.l.job, h.last+1, r.readLimit()); err != nil {
			r.p.storeFailed(r.l, "read pending events", err)
			return false
		}
		more = take(events)
	}
	if more && pinned == 0 && d.Batch.MaxWait > 0 {
		t := time.NewTimer(d.Batch.MaxWait)
		defer t.Stop()
		for more {
			select {
			case <-ctx.Done():
				return true // not sent: gathered again after the restart
			case <-t.C:
				more = false
			case <-r.l.wake:
				events, err := r.p.st.Events(r.l.job, h.last+1, r.readLimit())
				if err != nil {
					r.p.storeFailed(r.l, "read pending events", err)
					return false
				}
				more = take(events)
			}
		}
	}
	if len(h.events) == 0 {
		r.passed(h.last) // nothing the destination takes
		return true
	}
	if pinned == 0 && !r.pin(h) {
		return false
	}
	ok, _ := r.send(ctx, sendCtx, h)
	return ok
}

// pin records which events the new batch h holds before its first attempt,
// so that whatever happens to the request (the process may die while the
// receiver accepts it), the batch is sent again with the same events and
// therefore the same webhook-id, which is what receivers dedupe by.
func (r *laneRun) pin(h *head) bool {
	if r.acks.flush() != nil {
		return false
	}
	st := store.LaneState{Destination: r.l.dest.Name, Job: r.l.job, Cursor: r.next, BatchLast: h.last}
	if err := r.p.st.SetRetry(st); err != nil {
		r.p.storeFailed(r.l, "record batch of event "+h.events[0].ID, err)
		return false
	}
	r.retry = st
	return true
}

// redeliver sends the lane's queued redeliveries, in event order, one per
// request. It reports handled=false when the queue is empty, and ok=false
// after a store error.
func (r *laneRun) redeliver(ctx, sendCtx context.Context) (ok, handled bool) {
	l := r.l
	// Deliveries of the queue recorded but not written would be read again.
	if r.acks.flush() != nil {
		return false, true
	}
	// Cleared before the read: a redelivery queued meanwhile sets it again.
	l.queued.Store(false)
	rs, err := r.p.st.Redeliveries(l.dest.Name, l.job, r.p.opts.BatchSize)
	if err != nil {
		l.queued.Store(true)
		r.p.storeFailed(l, "read queued redeliveries", err)
		return false, true
	}
	if len(rs) == 0 {
		return true, false
	}
	l.queued.Store(true) // read on until the queue is empty
	for i := range rs {
		rd := &rs[i]
		if ctx.Err() != nil || l.gate.pausedCh() != nil {
			return true, true
		}
		if wait := rd.NextAttempt.Sub(r.p.opts.Now()); !rd.NextAttempt.IsZero() && wait > 0 {
			r.wait(ctx, wait)
			return true, true
		}
		if !l.gate.wants(rd.Event.Type) {
			r.acks.redelivered(*rd)
			continue
		}
		h := &head{events: []store.Event{rd.Event}, last: rd.Event.Seq, redo: rd, attempts: rd.Attempts, first: rd.FirstAttempt}
		if ok, sent := r.send(ctx, sendCtx, h); !ok || !sent {
			return ok, true
		}
	}
	return true, true
}

// send makes one attempt at h. It reports ok=false after a store error and
// sent=true when h was delivered; sent=false otherwise (failed, the
// destination paused, or shutdown began before or during the request).
func (r *laneRun) send(ctx, sendCtx context.Context, h *head) (ok, sent bool) {
	d := r.l.dest
	pl, err := d.render(h.events)
	if err != nil {
		// No later attempt can render it either: park it right away
		// rather than block the lane for the whole retry schedule.
		return r.dead(h, d.headID(h.events), h.attempts, 0, err.Error(), "event cannot be rendered"), false
	}
	start := r.p.opts.Now()
	res, tried := r.attempt(ctx, sendCtx, pl)
	if !tried || res.cancelled {
		return true, false // the head stays as it is, attempts unchanged
	}
	switch r.l.gate.outcome(res) {
	case delivered:
		r.observe(h, DeliveryDelivered, res.status, r.p.opts.Now().Sub(h.events[0].Time))
		if h.redo != nil {
			r.acks.redelivered(*h.redo)
		} else {
			r.passed(h.last)
		}
		return true, true
	case gone:
		r.observe(h, DeliveryPaused, res.status, 0)
		return r.pause(h, pl.id, start, res), false
	}
	r.observe(h, DeliveryFailed, res.status, 0)
	return r.failed(h, pl.id, start, res), false
}

// observe reports the outcome of a request of h (Options.Observe).
func (r *laneRun) observe(h *head, result string, status int, latency time.Duration) {
	r.p.opts.Observe(Delivery{Destination: r.l.dest.Name, Job: r.l.job, Result: result, Status: status,
		Events: len(h.events), Latency: latency})
}

// attempt sends pl once it has a concurrency slot of the destination and,
// with a rate limit, a token. It reports false when shutdown began or the
// destination was paused while it waited.
func (r *laneRun) attempt(ctx, sendCtx context.Context, pl payload) (result, bool) {
	g := r.l.gate
	if !g.acquire(ctx) {
		return result{}, false
	}
	defer g.release()
	if g.limiter != nil {
		if g.limiter.Wait(ctx) != nil {
			return result{}, false
		}
		sendCtx = withPaidToken(sendCtx)
	}
	return r.l.dest.deliver(sendCtx, pl, r.p.opts.UserAgent), true
}

// failed records a failed attempt of h: either its next attempt time or,
// once attempts or age are used up, its dead letters.
func (r *laneRun) failed(h *head, id string, start time.Time, res result) bool {
	if r.acks.flush() != nil {
		return false
	}
	d, now := r.l.dest, r.p.opts.Now()
	attempts := h.attempts + 1
	first := h.first
	if first.IsZero() {
		first = start
	}
	r.p.log.Warn("delivery failed", r.attrs(h, id, "attempt", attempts, "status", res.status, "reason", res.reason)...)

	switch oldest := h.events[0]; {
	case attempts >= d.policy.MaxAttempts:
		return r.dead(h, id, attempts, res.status, res.reason,
			fmt.Sprintf("max_attempts %d reached", d.policy.MaxAttempts))
	case now.Sub(oldest.Time) > d.policy.MaxAge:
		// Age counts from detection, not from the first attempt: behind a
		// receiver that is down for days, a queued backlog then ages out
		// together instead of each event starting a fresh retry cycle.
		return r.dead(h, id, attempts, res.status, res.reason,
			fmt.Sprintf("max_age %s exceeded (detected %s)", d.policy.MaxAge, oldest.Time.UTC().Format(time.RFC3339)))
	}
	delay := backoff(d.policy.InitialInterval, d.policy.MaxInterval, attempts, res.retryAfter, res.hasRetryAfter, r.p.opts.Rand)
	return r.setRetry(h, attempts, first, now.Add(delay), res)
}

// setRetry stores the retry state of h after a failed attempt.
func (r *laneRun) setRetry(h *head, attempts int, first, next time.Time, res result) bool {
	l := r.l
	if h.redo != nil {
		rd := *h.redo
		rd.Attempts, rd.FirstAttempt, rd.NextAttempt = attempts, first, next
		rd.LastStatus, rd.LastError = res.status, res.reason
		if err := r.p.st.SetRedeliveryRetry(rd); err != nil {
			r.p.storeFailed(l, "record retry of redelivered event "+rd.Event.ID, err)
			return false
		}
		return true // the next round reads the queue, and this state, again
	}
	st := store.LaneState{
		Destination:  l.dest.Name,
		Job:          l.job,
		Cursor:       r.next,
		Attempts:     attempts,
		FirstAttempt: first,
		NextAttempt:  next,
		LastStatus:   res.status,
		LastError:    res.reason,
	}
	if l.dest.batched() {
		st.BatchLast = h.last
	}
	if err := r.p.st.SetRetry(st); err != nil {
		// The attempt goes uncounted; the lane retries after storeRetryDelay.
		r.p.storeFailed(l, "record retry of event "+h.events[0].ID, err)
		return false
	}
	r.retry = st
	return true
}

// dead moves h's events off the lane with the last failure as their
// reason; why says which limit ended them.
func (r *laneRun) dead(h *head, id string, attempts, status int, reason, why string) bool {
	if r.acks.flush() != nil {
		return false
	}
	l, now := r.l, r.p.opts.Now()
	s := store.Settlement{Destination: l.dest.Name, Job: l.job}
	for _, ev := range h.events {
		s.Dead = append(s.Dead, store.DeadLetter{Destination: l.dest.Name, Event: ev, Attempts: attempts,
			LastStatus: status, LastError: reason, DeadAt: now})
	}
	if h.redo != nil {
		s.Redelivered = []store.Redelivery{*h.redo}
	} else {
		s.Ack = h.last
	}
	if err := r.p.st.Settle(s); err != nil {
		r.p.storeFailed(l, "dead-letter event "+h.events[0].ID, err)
		return false
	}
	if h.redo == nil {
		r.next, r.retry = h.last+1, store.LaneState{}
	}
	r.p.log.Error("event dead-lettered", r.attrs(h, id, "attempts", attempts, "status", status, "reason", reason, "why", why)...)
	r.observe(h, DeliveryDeadLettered, status, 0)
	return true
}

// pause handles a 410 Gone: the destination's lanes stop, in memory at
// once and in the store so that a restart does not resume them, until an
// operator resumes it. The attempt is counted; the head stays, to be sent
// right after the resumption.
func (r *laneRun) pause(h *head, id string, start time.Time, res result) bool {
	l := r.l
	l.gate.pause()
	err := r.p.st.PauseDestination(store.Pause{Destination: l.dest.Name, At: r.p.opts.Now(), Job: l.job,
		EventID: id, Status: res.status, Reason: res.reason})
	r.p.log.Error("destination paused: its receiver answered 410 Gone; resume it to deliver again",
		r.attrs(h, id, "status", res.status, "reason", res.reason)...)
	if err != nil {
		r.p.storeFailed(l, "record pause", err)
		return false
	}
	if r.acks.flush() != nil {
		return false
	}
	first := h.first
	if first.IsZero() {
		first = start
	}
	return r.setRetry(h, h.attempts+1, first, time.Time{}, res)
}

// headID is the webhook-id of a request carrying events (see render).
func (d *destination) headID(events []store.Event) string {
	if d.batched() {
		return batchID(events)
	}
	return events[0].ID
}

// attrs are the log attributes naming the lane and what h carries,
// followed by more.
func (r *laneRun) attrs(h *head, id string, more ...any) []any {
	a := []any{"destination", r.l.dest.Name, "job", r.l.job}
	if r.l.dest.batched() {
		a = append(a, "batch_id", id, "events", len(h.events))
	} else {
		a = append(a, "event_id", id)
	}
	if h.redo != nil {
		a = append(a, "redelivery", true)
	}
	return append(a, more...)
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
