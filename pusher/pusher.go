// Package pusher delivers the events in the store's outbox to destinations:
// one ordered lane per destination × job, signed requests, durable retries.
package pusher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pollhook/pollhook/store"
)

// Destination is one webhook receiver.
type Destination struct {
	Name      string
	URL       string
	Method    string            // POST (default), PUT, PATCH, or GET (the form fields as a query string)
	Header    map[string]string // extra request headers; may set User-Agent, not webhook-*, Content-Type or signatures
	Secrets   []string          // signing secrets; several sign at once during rotation
	Signature string            // "standard" (default with a secret), "github" or "none"
	Format    string            // "json" (default), "xml" or "form"
	Timeout   time.Duration     // per attempt (default DefaultTimeout)
	Retry     RetryPolicy       // zero fields take DefaultRetry's

	// Template, when set, renders the whole body (Go text/template with a
	// json helper) and ContentType is its media type (default
	// application/json); a template with a Format other than json is refused.
	Template    string
	ContentType string
	// Concurrency is how many lanes of this destination may deliver at
	// once (default 4); RateLimit caps its requests per second (0: none).
	Concurrency int
	RateLimit   float64
	// SuccessCodes are status codes other than 2xx that count as delivered.
	SuccessCodes []int
	// Events, when not empty, are the event types this destination
	// receives; other events of its jobs are skipped.
	Events []string
	// Batch, when MaxEvents > 1, sends up to MaxEvents events of one lane
	// in one request as {"events": [...]}, waiting at most MaxWait for a
	// batch to fill.
	Batch BatchPolicy
}

// BatchPolicy groups several events of one lane into one request.
type BatchPolicy struct {
	MaxEvents int
	MaxWait   time.Duration
}

// RetryPolicy is the durable retry schedule of a destination: exponential
// backoff with full jitter from InitialInterval doubling up to MaxInterval;
// an event is dead-lettered when its failed attempts reach MaxAttempts or
// when it has been failing for longer than MaxAge.
type RetryPolicy struct {
	InitialInterval time.Duration
	MaxInterval     time.Duration
	MaxAttempts     int
	MaxAge          time.Duration
}

// DefaultTimeout is the per-attempt timeout of a destination that sets none.
const DefaultTimeout = 10 * time.Second

// Options tunes a Pusher; every zero field takes its default.
type Options struct {
	// UserAgent is sent with every request (default "pollhook"); the daemon
	// passes "pollhook/<version>".
	UserAgent string
	// DrainTimeout bounds how long an in-flight delivery may still take once
	// Run's context is done (default 5s). A delivery cut off by it is not
	// counted as an attempt: the event stays at the head of its lane.
	DrainTimeout time.Duration
	// BatchSize is how many pending events a lane reads from the store at
	// once (default 64).
	BatchSize int
	// RetryWaitMin and RetryWaitMax bound the waits between the quick
	// in-process retries of one attempt (defaults 100ms and 1s).
	RetryWaitMin time.Duration
	RetryWaitMax time.Duration
	// Now is the clock (default time.Now); tests step it.
	Now func() time.Time
	// Rand returns a uniform value in [0, n), the jitter source (default
	// math/rand/v2.Int64N); tests make it deterministic.
	Rand func(n int64) int64
	// Observe, when set, is told the outcome of every request and of every
	// dead-lettering (metrics). It must not block.
	Observe func(Delivery)
}

// Delivery is the outcome of one request of a lane, or of a dead-lettering.
type Delivery struct {
	Destination string
	Job         string
	Result      string // DeliveryDelivered, DeliveryFailed, DeliveryPaused or DeliveryDeadLettered
	Status      int    // the HTTP status (0: none, a transport error or a render failure)
	Events      int    // events the request carried (a batch: several)
	// Latency is, for a delivered request, the time from the detection of
	// its oldest event (the commit) to the receiver's answer.
	Latency time.Duration
}

