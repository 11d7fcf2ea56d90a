// Package scheduler owns time: one cron entry per job, jitter, no overlap,
// the load limits (a global cap on polls in flight, a token bucket per
// source host), backoff while a source fails, and the tick that runs
// poll → diff → commit → wake, with its source health events.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"golang.org/x/time/rate"
)

// ErrRunning is returned, wrapped, by Trigger when the job is already
// running (or waiting out its jitter): the trigger is skipped, because a job
// never overlaps itself.
var ErrRunning = errors.New("already running")

// ErrUnknownJob is returned, wrapped, by Trigger for a name never added or
// since removed.
var ErrUnknownJob = errors.New("unknown job")

// ErrNotRunning is returned, wrapped, by Trigger before Start and after Stop.
var ErrNotRunning = errors.New("scheduler is not running")

// DefaultCancelGrace is how long Stop waits for jobs after cancelling their
// context, when Options.CancelGrace is 0.
const DefaultCancelGrace = time.Second

// Entry is one scheduled job.
type Entry struct {
	Name     string
	Schedule string        // see ParseSchedule
	Jitter   time.Duration // each scheduled run waits a random [0, Jitter) first
	Run      func(ctx context.Context)
	// Tick, instead of Run, runs a poll whose Outcome paces the job (see
	// Scheduler): failed polls make it back off, a Retry-After delays it.
	Tick func(ctx context.Context) Outcome
	// Host is the source host; the runs of every entry with the same Host
	// share one token bucket (Options.HostRate). "" takes no token.
	Host string
	// BackoffMax caps the wait after failed polls, Retry-After included;
	// 0 means DefaultBackoffFactor times the schedule's interval.
	BackoffMax time.Duration
}

// DefaultBackoffFactor times a job's interval is its backoff ceiling when
// Entry.BackoffMax is 0.
const DefaultBackoffFactor = 10

// Options tune a Scheduler; the zero value is ready to use.
type Options struct {
	// Location interprets schedules without a CRON_TZ= prefix; nil means
	// time.Local.
	Location *time.Location
	// Rand draws the jitter delays; nil means math/rand/v2's global source.
	// Tests inject a fixed source (not one stuck at 0: rand.Rand rejects
	// that draw forever).
	Rand rand.Source
	// CancelGrace is how long Stop waits after cancelling the runs still
	// going at its timeout; 0 means DefaultCancelGrace.
	CancelGrace time.Duration

	// MaxConcurrent caps the runs in progress across all jobs; 0 means no
	// cap. A run waits for a free slot until its job's next scheduled time
	// at most; then it is skipped (SkipConcurrency).
	MaxConcurrent int
	// HostRate is how many runs per second may start for one Entry.Host,
	// with bursts of up to HostBurst (at least 1); 0 means no limit. A run
	// waits for its host's token until its job's next scheduled time at
	// most; then it is skipped (SkipHostRate).
	HostRate  float64
	HostBurst int
	// Now tells the time for backoff decisions and next scheduled times;
	// nil means time.Now. Tests move it; waits still take real time.
	Now func() time.Time
	// Skipped, when not nil, is called for every scheduled run that does
	// not happen, and for every triggered one given up for want of a slot
	// or a token, with the reason (SkipRunning, SkipConcurrency,
	// SkipHostRate, SkipBackoff), for a metric. A Trigger refused because
	// the job is running is not counted: its caller gets ErrRunning.
	Skipped func(job, reason string)
}

// Reasons a scheduled run is skipped, as passed to Options.Skipped. All
// but SkipBackoff are missed ticks: the job wanted to poll and could not.
const (
	SkipRunning     = "running"     // the job's previous run is still going
	SkipConcurrency = "concurrency" // no slot under MaxConcurrent came free before the next tick
	SkipHostRate    = "host_rate"   // the host's token bucket had no token before the next tick
	SkipBackoff     = "backoff"     // the job is backing off after failures or a Retry-After
)

