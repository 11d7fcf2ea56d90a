// Command pollhook-load measures pollhook under load: it starts local
// sources serving small JSON documents and a webhook receiver, runs the
// real pollhook binary on a generated configuration of many jobs polling
// them, and reports polls per second, CPU per poll, resident memory and
// missed ticks, counted both by pollhook's metrics and by the sources.
//
// Usage:
//
//	go run ./cmd/pollhook-load --jobs 2000 --duration 60s
//
// Every webhook is timed from the change it reports: the sources change on
// a fixed schedule, so the receiver dates each change and reports the
// latency from the source's change to the webhook's arrival.
//
// Two other modes use the same sources and receivers:
//
//	go run ./cmd/pollhook-load --soak --jobs 500 --destinations 5 --duration 1h --sample-every 30s
//
// keeps the load up and prints pollhook's RSS and goroutines every
// --sample-every, then a verdict: flat when the last third's mean is within
// --flat-tolerance of the middle third's.
//
//	go run ./cmd/pollhook-load --startup-runs 5 --jobs 10
//
// times the start-up (process start to /readyz 200), on empty stores and
// as restarts on the store of the first run.
//
// It exits 0 when every goal was met, 1 when one was missed, 2 on bad
// flags and 3 when the measurement itself could not be made.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pollhook/pollhook/cmd/internal/loadkit"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the flags.
type options struct {
	Binary        string
	Jobs          int
	Sources       int
	Items         int
	Interval      time.Duration
	Jitter        time.Duration
	ChangeEvery   time.Duration
	ETag          bool
	Destinations  int
	SyncWrites    bool
	MaxConcurrent int
	Warmup        time.Duration
	Duration      time.Duration
	ReadyTimeout  time.Duration
	MaxRSSMB      float64
	MaxMissedJobs int
	Env           []string
	Keep          bool
	Profile       string
	Soak          bool
	SampleEvery   time.Duration
	FlatTolerance float64
	StartupRuns   int
}

