package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pollhook/pollhook/admin"
	"github.com/pollhook/pollhook/config"
	"github.com/pollhook/pollhook/pusher"
	"github.com/pollhook/pollhook/store"
	"github.com/pollhook/pollhook/stream"
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
	// SIGHUP reloads the configuration. It is caught before anything else
	// because its default action ends the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	logger, err := env.logger()
	if err != nil {
		fmt.Fprintf(env.stderr, "pollhook run: %v\n", err)
		return exitUsage
	}
	path := flagString(fs, "config")
	cfg, code := loadConfig(env, path)
	if cfg == nil {
		return code
	}
	if err := serveWith(ctx, cfg, logger, serveOptions{configPath: path, reload: hup}); err != nil {
		logger.Error("pollhook stopped with an error", "err", err)
		return exitFailure
	}
	return exitOK
}

// daemon is one running pollhook: the store, the metrics and the admin
// listener, which live as long as the process, and the generation that
// runs the current configuration (pusher, scheduler, pipelines), which a
// reload replaces (see reload.go).
type daemon struct {
	logger     *slog.Logger
	store      *store.Badger
	streams    *store.Streams // the store as pipelines commit to it: keeps and publishes stream events when on
	hub        *stream.Hub    // the event streams' clients; kept across reloads
	metrics    *admin.Metrics
	polls      *admin.Polls // each job's last poll, for the jobs API and the status page; kept across reloads
	admin      *http.Server
	ln         net.Listener
	configPath string          // the file a reload reads; "" when reloading is not offered
	runCtx     context.Context // parent of every poll's context

	gen    atomic.Pointer[generation]
	srv    atomic.Pointer[admin.Server]  // the current generation's endpoints, which the listener serves
	pusher atomic.Pointer[pusher.Pusher] // what wakes and admin actions reach; switched before the old one stops

	running   atomic.Bool
	reloading atomic.Bool
	reloadSem chan struct{}  // held by the reload in progress, and by shutdown to the end
	closing   chan struct{}  // closed when shutdown begins
	pushers   sync.WaitGroup // the Run of every generation's pusher
}

// serveOptions is what serveWith needs besides the configuration.
type serveOptions struct {
	// ready, when not nil, receives the admin listener's address once
	// every component runs, that is once /readyz answers 200.
	ready func(addr string)
	// configPath is the file a reload reads again; "" offers no reload
	// (the demo's configuration is generated).
	configPath string
	// reload receives a value for each SIGHUP.
	reload <-chan os.Signal
}

// serve runs pollhook with cfg until ctx is done, without reloading; see
// serveWith.
func serve(ctx context.Context, cfg *config.Config, logger *slog.Logger, ready func(addr string)) error {
	return serveWith(ctx, cfg, logger, serveOptions{ready: ready})
}

// serveWith runs pollhook with cfg until ctx is done, reloading the
// configuration on each value of opts.reload and on POST /-/reload, then
// shuts down in order: stop scheduling and let running polls commit, let
// in-flight deliveries finish or return to the queue, stop HTTP, close the
// store.
func serveWith(ctx context.Context, cfg *config.Config, logger *slog.Logger, opts serveOptions) error {
	d, err := start(cfg, logger, opts.configPath)
	if err != nil {
		return err
	}
	// Polls outlive the signal on purpose: Stop lets them commit first.
	d.runCtx = context.WithoutCancel(ctx)
	logger.Info("pollhook started", "version", versionString(), "listen", d.ln.Addr().String(),
		"jobs", len(cfg.Jobs), "destinations", len(cfg.Destinations), "store", cfg.Store.Path)

	// A reload asked for through the listener waits until the first
	// generation runs: there is nothing to replace before.
	d.reloadSem <- struct{}{}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := d.admin.Serve(d.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("admin listener failed", "err", err)
		}
	})
	pruneCtx, stopPrune := context.WithCancel(context.Background())
	wg.Go(func() { d.streams.RunStreamPruning(pruneCtx, streamPruneInterval) })
	d.run(d.gen.Load())
	d.running.Store(true)
	<-d.reloadSem
	if opts.ready != nil {
		opts.ready(d.ln.Addr().String())
	}

	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-opts.reload:
			// The outcome is logged and counted by reload itself.
			_, _ = d.reload(ctx, "SIGHUP")
		}
	}
	logger.Info("shutting down")
	d.running.Store(false)
	// Wait for a reload in progress, and let no other start.
	close(d.closing)
	d.reloadSem <- struct{}{}
	var errs []error
	if err := d.gen.Load().stop(schedulerStopTimeout); err != nil {
		errs = append(errs, err)
	}
	// Stream clients never go idle: they are told that pollhook stops and
	// disconnected, so that the listener's shutdown does not wait for them.
	if err := d.hub.Close(httpShutdownTimeout); err != nil {
		errs = append(errs, err)
	}
	stopPrune()
	shutCtx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
	defer cancel()
	if err := d.admin.Shutdown(shutCtx); err != nil {
		errs = append(errs, fmt.Errorf("stop admin listener: %w", err))
	}
	wg.Wait()
	d.pushers.Wait()
	if err := d.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close store: %w", err))
	}
	logger.Info("pollhook stopped")
	return errors.Join(errs...)
}