// Scheduler runs jobs on cron schedules. A job never overlaps itself,
// whether a run was started by its schedule or by Trigger.
type Scheduler struct {
	logger  *slog.Logger
	cron    *cron.Cron
	loc     *time.Location
	grace   time.Duration
	now     func() time.Time
	skipped func(job, reason string)
	limits  *limits

	randMu sync.Mutex
	rand   *rand.Rand // nil means the global source, which is goroutine-safe

	// stopping is closed by Stop, which ends every jitter wait at once.
	stopping chan struct{}

	mu         sync.Mutex
	state      state
	entries    map[string]*entry
	running    map[string]bool // by job name, so a job removed and added again still does not overlap itself
	runCtx     context.Context // parent of every run's context
	cancelRuns context.CancelFunc
	runs       sync.WaitGroup // every claimed run; Add only under mu while started
}

type state int

const (
	idle state = iota
	started
	stopped
)

// entry is an added job.
type entry struct {
	Entry
	schedule cron.Schedule
	id       cron.EntryID
	log      cron.Logger   // names the job in panic reports
	limiter  *rate.Limiter // the token bucket of its host; nil: none
	pace     pace          // backoff and missed ticks
}

// New returns a Scheduler that logs to logger (nil discards).
func New(logger *slog.Logger, opts Options) *Scheduler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	loc := opts.Location
	if loc == nil {
		loc = time.Local
	}
	grace := opts.CancelGrace
	if grace <= 0 {
		grace = DefaultCancelGrace
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	s := &Scheduler{
		logger:   logger,
		loc:      loc,
		grace:    grace,
		now:      now,
		skipped:  opts.Skipped,
		limits:   newLimits(opts),
		stopping: make(chan struct{}),
		entries:  make(map[string]*entry),
		running:  make(map[string]bool),
	}
	if opts.Rand != nil {
		s.rand = rand.New(opts.Rand)
	}
	clog := cronLogger{logger}
	// cron's default logger prints to stdout and its default chain recovers
	// nothing. Runs recover their own panics (see execute) to name the job;
	// this Recover is the net under the scheduler's own code.
	s.cron = cron.New(cron.WithLocation(loc), cron.WithLogger(clog), cron.WithChain(cron.Recover(clog)))
	return s
}

// Add schedules e. It fails for an empty or duplicate name, neither or
// both of Run and Tick, a negative Jitter or BackoffMax, or a schedule
// ParseSchedule rejects. Jobs may be added before or after Start.
func (s *Scheduler) Add(e Entry) error {
	switch {
	case e.Name == "":
		return errors.New("job name is empty")
	case e.Run == nil && e.Tick == nil:
		return fmt.Errorf("job %q: neither Run nor Tick is set", e.Name)
	case e.Run != nil && e.Tick != nil:
		return fmt.Errorf("job %q: both Run and Tick are set", e.Name)
	case e.Jitter < 0:
		return fmt.Errorf("job %q: jitter %s is negative", e.Name, e.Jitter)
	case e.BackoffMax < 0:
		return fmt.Errorf("job %q: backoff max %s is negative", e.Name, e.BackoffMax)
	}
	schedule, err := ParseSchedule(e.Schedule)
	if err != nil {
		return fmt.Errorf("job %q: schedule %q: %w", e.Name, e.Schedule, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.entries[e.Name]; ok {
		return fmt.Errorf("job %q is already scheduled", e.Name)
	}
	if e.BackoffMax == 0 {
		e.BackoffMax = DefaultBackoffFactor * Interval(schedule, s.now().In(s.loc))
	}
	ent := &entry{Entry: e, schedule: schedule, log: cronLogger{s.logger.With("job", e.Name)}, limiter: s.limits.host(e.Host)}
	ent.id = s.cron.Schedule(schedule, cron.FuncJob(func() { s.scheduled(ent) }))
	s.entries[e.Name] = ent
	return nil
}

// Remove unschedules the named job; unknown names are ignored. A run in
// progress finishes, and Stop still waits for it.
func (s *Scheduler) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[name]; ok {
		s.cron.Remove(e.id)
		delete(s.entries, name)
	}
}

// Start begins scheduling. ctx is the parent of every run's context, so
// cancelling it cancels runs in progress; scheduling itself ends with Stop.
// A Scheduler starts once: Start after Start or Stop does nothing.
func (s *Scheduler) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != idle {
		return
	}
	s.state = started
	s.runCtx, s.cancelRuns = context.WithCancel(ctx)
	s.cron.Start()
}

