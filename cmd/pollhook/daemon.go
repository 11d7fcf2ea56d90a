package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pollhook/pollhook/admin"
	"github.com/pollhook/pollhook/config"
	"github.com/pollhook/pollhook/differ"
	"github.com/pollhook/pollhook/poller"
	"github.com/pollhook/pollhook/pusher"
	"github.com/pollhook/pollhook/scheduler"
	"github.com/pollhook/pollhook/store"
)

// Shutdown bounds, chosen so that the whole shutdown (polls, then the
// scheduler's 1 s cancel grace, then deliveries in flight, then HTTP) stays
// under 8 s, inside the 10 s that Docker and Kubernetes wait before SIGKILL.
const (
	schedulerStopTimeout = 3 * time.Second
	deliveryDrainTimeout = 3 * time.Second
	httpShutdownTimeout  = 1 * time.Second
)

func cmdRun(ctx context.Context, env *cliEnv, fs *flag.FlagSet, args []string) int {
	if len(args) > 0 {
		fmt.Fprintf(env.stderr, "pollhook run: unexpected argument %q (did you mean --config %s?)\n", args[0], args[0])
		return exitUsage
	}
	logger, err := env.logger()
	if err != nil {
		fmt.Fprintf(env.stderr, "pollhook run: %v\n", err)
		return exitUsage
	}
	cfg, code := loadConfig(env, flagString(fs, "config"))
	if cfg == nil {
		return code
	}
	if err := serve(ctx, cfg, logger, nil); err != nil {
		logger.Error("pollhook stopped with an error", "err", err)
		return exitFailure
	}
	return exitOK
}

// daemon is one running pollhook: store, pusher, scheduler and admin listener.
type daemon struct {
	logger  *slog.Logger
	store   *store.Badger
	pusher  *pusher.Pusher
	sched   *scheduler.Scheduler
	admin   *http.Server
	ln      net.Listener
	running atomic.Bool
}

// serve runs pollhook with cfg until ctx is done, then shuts down in order:
// stop scheduling and let running polls commit, let in-flight deliveries
// finish or return to the queue, stop HTTP, close the store.
// ready, when not nil, receives the admin listener's address once every
// component runs, that is once /readyz answers 200.
func serve(ctx context.Context, cfg *config.Config, logger *slog.Logger, ready func(addr string)) error {
	d, err := start(cfg, logger)
	if err != nil {
		return err
	}
	logger.Info("pollhook started", "version", versionString(), "listen", d.ln.Addr().String(),
		"jobs", len(cfg.Jobs), "destinations", len(cfg.Destinations), "store", cfg.Store.Path)

	var wg sync.WaitGroup
	pushCtx, stopPush := context.WithCancel(context.WithoutCancel(ctx))
	pushErr := make(chan error, 1)
	wg.Add(2)
	go func() {
		defer wg.Done()
		pushErr <- d.pusher.Run(pushCtx)
	}()
	go func() {
		defer wg.Done()
		if err := d.admin.Serve(d.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("admin listener failed", "err", err)
		}
	}()
	d.sched.Start(context.WithoutCancel(ctx))
	d.running.Store(true)
	if ready != nil {
		ready(d.ln.Addr().String())
	}
	// Poll every job once at start-up rather than waiting for its first tick,
	// so that what changed while pollhook was down is seen at once.
	for _, j := range cfg.Jobs {
		if err := d.sched.Trigger(j.Name); err != nil && !errors.Is(err, scheduler.ErrRunning) {
			logger.Warn("initial poll not started", "job", j.Name, "err", err)
		}
	}

	<-ctx.Done()
	logger.Info("shutting down")
	d.running.Store(false)
	var errs []error
	if err := d.sched.Stop(schedulerStopTimeout); err != nil {
		errs = append(errs, fmt.Errorf("stop scheduler: %w", err))
	}
	stopPush()
	if err := <-pushErr; err != nil && !errors.Is(err, context.Canceled) {
		errs = append(errs, fmt.Errorf("pusher: %w", err))
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
	defer cancel()
	if err := d.admin.Shutdown(shutCtx); err != nil {
		errs = append(errs, fmt.Errorf("stop admin listener: %w", err))
	}
	wg.Wait()
	if err := d.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close store: %w", err))
	}
	logger.Info("pollhook stopped")
	return errors.Join(errs...)
}

// start opens the store and builds every component; nothing runs yet.
func start(cfg *config.Config, logger *slog.Logger) (*daemon, error) {
	d := &daemon{logger: logger}
	st, err := store.Open(cfg.Store.Path, store.Options{
		SyncWrites: cfg.Store.SyncWrites == nil || *cfg.Store.SyncWrites,
		Logger:     logger.With("component", "store"),
	})
	if err != nil {
		return nil, err
	}
	d.store = st
	fail := func(err error) (*daemon, error) {
		_ = st.Close()
		return nil, err
	}

	routes := make(map[string][]string, len(cfg.Jobs))
	for _, j := range cfg.Jobs {
		routes[j.Name] = j.Destinations
	}
	metrics := admin.NewMetrics()
	d.pusher, err = pusher.New(st, pusherDestinations(cfg), routes, logger.With("component", "pusher"),
		pusher.Options{UserAgent: "pollhook/" + versionString(), DrainTimeout: deliveryDrainTimeout, Observe: metrics.ObserveDelivery})
	if err != nil {
		return fail(err)
	}
	metrics.WatchOutbox(st, slices.Sorted(maps.Keys(cfg.Destinations)), logger.With("component", "admin"), nil)
	schedOpts := schedulerOptions(cfg)
	schedOpts.Skipped = metrics.ObserveSkipped
	d.sched = scheduler.New(logger.With("component", "scheduler"), schedOpts)
	pl := poller.New(&http.Client{Transport: pollTransport(cfg)})
	for _, j := range cfg.Jobs {
		df, err := differ.Compile(differSpec(j))
		if err != nil {
			return fail(fmt.Errorf("job %q: %w", j.Name, err))
		}
		p := &scheduler.Pipeline{
			Job:          j.Name,
			Request:      pollRequest(j),
			Poller:       pl,
			Differ:       df,
			Store:        st,
			Destinations: j.Destinations,
			Wake:         d.pusher.Wake,
			Logger:       logger.With("component", "scheduler", "job", j.Name),
			Observe:      metrics.ObservePoll,

			NotifySourceHealth: j.NotifySourceHealth,
			DownAfter:          j.DownAfter,
		}
		if err := d.sched.Add(schedulerEntry(j, p)); err != nil {
			return fail(fmt.Errorf("job %q: %w", j.Name, err))
		}
	}

	srv := admin.New(logger.With("component", "admin"), map[string]admin.Check{
		"store":     st.Ready,
		"config":    func() error { return nil },
		"scheduler": d.schedulerReady,
	}, metrics)
	srv.MountAPI(admin.APIConfig{Token: string(cfg.Server.AdminToken), Store: st, Deliveries: d.pusher,
		Destinations: adminDestinations(cfg)})
	d.admin = &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second}
	d.ln, err = net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fail(fmt.Errorf("listen on %s: %w", cfg.Server.Listen, err))
	}
	return d, nil
}

func (d *daemon) schedulerReady() error {
	if !d.running.Load() || !d.sched.Running() {
		return errors.New("not running")
	}
	return nil
}
