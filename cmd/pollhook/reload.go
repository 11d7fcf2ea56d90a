package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"time"

	"github.com/pollhook/pollhook/admin"
	"github.com/pollhook/pollhook/config"
	"github.com/pollhook/pollhook/differ"
	"github.com/pollhook/pollhook/poller"
	"github.com/pollhook/pollhook/pusher"
	"github.com/pollhook/pollhook/scheduler"
)

// Reloading the configuration (SIGHUP, POST /-/reload).
//
// The store, the metrics and the admin listener stay. Everything built
// from the configuration is a generation: the pusher, the scheduler, the
// pipelines and the poller. A reload reads the file, refuses it whole when
// it is invalid or changes what only a restart applies (server.listen,
// store.*), else builds the next generation while the current one runs,
// then stops the current one (running polls commit, in-flight deliveries
// finish or stay queued, uncounted) and starts the next. Nothing durable
// moves: lanes resume from their stored cursors and retry states, so the
// queued deliveries of a destination that stays are sent as they would
// have been, and a job keeps its stored snapshot. A reload thus does what
// a restart with the new file would do, without the restart:
//
//   - an unchanged job keeps its pipeline, and with it the differ state
//     held in memory; it is polled again at its next tick, not at once;
//   - an added or changed job gets a new pipeline and is polled at once,
//     as every job is at start-up; a job whose comparison rules changed
//     takes a silent new baseline (the snapshot's fingerprint differs);
//   - a job or destination removed from a route has its lanes retired by
//     the new pusher as at start-up: their undelivered events become dead
//     letters, from which they can be replayed, rather than waiting for a
//     destination that may never come back and holding the job's log;
//   - the scheduler is new, so a job backing off after failures starts
//     afresh, and a scheduled run waiting out its jitter is skipped.

// generation is what one configuration runs.
type generation struct {
	cfg       *config.Config
	pusher    *pusher.Pusher
	sched     *scheduler.Scheduler
	pipelines map[string]*scheduler.Pipeline // by job name
	poller    *poller.Poller
	transport *http.Transport // the poller's
	admin     *admin.Server
	poll      []string // the jobs polled as soon as the generation runs

	stopPush context.CancelFunc
	pushDone chan error
}

// build builds the generation of cfg; nothing runs yet. prev, the running
// generation when reloading, lends the pipelines of the jobs cfg leaves
// unchanged. An error means cfg cannot run, and leaves prev untouched.
func (d *daemon) build(cfg *config.Config, prev *generation) (*generation, error) {
	g := &generation{cfg: cfg, pipelines: make(map[string]*scheduler.Pipeline, len(cfg.Jobs))}
	routes := make(map[string][]string, len(cfg.Jobs))
	for _, j := range cfg.Jobs {
		routes[j.Name] = j.Destinations
	}
	var err error
	g.pusher, err = pusher.New(d.store, pusherDestinations(cfg), routes, d.logger.With("component", "pusher"),
		pusher.Options{UserAgent: "pollhook/" + versionString(), DrainTimeout: deliveryDrainTimeout, Observe: d.metrics.ObserveDelivery})
	if err != nil {
		return nil, err
	}
	schedOpts := schedulerOptions(cfg)
	schedOpts.Skipped = d.metrics.ObserveSkipped
	g.sched = scheduler.New(d.logger.With("component", "scheduler"), schedOpts)
	g.transport = pollTransport(cfg)
	g.poller = poller.New(&http.Client{Transport: g.transport})
	for _, j := range cfg.Jobs {
		p := prev.unchanged(j)
		if p == nil {
			if p, err = d.pipeline(j, g.poller); err != nil {
				return nil, err
			}
			g.poll = append(g.poll, j.Name)
		}
		g.pipelines[j.Name] = p
		if err := g.sched.Add(schedulerEntry(j, p)); err != nil {
			return nil, fmt.Errorf("job %q: %w", j.Name, err)
		}
	}
	g.admin = d.adminServer(g)
	return g, nil
}

// unchanged returns the pipeline of job j in g when g runs j exactly as
// configured (secrets read from files included), else nil.
func (g *generation) unchanged(j *config.Job) *scheduler.Pipeline {
	if g == nil {
		return nil
	}
	if old := g.cfg.Job(j.Name); old != nil && reflect.DeepEqual(old, j) {
		return g.pipelines[j.Name]
	}
	return nil
}

// pipeline builds the pipeline of job j.
func (d *daemon) pipeline(j *config.Job, pl *poller.Poller) (*scheduler.Pipeline, error) {
	df, err := differ.Compile(differSpec(j))
	if err != nil {
		return nil, fmt.Errorf("job %q: %w", j.Name, err)
	}
	return &scheduler.Pipeline{
		Job:          j.Name,
		Request:      pollRequest(j),
		Poller:       pl,
		Differ:       df,
		Store:        d.streams,
		Destinations: j.Destinations,
		Wake:         d.wake,
		Logger:       d.logger.With("component", "scheduler", "job", j.Name),
		Observe:      func(o scheduler.Outcome) { d.metrics.ObservePoll(o); d.polls.ObservePoll(o) },

		NotifySourceHealth: j.NotifySourceHealth,
		DownAfter:          j.DownAfter,
	}, nil
}