// Running reports whether the scheduler is between Start and Stop.
func (s *Scheduler) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == started
}

// Stop stops scheduling and ends jitter waits, then waits up to timeout for
// running jobs without cancelling anything, since a poll cut short is
// wasted. Jobs still running then have their context cancelled and get
// Options.CancelGrace more; the error names those that outlive even that.
func (s *Scheduler) Stop(timeout time.Duration) error {
	s.mu.Lock()
	if s.state != started {
		s.state = stopped
		s.mu.Unlock()
		return nil
	}
	s.state = stopped
	close(s.stopping)
	busy := s.runningNames()
	s.mu.Unlock()

	cronDone := s.cron.Stop()
	done := make(chan struct{})
	// Ends when the last run does, which may be after Stop gave up on it.
	go func() {
		s.runs.Wait()
		<-cronDone.Done()
		close(done)
	}()
	defer s.cancelRuns()

	if len(busy) > 0 {
		s.logger.Info("stopping: waiting for running jobs", "jobs", busy, "timeout", timeout)
	}
	if waitFor(done, timeout) {
		return nil
	}
	s.logger.Warn("stopping: cancelling jobs still running", "jobs", s.lockedRunningNames(), "timeout", timeout)
	s.cancelRuns()
	if waitFor(done, s.grace) {
		return nil
	}
	stuck := s.lockedRunningNames()
	if len(stuck) == 0 {
		return nil // the last one ended in between
	}
	what := "job"
	if len(stuck) > 1 {
		what = "jobs"
	}
	return fmt.Errorf("scheduler stop: %s %s still running %s after the %s timeout cancelled them", what, quoteAll(stuck), s.grace, timeout)
}

// Trigger starts a run of the named job now, without jitter, and returns at
// once. It fails with ErrUnknownJob, ErrNotRunning, or ErrRunning when the
// job is already running: the trigger is then skipped, not queued.
func (s *Scheduler) Trigger(name string) error { return s.trigger(name, false) }

// TriggerJittered is Trigger with the job's jitter first, as a scheduled
// run waits it: the daemon starts its jobs this way, so that many jobs do
// not all hit their sources (and open their connections) at one instant.
func (s *Scheduler) TriggerJittered(name string) error { return s.trigger(name, true) }

func (s *Scheduler) trigger(name string, jitter bool) error {
	s.mu.Lock()
	e, ok := s.entries[name]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownJob, name)
	}
	ctx, err := s.claim(name)
	if err != nil {
		return fmt.Errorf("job %q: %w", name, err)
	}
	go s.execute(ctx, e, s.now(), false, jitter)
	return nil
}

// Next returns when the named job is next scheduled, jitter not included;
// the zero time for an unknown job or a stopped scheduler.
func (s *Scheduler) Next(name string) time.Time {
	s.mu.Lock()
	e, ok := s.entries[name]
	st := s.state
	s.mu.Unlock()
	switch {
	case !ok || st == stopped:
		return time.Time{}
	case st == idle:
		return e.schedule.Next(time.Now().In(s.loc))
	}
	return s.cron.Entry(e.id).Next
}

// scheduled is what cron runs for an entry. Every time cron fires is a
// whole second and cron fires a moment after it, so the time truncated to
// the second is the tick's scheduled time, which backoff deadlines are
// compared with: a deadline of exactly the next tick lets that tick run.
func (s *Scheduler) scheduled(e *entry) {
	s.fire(e, s.now().Truncate(time.Second))
}