// Delivery results.
const (
	DeliveryDelivered    = "delivered"
	DeliveryFailed       = "failed"
	DeliveryPaused       = "paused"
	DeliveryDeadLettered = "dead_lettered"
)

func (o Options) withDefaults() Options {
	if o.UserAgent == "" {
		o.UserAgent = "pollhook"
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = 5 * time.Second
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 64
	}
	if o.RetryWaitMin <= 0 {
		o.RetryWaitMin = 100 * time.Millisecond
	}
	if o.RetryWaitMax <= 0 {
		o.RetryWaitMax = time.Second
	}
	o.RetryWaitMax = max(o.RetryWaitMax, o.RetryWaitMin)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.Int64N
	}
	if o.Observe == nil {
		o.Observe = func(Delivery) {}
	}
	return o
}

// storeRetryDelay is how long a lane waits after a store error before it
// reads its state again; the store is local, so errors are rare and a slow
// steady retry keeps the log readable.
const storeRetryDelay = time.Second

// Pusher delivers the store's outbox: one goroutine per lane (destination ×
// job), each strictly in order, all in parallel.
type Pusher struct {
	st      store.Store
	log     *slog.Logger
	opts    Options
	lanes   []*lane
	byJob   map[string][]*lane
	gates   map[string]*gate // by destination name
	running atomic.Bool
}

// lane is one destination × job queue. wake holds at most one pending
// "look at the store again" signal, so Wake never blocks; queued says that
// its queue of redeliveries may hold something (the queue is read only
// then, not on every round).
type lane struct {
	dest   *destination
	gate   *gate
	job    string
	wake   chan struct{}
	queued atomic.Bool
	acks   atomic.Pointer[acker] // while the lane runs
}

