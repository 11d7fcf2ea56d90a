package pusher

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultRetry is the retry schedule used for every zero field of a
// destination's RetryPolicy.
var DefaultRetry = RetryPolicy{
	InitialInterval: 5 * time.Second,
	MaxInterval:     time.Hour,
	MaxAttempts:     15,
	MaxAge:          72 * time.Hour,
}

// withDefaults fills the zero fields of p from DefaultRetry and keeps the
// interval bounds ordered.
func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.InitialInterval <= 0 {
		p.InitialInterval = DefaultRetry.InitialInterval
	}
	if p.MaxInterval <= 0 {
		p.MaxInterval = DefaultRetry.MaxInterval
	}
	if p.MaxInterval < p.InitialInterval {
		p.MaxInterval = p.InitialInterval
	}
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultRetry.MaxAttempts
	}
	if p.MaxAge <= 0 {
		p.MaxAge = DefaultRetry.MaxAge
	}
	return p
}

// outcome is what one delivery attempt means for the event.
type outcome int

const (
	delivered  outcome = iota // acknowledged: move the lane on
	retryLater                // keep the event at the head and schedule another attempt
	gone                      // 410 Gone: keep the event and pause the whole destination
)

func (o outcome) String() string {
	switch o {
	case delivered:
		return "delivered"
	case gone:
		return "pause"
	}
	return "retry"
}

// classify decides what a delivery result means. Only 2xx is delivered.
// Everything else is retried later, 4xx included: a misconfigured receiver
// (401 after a secret rotation, 404 during a deploy) can be fixed, so nothing
// is dropped before the destination's max attempts or max age. Redirects
// are not followed, so 3xx is a failure too.
func classify(status int, err error) outcome {
	if err == nil && status >= 200 && status <= 299 {
		return delivered
	}
	return retryLater
}

// decide is the whole decision on an answer, given the destination's
// success codes: 2xx or a listed code is delivered; 410 Gone, unless listed,
// pauses the destination, since a receiver that says it is gone for good
// would otherwise take a full retry schedule, then a dead letter, for every
// event of every lane; anything else, and no answer at all (status 0), is
// retried later as classify says.
func decide(status int, success []int) outcome {
	switch {
	case status == 0:
		return retryLater
	case slices.Contains(success, status):
		return delivered
	case status == http.StatusGone:
		return gone
	}
	return classify(status, nil)
}

// retryInProcess is the go-retryablehttp CheckRetry decision: a few quick
// retries absorb a dropped connection or a receiver restarting, and only
// for transport errors, 429 and 5xx. A Retry-After longer than the
// in-process cap is left to the durable schedule rather than slept on.
func retryInProcess(status int, err error, retryAfter time.Duration, hasRetryAfter bool, maxWait time.Duration) bool {
	if err != nil {
		return true
	}
	if status != http.StatusTooManyRequests && (status < 500 || status > 599) {
		return false
	}
	return !hasRetryAfter || retryAfter <= maxWait
}

// checkRetry adapts retryInProcess to go-retryablehttp. A cancelled or
// expired request context ends the attempt at once: the pusher is shutting
// down or the drain grace period is over. Once shutdown has begun no further
// in-process retry starts either, so a drain ends with the first answer.
func checkRetry(maxWait time.Duration, now func() time.Time) func(ctx context.Context, resp *http.Response, err error) (bool, error) {
	return func(ctx context.Context, resp *http.Response, err error) (bool, error) {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return false, ctxErr
		}
		if stopping, ok := ctx.Value(stoppingKey{}).(<-chan struct{}); ok {
			select {
			case <-stopping:
				return false, nil
			default:
			}
		}
		status, after, hasAfter := 0, time.Duration(0), false
		if resp != nil {
			status = resp.StatusCode
			after, hasAfter = parseRetryAfter(status, resp.Header, now())
		}
		return retryInProcess(status, err, after, hasAfter, maxWait), nil
	}
}

// stoppingKey carries Run's done channel in request contexts, for checkRetry.
type stoppingKey struct{}

// parseRetryAfter reads a Retry-After header (delay seconds or an HTTP date)
// from a 429 or 503 answer; other statuses do not carry a meaningful one.
// A date in the past means "now".
func parseRetryAfter(status int, h http.Header, now time.Time) (time.Duration, bool) {
	if status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable {
		return 0, false
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(maxDuration/time.Second) {
			return maxDuration, true
		}
		return time.Duration(secs) * time.Second, true
	}
	at, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(at.Sub(now), 0), true
}

const maxDuration = time.Duration(1<<63 - 1)

// backoff is the delay before the next attempt after the attempts-th
// consecutive failure (attempts >= 1): exponential with full jitter, a
// uniformly random delay in [0, min(initial·2^(attempts-1), max)]. A
// Retry-After from the receiver replaces it, capped at max. randN returns a
// uniform value in [0, n), like math/rand/v2.Int64N.
func backoff(initial, maxInterval time.Duration, attempts int, retryAfter time.Duration, hasRetryAfter bool, randN func(int64) int64) time.Duration {
	if hasRetryAfter {
		return min(retryAfter, maxInterval)
	}
	ceiling := min(initial, maxInterval)
	for i := 1; i < attempts && ceiling < maxInterval; i++ {
		if ceiling > maxInterval/2 {
			ceiling = maxInterval // doubling would pass the cap (or overflow)
			break
		}
		ceiling *= 2
	}
	if ceiling <= 0 {
		return 0
	}
	if ceiling == maxDuration {
		return time.Duration(randN(int64(ceiling)))
	}
	return time.Duration(randN(int64(ceiling) + 1))
}