// fire runs the tick of e scheduled at at, unless the job is backing off
// or still running.
func (s *Scheduler) fire(e *entry, at time.Time) {
	if e.pace.holds(at) {
		s.logger.Debug("skipped scheduled run: backing off", "job", e.Name)
		s.skip(e, SkipBackoff)
		return
	}
	ctx, err := s.claim(e.Name)
	if errors.Is(err, ErrRunning) {
		// Debug, not warn: a hanging source would otherwise log this on every
		// tick, and the poll's own timeout or failure is what gets reported.
		s.logger.Debug("skipped scheduled run: the previous run is still going", "job", e.Name)
		s.skip(e, SkipRunning)
	}
	if err != nil {
		return
	}
	s.execute(ctx, e, at, true, true)
}

// claim marks name as running and returns the parent of the run's context.
// Claiming under one mutex is what keeps a Trigger and a scheduled run of
// the same job from both starting.
func (s *Scheduler) claim(name string) (context.Context, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != started {
		return nil, ErrNotRunning
	}
	if s.running[name] {
		return nil, ErrRunning
	}
	s.running[name] = true
	s.runs.Add(1)
	return s.runCtx, nil
}

// execute performs a claimed run of the tick scheduled at at (for a
// trigger, the time of the trigger): jitter, then a slot under the global
// cap and a token of the host, then the run. The claim is released before
// a panic is reported, so once the report is logged the job can run again.
func (s *Scheduler) execute(ctx context.Context, e *entry, at time.Time, scheduled, jitter bool) {
	cron.Recover(e.log)(cron.FuncJob(func() {
		defer s.release(e.Name)
		if jitter && !s.waitJitter(ctx, e) {
			return
		}
		// Waiting past the next tick would only make that tick find the
		// job still running: the tick is then missed instead.
		next := e.schedule.Next(at)
		done, reason := s.limits.acquire(ctx, e.limiter, next.Sub(s.now()), s.stopping)
		if reason != "" {
			s.miss(e, reason, scheduled)
			return
		}
		if done == nil {
			return // stopping or cancelled while waiting
		}
		defer done()
		s.resume(e)
		if e.Tick == nil {
			e.Run(ctx)
			return
		}
		out := e.Tick(ctx)
		s.settle(e, at, next, out)
	})).Run()
}

func (s *Scheduler) release(name string) {
	s.mu.Lock()
	delete(s.running, name)
	s.mu.Unlock()
	s.runs.Done()
}

// waitJitter delays a scheduled run so that jobs on the same schedule do not
// hit their sources at the same instant. It reports false when Stop or the
// run's context ended the wait: the run is then skipped.
func (s *Scheduler) waitJitter(ctx context.Context, e *entry) bool {
	d := s.jitter(e.Jitter)
	if d <= 0 {
		return true
	}
	s.logger.Debug("delaying run by jitter", "job", e.Name, "delay", d)
	return pause(ctx, d, s.stopping)
}

// jitter draws a uniformly random delay in [0, max).
func (s *Scheduler) jitter(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	if s.rand == nil {
		return rand.N(max)
	}
	s.randMu.Lock()
	defer s.randMu.Unlock()
	return time.Duration(s.rand.Int64N(int64(max)))
}

// runningNames lists the running jobs, sorted; s.mu must be held.
func (s *Scheduler) runningNames() []string {
	names := make([]string, 0, len(s.running))
	for name := range s.running {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func (s *Scheduler) lockedRunningNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runningNames()
}

// waitFor reports whether done closes within d.
func waitFor(done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

func quoteAll(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = strconv.Quote(n)
	}
	return strings.Join(quoted, ", ")
}

// cronLogger adapts slog to cron.Logger. cron logs every wake-up at Info,
// which is noise for an operator, so Info becomes Debug.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) {
	c.l.Debug("cron "+msg, kv...)
}

func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron "+msg, append([]any{"err", err}, kv...)...)
}
