package scheduler

import (
	"context"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limits are the load limits shared by all jobs: a cap on the runs in
// progress (a semaphore) and a token bucket per source host.
type limits struct {
	slots chan struct{} // a run holds one while it runs; nil: no cap
	rate  rate.Limit    // 0: no per-host limit
	burst int

	mu    sync.Mutex
	hosts map[string]*rate.Limiter

	// blocked, when not nil, is called when a run starts to wait for a
	// token (SkipHostRate) or a slot (SkipConcurrency); tests use it to
	// know a run is waiting without sleeping.
	blocked func(what string)
}

// giveUpMargin is how long before its job's next tick a run stops waiting
// for a slot or a token, so that the tick finds the job free and waits in
// its turn instead of being skipped as still running.
const giveUpMargin = 20 * time.Millisecond

func newLimits(o Options) *limits {
	l := &limits{hosts: make(map[string]*rate.Limiter)}
	if o.MaxConcurrent > 0 {
		l.slots = make(chan struct{}, o.MaxConcurrent)
	}
	if o.HostRate > 0 {
		l.rate, l.burst = rate.Limit(o.HostRate), max(1, o.HostBurst)
	}
	return l
}

// host returns the token bucket of a host, shared by every job that polls
// it; nil when hosts are not limited or the host is "". Host names ignore
// case, as DNS does.
func (l *limits) host(name string) *rate.Limiter {
	if name == "" || l.rate == 0 {
		return nil
	}
	name = strings.ToLower(name)
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.hosts[name]
	if lim == nil {
		lim = rate.NewLimiter(l.rate, l.burst)
		l.hosts[name] = lim
	}
	return lim
}

// acquire waits, for at most budget, for a slot and a token of lim (nil:
// none needed). It returns the function that frees the slot, or the reason
// the run is skipped (SkipConcurrency, SkipHostRate), or neither when ctx
// ended or stopping closed first.
//
// It first waits until the host's bucket holds a token, without taking
// it: a job of a slow host must not sit on a slot others could use. Then
// it takes a slot, and only then the token, so that a run never starts
// later than its token allows and the host never sees more than its rate.
func (l *limits) acquire(ctx context.Context, lim *rate.Limiter, budget time.Duration, stopping <-chan struct{}) (func(), string) {
	if l.slots == nil && lim == nil {
		return func() {}, ""
	}
	deadline := time.Now().Add(budget - giveUpMargin)
	for lim != nil {
		now := time.Now()
		tokens := lim.TokensAt(now)
		if tokens >= 1 {
			break
		}
		d := time.Duration((1 - tokens) / float64(lim.Limit()) * float64(time.Second))
		if now.Add(d).After(deadline) {
			return nil, SkipHostRate
		}
		l.wait(SkipHostRate)
		if !pause(ctx, d, stopping) {
			return nil, ""
		}
	}
	release := func() {}
	if l.slots != nil {
		t := time.NewTimer(max(0, time.Until(deadline)))
		defer t.Stop()
		select {
		case l.slots <- struct{}{}:
		default:
			l.wait(SkipConcurrency)
			select {
			case l.slots <- struct{}{}:
			case <-t.C:
				return nil, SkipConcurrency
			case <-ctx.Done():
				return nil, ""
			case <-stopping:
				return nil, ""
			}
		}
		release = func() { <-l.slots }
	}
	if lim != nil {
		r := lim.Reserve()
		d := r.Delay()
		if time.Now().Add(d).After(deadline) {
			r.Cancel()
			release()
			return nil, SkipHostRate
		}
		if !pause(ctx, d, stopping) {
			r.Cancel()
			release()
			return nil, ""
		}
	}
	return release, ""
}

func (l *limits) wait(what string) {
	if l.blocked != nil {
		l.blocked(what)
	}
}

// pause waits d and reports true, or false when ctx ends or stopping
// closes first.
func pause(ctx context.Context, d time.Duration, stopping <-chan struct{}) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-stopping:
	}
	return false
}