// run starts g's pusher and scheduler, then polls g.poll at once rather
// than at their first tick, so that what changed while they did not run
// is seen at once.
func (d *daemon) run(g *generation) {
	ctx, cancel := context.WithCancel(context.Background())
	g.stopPush, g.pushDone = cancel, make(chan error, 1)
	d.pushers.Go(func() { g.pushDone <- g.pusher.Run(ctx) })
	g.sched.Start(d.runCtx)
	for _, job := range g.poll {
		if err := g.sched.TriggerJittered(job); err != nil && !errors.Is(err, scheduler.ErrRunning) {
			d.logger.Warn("initial poll not started", "job", job, "err", err)
		}
	}
}

// stop stops scheduling and waits up to timeout for running polls (then
// cancels them), then stops the pusher: deliveries in flight finish or
// stay queued, uncounted. A nil error means nothing of g runs any more.
func (g *generation) stop(timeout time.Duration) error {
	var errs []error
	if err := g.sched.Stop(timeout); err != nil {
		errs = append(errs, fmt.Errorf("stop scheduler: %w", err))
	}
	g.stopPush()
	if err := <-g.pushDone; err != nil && !errors.Is(err, context.Canceled) {
		errs = append(errs, fmt.Errorf("pusher: %w", err))
	}
	return errors.Join(errs...)
}

// Bounds of the wait for running polls at a reload: a poll's own timeout
// bounds it (every page and the token request included), so waiting for
// the longest plus the commit's margin lets every poll finish rather than
// be wasted; but other jobs do not tick meanwhile, hence a cap.
const (
	reloadCommitMargin = 2 * time.Second
	reloadStopMax      = 30 * time.Second
)

// reloadStopTimeout is how long a reload waits for the polls of cfg.
func reloadStopTimeout(cfg *config.Config) time.Duration {
	longest := time.Duration(0)
	for _, j := range cfg.Jobs {
		longest = max(longest, time.Duration(j.Request.Timeout))
	}
	return min(longest+reloadCommitMargin, reloadStopMax)
}

// reload reads the configuration file again and applies it, or keeps the
// running one when the file is refused. Reloads run one at a time; one
// asked for during another waits for it, then reads the file itself.
// trigger names what asked for it in the log.
func (d *daemon) reload(ctx context.Context, trigger string) (admin.ReloadResult, error) {
	select {
	case <-d.closing:
		return admin.ReloadResult{}, admin.ErrShuttingDown
	case <-ctx.Done():
		return admin.ReloadResult{}, ctx.Err()
	case d.reloadSem <- struct{}{}:
	}
	defer func() { <-d.reloadSem }()
	select {
	case <-d.closing:
		return admin.ReloadResult{}, admin.ErrShuttingDown
	default:
	}
	began := time.Now()
	res, ch, applied, err := d.apply()
	d.metrics.ObserveReload(err == nil, time.Now())
	var re *admin.ReloadError
	switch {
	case errors.As(err, &re):
		msg := "config reload: invalid configuration"
		if re.Code == admin.CodeRestartRequired {
			msg = "config reload: a change needs a restart"
		}
		for _, e := range re.Errors {
			d.logger.Error(msg, "err", e)
		}
		d.logger.Error("config reload failed; the running configuration is kept", "trigger", trigger, "reason", re.Message)
	case err != nil:
		d.logger.Error("config reload failed; the running configuration is kept", "trigger", trigger, "err", err)
	default:
		args := []any{"trigger", trigger, "jobs", res.Jobs, "destinations", res.Destinations,
			"duration_ms", time.Since(began).Milliseconds()}
		if !applied {
			args = append(args, "unchanged", true)
		}
		d.logger.Info("configuration reloaded", append(args, ch.logArgs()...)...)
	}
	return res, err
}

// apply loads the file and, when it may run, swaps it in; applied is
// false when the file was refused or is what already runs.
func (d *daemon) apply() (res admin.ReloadResult, ch changes, applied bool, err error) {
	cur := d.gen.Load()
	cfg, err := config.Load(d.configPath)
	if err != nil {
		return res, ch, false, invalidConfig(d.configPath, err)
	}
	if errs := restartNeeded(d.configPath, cur.cfg, cfg); len(errs) > 0 {
		return res, ch, false, &admin.ReloadError{Code: admin.CodeRestartRequired,
			Message: fmt.Sprintf("%s: %d change%s only a restart applies; nothing was reloaded", d.configPath, len(errs), plural(len(errs))),
			Errors:  errs}
	}
	res = admin.ReloadResult{Reloaded: true, Jobs: len(cfg.Jobs), Destinations: len(cfg.Destinations)}
	ch = diff(cur.cfg, cfg)
	if ch.none() && reflect.DeepEqual(cur.cfg, cfg) {
		// Nothing to restart for; the file was read and is valid.
		return res, ch, false, nil
	}
	next, err := d.build(cfg, cur)
	if err != nil {
		return admin.ReloadResult{}, changes{}, false, invalidConfig(d.configPath, err)
	}
	d.swap(cur, next, ch)
	return res, ch, true, nil
}