// parseOptions parses args (without the program name).
func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("pollhook-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Binary, "binary", "", "pollhook binary to run; empty: build github.com/pollhook/pollhook/cmd/pollhook into a temporary directory")
	fs.IntVar(&o.Jobs, "jobs", 2000, "number of jobs")
	fs.IntVar(&o.Sources, "sources", 10, "number of source servers (distinct 127.0.0.1 ports, so distinct hosts to pollhook's transport); jobs are dealt round-robin")
	fs.IntVar(&o.Items, "items", 10, "items in each job's document")
	fs.DurationVar(&o.Interval, "interval", time.Second, "every job's schedule, as @every INTERVAL")
	fs.DurationVar(&o.Jitter, "jitter", 200*time.Millisecond, "every job's jitter (0: none)")
	fs.DurationVar(&o.ChangeEvery, "change-every", 10*time.Second, "each job's document changes one item this often, the jobs' changes spread evenly (0: never)")
	fs.BoolVar(&o.ETag, "etag", false, "sources send weak ETags and answer If-None-Match with 304")
	fs.IntVar(&o.Destinations, "destinations", 1, "number of destinations, each a receiver on its own port; every job sends to all of them")
	fs.BoolVar(&o.SyncWrites, "sync-writes", true, "store.sync_writes in the configuration (pollhook's default: true)")
	fs.IntVar(&o.MaxConcurrent, "max-concurrent-polls", 0, "limits.max_concurrent_polls (0: unset)")
	fs.DurationVar(&o.Warmup, "warmup", 10*time.Second, "wait after /readyz before measuring, so the start-up's baseline polls stay out of the figures")
	fs.DurationVar(&o.Duration, "duration", 60*time.Second, "measured window")
	fs.DurationVar(&o.ReadyTimeout, "ready-timeout", time.Minute, "longest wait for /readyz")
	fs.Float64Var(&o.MaxRSSMB, "max-rss-mb", 200, "goal: peak RSS (VmHWM) below this many MB (0: no goal)")
	fs.IntVar(&o.MaxMissedJobs, "max-missed-jobs", 0, "goal: at most this many jobs miss a tick by the sources' count, and at most this many ticks skipped by pollhook's (-1: no goal)")
	fs.Var((*loadkit.EnvFlag)(&o.Env), "env", "KEY=VALUE added to pollhook's environment (GOMEMLIMIT=..., GODEBUG=gctrace=1); repeatable")
	fs.StringVar(&o.Profile, "profile", "", "write pollhook's profiles over the window to this `dir` (cpu.pprof, heap.pprof, block.pprof, mutex.pprof, goroutine.txt); builds pollhook with an overlay serving net/http/pprof")
	fs.BoolVar(&o.Soak, "soak", false, "soak mode: keep the load up for --duration, sample RSS and goroutines every --sample-every and judge whether they stay flat")
	fs.DurationVar(&o.SampleEvery, "sample-every", 30*time.Second, "soak mode: time between two samples")
	fs.Float64Var(&o.FlatTolerance, "flat-tolerance", 0.10, "soak mode: growth of the last third's mean over the middle third's still called flat, as a fraction")
	fs.IntVar(&o.StartupRuns, "startup-runs", 0, "start-up mode: start pollhook this many times on an empty store and as many on the first run's store, timing each to /readyz 200 (0: off)")
	fs.BoolVar(&o.Keep, "keep", false, "keep the temporary directory (configuration, store, pollhook's log)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if o.Jobs < 1 || o.Sources < 1 || o.Items < 1 || o.Destinations < 1 {
		problems = append(problems, "--jobs, --sources, --items and --destinations must be at least 1")
	}
	if o.Interval < time.Second || o.Interval%time.Second != 0 {
		problems = append(problems, "--interval must be whole seconds (cron fires on seconds)")
	}
	if o.Jitter < 0 || o.Jitter >= o.Interval {
		problems = append(problems, "--jitter must be at least 0 and below --interval")
	}
	if o.Duration < 2*o.Interval {
		problems = append(problems, "--duration must be at least two intervals")
	}
	if o.Warmup < 0 || o.ChangeEvery < 0 || o.MaxRSSMB < 0 {
		problems = append(problems, "--warmup, --change-every and --max-rss-mb cannot be negative")
	}
	if o.Soak && (o.SampleEvery <= 0 || o.Duration < 3*o.SampleEvery) {
		problems = append(problems, "--soak needs a positive --sample-every and a --duration of at least three samples")
	}
	if o.FlatTolerance < 0 || o.StartupRuns < 0 {
		problems = append(problems, "--flat-tolerance and --startup-runs cannot be negative")
	}
	if o.StartupRuns > 0 && o.Soak {
		problems = append(problems, "--startup-runs and --soak are different modes: choose one")
	}
	if o.Profile != "" && (o.Soak || o.StartupRuns > 0) {
		problems = append(problems, "--profile is for the load mode only")
	}
	if o.Profile != "" && o.Binary != "" {
		problems = append(problems, "--profile builds pollhook itself: leave --binary out")
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, "pollhook-load:", p)
		}
		return o, errors.New("bad flags")
	}
	return o, nil
}

// run is the whole program; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return loadkit.ExitOK
	}
	if err != nil {
		return loadkit.ExitUsage
	}
	switch {
	case o.Soak:
		rep, err := soak(ctx, o, stdout, stderr)
		return finish(rep, err, stdout, stderr)
	case o.StartupRuns > 0:
		rep, err := startup(ctx, o, stderr)
		return finish(rep, err, stdout, stderr)
	}
	rep, err := measure(ctx, o, stderr)
	return finish(rep, err, stdout, stderr)
}

// result is what a mode reports.
type result interface {
	print(io.Writer) error
	ok() bool
}

func (r *report) ok() bool        { return r.OK }
func (r *soakReport) ok() bool    { return r.OK }
func (r *startupReport) ok() bool { return r.OK }

// finish prints a mode's report and returns the exit code.
func finish[R result](rep R, err error, stdout, stderr io.Writer) int {
	if err != nil {
		fmt.Fprintf(stderr, "pollhook-load: %v\n", err)
		return loadkit.ExitError
	}
	if err := rep.print(stdout); err != nil {
		fmt.Fprintf(stderr, "pollhook-load: %v\n", err)
		return loadkit.ExitError
	}
	if !rep.ok() {
		return loadkit.ExitGoalMissed
	}
	return loadkit.ExitOK
}