// start opens the store and builds every component; nothing runs yet.
func start(cfg *config.Config, logger *slog.Logger, configPath string) (*daemon, error) {
	d := &daemon{logger: logger, configPath: configPath, reloadSem: make(chan struct{}, 1), closing: make(chan struct{})}
	st, err := store.Open(cfg.Store.Path, store.Options{
		SyncWrites: syncWrites(cfg),
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

	d.metrics = admin.NewMetrics()
	// Commits publish to the hub, which reads the stream log to resume
	// clients; neither runs before the scheduler starts.
	d.streams = store.NewStreams(st, func(events []store.Event) { d.hub.Publish(events) })
	if d.hub, err = stream.New(d.streams, stream.Options{Logger: logger.With("component", "stream"),
		Metrics: stream.NewMetrics(d.metrics.Registry)}); err != nil {
		return fail(err)
	}
	d.configureStreams(cfg)
	d.polls = admin.NewPolls(nil)
	d.metrics.WatchReloadableOutbox(st, cfg.DestinationNames(), logger.With("component", "admin"), nil)
	d.metrics.ConfigLoaded(time.Now())
	g, err := d.build(cfg, nil)
	if err != nil {
		return fail(err)
	}
	d.gen.Store(g)
	d.pusher.Store(g.pusher)
	d.srv.Store(g.admin)
	d.admin = &http.Server{Handler: http.HandlerFunc(d.serveHTTP), ReadHeaderTimeout: 5 * time.Second}
	d.ln, err = net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fail(fmt.Errorf("listen on %s: %w", cfg.Server.Listen, err))
	}
	return d, nil
}

func syncWrites(cfg *config.Config) bool { return cfg.Store.SyncWrites == nil || *cfg.Store.SyncWrites }

// serveHTTP hands each request to the current generation's endpoints.
func (d *daemon) serveHTTP(w http.ResponseWriter, r *http.Request) {
	d.srv.Load().Handler().ServeHTTP(w, r)
}

// adminServer builds the admin endpoints of generation g: health, metrics,
// the API over g's configuration, and the reload endpoint. A reload builds
// new ones and swaps them in, so that the API always describes the
// configuration that runs and checks its admin token.
func (d *daemon) adminServer(g *generation) *admin.Server {
	cfg := g.cfg
	srv := admin.New(d.logger.With("component", "admin"), map[string]admin.Check{
		"store":     d.store.Ready,
		"config":    func() error { return nil },
		"scheduler": d.schedulerReady,
	}, d.metrics)
	srv.MountAPI(jobsAPI(admin.APIConfig{Token: string(cfg.Server.AdminToken), Store: d.streams, Deliveries: deliveries{d},
		Destinations: adminDestinations(cfg)}, cfg, g.sched, d.polls, d.wake))
	if cfg.Streams != nil {
		srv.MountStreams(d.hub.Handler())
	}
	if d.configPath != "" {
		srv.MountReload(string(cfg.Server.AdminToken), func(ctx context.Context) (admin.ReloadResult, error) {
			return d.reload(ctx, "POST /-/reload")
		})
	}
	return srv
}

// schedulerReady holds readiness while no scheduler runs; a reload, which
// replaces the scheduler, does not count as not running.
func (d *daemon) schedulerReady() error {
	if !d.running.Load() {
		return errors.New("not running")
	}
	if g := d.gen.Load(); !d.reloading.Load() && (g == nil || !g.sched.Running()) {
		return errors.New("not running")
	}
	return nil
}

// wake tells the current pusher that job committed events.
func (d *daemon) wake(job string) {
	if p := d.pusher.Load(); p != nil {
		p.Wake(job)
	}
}

// deliveries are the admin API's delivery actions, taken by the current
// pusher. During a reload that is the new one, not yet running: it reads
// the store when it starts, so an action taken then is not lost.
type deliveries struct{ d *daemon }

func (x deliveries) Resume(dest string) (bool, error) { return x.d.pusher.Load().Resume(dest) }
func (x deliveries) RetryDeadLetter(dest, eventID string) error {
	return x.d.pusher.Load().RetryDeadLetter(dest, eventID)
}
func (x deliveries) ReplayDeadLetters(dest string) (int, error) {
	return x.d.pusher.Load().ReplayDeadLetters(dest)
}
func (x deliveries) ReplaySince(dest, job string, since time.Time) (int, error) {
	return x.d.pusher.Load().ReplaySince(dest, job, since)
}