// swap stops cur and runs next in its place.
func (d *daemon) swap(cur, next *generation, ch changes) {
	d.reloading.Store(true)
	defer d.reloading.Store(false)
	d.pusher.Store(next.pusher)
	stopErr := cur.stop(reloadStopTimeout(cur.cfg))
	if stopErr != nil {
		d.logger.Warn("config reload: the previous configuration did not stop cleanly", "err", stopErr)
	}
	// A kept pipeline polls through the new poller, whose transport is
	// sized for the new jobs and reads TLS files again; only once no poll
	// of the old generation runs, since one may still read the field.
	if stopErr == nil {
		for name, p := range next.pipelines {
			if cur.pipelines[name] == p {
				p.Poller = next.poller
			}
		}
	}
	d.metrics.SetOutboxDestinations(next.cfg.DestinationNames())
	d.metrics.Forget(ch.removedJobs, ch.removedDests)
	d.polls.Forget(ch.removedJobs...)
	d.configureStreams(next.cfg)
	d.gen.Store(next)
	d.srv.Store(next.admin)
	d.run(next)
	if stopErr == nil {
		cur.transport.CloseIdleConnections()
	}
}

// invalidConfig describes a configuration that cannot run.
func invalidConfig(path string, err error) *admin.ReloadError {
	var errs config.Errors
	if !errors.As(err, &errs) {
		return &admin.ReloadError{Code: admin.CodeInvalidConfig, Message: err.Error(), Errors: []string{err.Error()}}
	}
	re := &admin.ReloadError{Code: admin.CodeInvalidConfig,
		Message: fmt.Sprintf("%s: %d error%s; nothing was reloaded", path, len(errs), plural(len(errs)))}
	for _, e := range errs {
		re.Errors = append(re.Errors, e.Error())
	}
	return re
}

// restartNeeded lists the settings next changes that only a restart
// applies: the listener's address, and the store, which the process holds
// open (and locked) for its whole life. A reload that changes one is
// refused whole rather than applied in part, so that what runs is always
// one file's configuration.
func restartNeeded(path string, cur, next *config.Config) []string {
	var out []string
	add := func(field string, from, to any) {
		out = append(out, config.Error{File: path, Path: field,
			Msg: fmt.Sprintf("changed from %v to %v; only a restart applies it", from, to)}.Error())
	}
	if cur.Server.Listen != next.Server.Listen {
		add("server.listen", fmt.Sprintf("%q", cur.Server.Listen), fmt.Sprintf("%q", next.Server.Listen))
	}
	if cur.Store.Path != next.Store.Path {
		add("store.path", fmt.Sprintf("%q", cur.Store.Path), fmt.Sprintf("%q", next.Store.Path))
	}
	if syncWrites(cur) != syncWrites(next) {
		add("store.sync_writes", syncWrites(cur), syncWrites(next))
	}
	return out
}

// changes are the jobs and destinations a reload adds, removes or
// changes, for the log and the metrics.
type changes struct {
	addedJobs, removedJobs, changedJobs    []string
	addedDests, removedDests, changedDests []string
}

func diff(cur, next *config.Config) changes {
	var ch changes
	curJobs := make(map[string]*config.Job, len(cur.Jobs))
	for _, j := range cur.Jobs {
		curJobs[j.Name] = j
	}
	for _, j := range next.Jobs {
		old, ok := curJobs[j.Name]
		switch {
		case !ok:
			ch.addedJobs = append(ch.addedJobs, j.Name)
		case !reflect.DeepEqual(old, j):
			ch.changedJobs = append(ch.changedJobs, j.Name)
		}
		delete(curJobs, j.Name)
	}
	ch.removedJobs = slices.Sorted(maps.Keys(curJobs))
	for _, name := range next.DestinationNames() {
		old, ok := cur.Destinations[name]
		switch {
		case !ok:
			ch.addedDests = append(ch.addedDests, name)
		case !reflect.DeepEqual(old, next.Destinations[name]):
			ch.changedDests = append(ch.changedDests, name)
		}
	}
	for _, name := range cur.DestinationNames() {
		if _, ok := next.Destinations[name]; !ok {
			ch.removedDests = append(ch.removedDests, name)
		}
	}
	return ch
}

func (ch changes) none() bool {
	return len(ch.addedJobs)+len(ch.removedJobs)+len(ch.changedJobs)+
		len(ch.addedDests)+len(ch.removedDests)+len(ch.changedDests) == 0
}

// logArgs lists the non-empty changes as log attributes.
func (ch changes) logArgs() []any {
	var out []any
	for _, c := range []struct {
		key   string
		names []string
	}{
		{"jobs_added", ch.addedJobs}, {"jobs_removed", ch.removedJobs}, {"jobs_changed", ch.changedJobs},
		{"destinations_added", ch.addedDests}, {"destinations_removed", ch.removedDests}, {"destinations_changed", ch.changedDests},
	} {
		if len(c.names) > 0 {
			out = append(out, c.key, c.names)
		}
	}
	return out
}