// New validates the destinations and routes (job → destination names) and
// builds a Pusher; nothing runs until Run.
func New(st store.Store, dests []Destination, routes map[string][]string, logger *slog.Logger, opts Options) (*Pusher, error) {
	if st == nil {
		return nil, errors.New("pusher: nil store")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts = opts.withDefaults()
	p := &Pusher{st: st, log: logger, opts: opts, byJob: make(map[string][]*lane), gates: make(map[string]*gate)}

	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Many lanes often share one receiver host; keep their connections warm.
	tr.MaxIdleConnsPerHost = 32

	byName := make(map[string]*destination, len(dests))
	var errs []error
	for _, d := range dests {
		nd, err := newDestination(d, opts)
		g, gerr := newGate(&d)
		if err != nil || gerr != nil {
			errs = append(errs, err, gerr) // Join drops the nils
			continue
		}
		if _, dup := byName[d.Name]; dup {
			errs = append(errs, fmt.Errorf("destination %q: defined twice", d.Name))
			continue
		}
		var rt http.RoundTripper = tr
		if g.limiter != nil {
			rt = limitedTransport{RoundTripper: tr, limiter: g.limiter}
		}
		nd.newClient(rt, logger.With("destination", d.Name), opts)
		skipSuccessRetries(nd.client, g.success)
		byName[d.Name] = nd
		p.gates[d.Name] = g
	}

	jobs := make([]string, 0, len(routes))
	for job := range routes {
		jobs = append(jobs, job)
	}
	sort.Strings(jobs)
	for _, job := range jobs {
		seen := make(map[string]bool, len(routes[job]))
		for _, name := range routes[job] {
			d, ok := byName[name]
			switch {
			case seen[name]:
				errs = append(errs, fmt.Errorf("job %q: destination %q listed twice", job, name))
				continue
			case !ok:
				errs = append(errs, fmt.Errorf("job %q: unknown destination %q", job, name))
				continue
			}
			seen[name] = true
			l := &lane{dest: d, gate: p.gates[name], job: job, wake: make(chan struct{}, 1)}
			p.lanes = append(p.lanes, l)
			p.byJob[job] = append(p.byJob[job], l)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("pusher: %w", err)
	}
	return p, nil
}

// reservedHeaders are set by the pusher itself; Destination.Header may not
// replace them (webhook-* is reserved as a whole, see isReserved).
var reservedHeaders = []string{"Content-Type", "Content-Length", "Host", http.CanonicalHeaderKey(HeaderGitHub)}

func isReserved(name string) bool {
	c := http.CanonicalHeaderKey(name)
	return strings.HasPrefix(c, "Webhook-") || slices.Contains(reservedHeaders, c)
}

// newDestination validates d and fills in its defaults. Errors name the
// destination but never quote its URL or secrets.
func newDestination(d Destination, opts Options) (*destination, error) {
	if d.Name == "" {
		return nil, errors.New("destination without a name")
	}
	fail := func(format string, args ...any) (*destination, error) {
		return nil, fmt.Errorf("destination %q: "+format, append([]any{d.Name}, args...)...)
	}
	u, err := url.Parse(d.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fail("url is not an absolute http or https URL")
	}
	tmpl, err := checkShape(&d)
	if err != nil {
		return fail("%w", err)
	}
	for name := range d.Header {
		if isReserved(name) {
			return fail("header %q is set by pollhook and cannot be overridden", name)
		}
	}
	if d.Timeout <= 0 {
		d.Timeout = DefaultTimeout
	}
	nd := &destination{Destination: d, policy: d.Retry.withDefaults(), redact: redactor{secrets: destinationSecrets(d)}, now: opts.Now}
	nd.tmpl = tmpl
	switch d.Signature {
	case "":
		nd.Signature = "none"
		if len(d.Secrets) > 0 {
			nd.Signature = "standard"
		}
	case "standard", "github", "none":
	default:
		return fail("signature %q is not standard, github or none", d.Signature)
	}
	switch nd.Signature {
	case "standard":
		if len(d.Secrets) == 0 {
			return fail("signature standard needs a secret")
		}
		for i, s := range d.Secrets {
			key, err := standardKey(s)
			if err != nil {
				return fail("secret %d: %w", i+1, err)
			}
			nd.keys = append(nd.keys, key)
		}
	case "github":
		// GitHub-style receivers compare one header value: rotation would
		// need a second header they do not read.
		if len(d.Secrets) != 1 || d.Secrets[0] == "" {
			return fail("signature github needs exactly one secret")
		}
	case "none":
		if len(d.Secrets) > 0 {
			return fail("signature none with a secret: the secret would be unused")
		}
	}
	return nd, nil
}

// Wake tells the lanes of job that it has new events. It never blocks; a
// job without lanes is ignored.
func (p *Pusher) Wake(job string) {
	for _, l := range p.byJob[job] {
		select {
		case l.wake <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
}

// Run delivers until ctx is done, then gives in-flight deliveries up to
// Options.DrainTimeout to finish, cancels the rest (they stay queued and
// uncounted) and returns once every lane has stopped. It returns nil after a
// normal shutdown and may be called only once.
func (p *Pusher) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("pusher: Run called twice")
	}
	// Requests run on their own context so that shutdown does not cut them
	// off at once; it carries ctx.Done() so no new in-process retry starts
	// once shutdown has begun.
	sendCtx, cancelSend := context.WithCancel(
		context.WithValue(context.WithoutCancel(ctx), stoppingKey{}, ctx.Done()))
	defer cancelSend()

	p.retireLanes()
	p.loadPauses()
	var lanes sync.WaitGroup
	for _, l := range p.lanes {
		l.queued.Store(true) // what an earlier run or the store API queued
		lanes.Go(func() { p.runLane(ctx, sendCtx, l) })
	}
	lanesDone := make(chan struct{})
	var drain sync.WaitGroup
	drain.Go(func() {
		select {
		case <-ctx.Done():
		case <-lanesDone:
			return
		}
		t := time.NewTimer(p.opts.DrainTimeout)
		defer t.Stop()
		select {
		case <-t.C:
			cancelSend()
		case <-lanesDone:
		}
	})
	<-ctx.Done()
	lanes.Wait()
	close(lanesDone)
	drain.Wait()
	return nil
}
