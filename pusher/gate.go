package pusher

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-retryablehttp"
	"golang.org/x/time/rate"
)

// DefaultConcurrency is how many lanes of a destination deliver at once
// when the destination sets no Concurrency.
const DefaultConcurrency = 4

// gate is what the lanes of one destination share: the concurrency slots,
// the rate limiter, the event types it takes, its success codes and its
// pause. Each destination has its own, so a slow, failing or paused
// destination holds back only its own lanes.
type gate struct {
	name    string
	slots   chan struct{} // a lane holds one while a request of it is on the wire
	limiter *rate.Limiter // nil: no rate limit
	types   map[string]bool
	success []int

	waiting atomic.Int64 // lanes waiting for a slot
	onWait  func()       // called as a lane starts waiting for a slot (tests)

	mu      sync.Mutex
	resumed chan struct{} // nil: running; else closed when the destination is resumed
}

// newGate checks the lane settings of d (the request shape is checked by
// newDestination) and builds its gate.
func newGate(d *Destination) (*gate, error) {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("destination %q: "+format, append([]any{d.Name}, args...)...))
	}
	g := &gate{name: d.Name, success: slices.Clone(d.SuccessCodes)}
	conc := d.Concurrency
	switch {
	case conc == 0:
		conc = DefaultConcurrency
	case conc < 0:
		fail("concurrency %d is below 1", conc)
	}
	g.slots = make(chan struct{}, max(conc, 1))
	switch r := d.RateLimit; {
	case r < 0 || math.IsNaN(r) || math.IsInf(r, 0):
		fail("rate_limit %v is not a positive number of requests per second", r)
	case r > 0:
		// A burst of one: requests are spread evenly, never bunched, which
		// is what a receiver that counts per second expects.
		g.limiter = rate.NewLimiter(rate.Limit(r), 1)
	}
	for _, c := range d.SuccessCodes {
		if c < 100 || c > 599 {
			fail("success code %d is not an HTTP status (100-599)", c)
		}
	}
	if len(d.Events) > 0 {
		g.types = make(map[string]bool, len(d.Events))
		for _, t := range d.Events {
			if t == "" {
				fail("events lists an empty event type")
			}
			g.types[t] = true
		}
	}
	if d.Batch.MaxEvents < 0 {
		fail("batch max_events %d is negative", d.Batch.MaxEvents)
	}
	if d.Batch.MaxWait < 0 {
		fail("batch max_wait %s is negative", d.Batch.MaxWait)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return g, nil
}

// wants reports whether the destination receives events of type typ.
// Events of other types are skipped: acked without being sent, since the
// job's log is shared by all its lanes and each lane only moves its cursor.
func (g *gate) wants(typ string) bool { return g.types == nil || g.types[typ] }

// outcome applies the destination's success codes to a delivery result.
func (g *gate) outcome(res result) outcome { return decide(res.status, g.success) }

// acquire takes a concurrency slot, waiting for one; it reports false when
// ctx ends first, or when the destination is paused by the time it has one.
func (g *gate) acquire(ctx context.Context) bool {
	select {
	case g.slots <- struct{}{}:
	default:
		g.waiting.Add(1)
		if g.onWait != nil {
			g.onWait()
		}
		select {
		case g.slots <- struct{}{}:
			g.waiting.Add(-1)
		case <-ctx.Done():
			g.waiting.Add(-1)
			return false
		}
	}
	if g.pausedCh() != nil {
		g.release()
		return false
	}
	return true
}

func (g *gate) release() { <-g.slots }

// pausedCh returns nil while the destination runs, and while it is paused a
// channel that is closed when it is resumed.
func (g *gate) pausedCh() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.resumed
}

func (g *gate) pause() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.resumed == nil {
		g.resumed = make(chan struct{})
	}
}

func (g *gate) resume() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.resumed != nil {
		close(g.resumed)
		g.resumed = nil
	}
}

// limitedTransport takes a token of the destination's rate limiter for
// every request it sends, except the first try of an attempt, for which
// the lane waited already: waiting here would count against the attempt's
// timeout. So the quick in-process retries of an attempt are paced too.
type limitedTransport struct {
	http.RoundTripper
	limiter *rate.Limiter
}

// paidKey marks a request context whose first try has its token already;
// its value is an *atomic.Bool that the first try clears.
type paidKey struct{}

func (t limitedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if paid, ok := r.Context().Value(paidKey{}).(*atomic.Bool); !ok || !paid.CompareAndSwap(true, false) {
		if err := t.limiter.Wait(r.Context()); err != nil {
			return nil, err
		}
	}
	return t.RoundTripper.RoundTrip(r)
}

// withPaidToken returns ctx marked for limitedTransport.
func withPaidToken(ctx context.Context) context.Context {
	paid := new(atomic.Bool)
	paid.Store(true)
	return context.WithValue(ctx, paidKey{}, paid)
}

// skipSuccessRetries keeps go-retryablehttp from retrying, in process, an
// answer that the destination counts as a success (a 503 listed in its
// success codes is an answer, not a failure to get one).
func skipSuccessRetries(c *retryablehttp.Client, success []int) {
	if len(success) == 0 {
		return
	}
	check := c.CheckRetry
	c.CheckRetry = func(ctx context.Context, resp *http.Response, err error) (bool, error) {
		if err == nil && resp != nil && slices.Contains(success, resp.StatusCode) {
			return false, nil
		}
		return check(ctx, resp, err)
	}
}
