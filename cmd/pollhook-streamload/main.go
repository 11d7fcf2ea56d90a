// Command pollhook-streamload measures pollhook's Server-Sent Events
// stream at scale: it runs the real pollhook binary against a fake legacy
// API on 127.0.0.1 whose documents change on a fixed schedule (so that
// every event pollhook must emit is known in advance), subscribes many
// SSE clients to GET /api/v1/stream, and reports per client the events
// expected and received (missed, duplicated, out of order), the latency
// from the source's change to each client, and pollhook's RSS and CPU.
//
// Usage:
//
//	go run ./cmd/pollhook-streamload -clients 1000 -rate 100 -duration 60s
//
// It exits 0 when every client received every event exactly once and in
// order, 1 when one did not, 2 on bad flags and 3 when the measurement
// itself could not be made (pollhook would not start, has no stream
// endpoint, refused a client).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
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
	Binary         string
	Clients        int
	Rate           int
	Jobs           int
	Duration       time.Duration
	ChangeEvery    time.Duration
	PollEvery      time.Duration
	ItemBytes      int
	Query          string
	Stream         streamSettings
	ConnectWorkers int
	ReadyTimeout   time.Duration
	ConnectTimeout time.Duration
	Drain          time.Duration
	Reconnect      bool
	JSON           bool
	Keep           bool
	Profile        string
	Env            []string
	token          string // the admin token, drawn per run
}

// parseOptions parses args (without the program name).
func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("pollhook-streamload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Binary, "binary", "", "pollhook binary to run; empty: build "+loadkit.PollhookPackage+" into a temporary directory")
	fs.IntVar(&o.Clients, "clients", 1000, "concurrent SSE clients")
	fs.IntVar(&o.Rate, "rate", 100, "events per second pollhook emits, all jobs together")
	fs.IntVar(&o.Jobs, "jobs", 10, "jobs sharing the rate (each adds rate/jobs items per change period)")
	fs.DurationVar(&o.Duration, "duration", 60*time.Second, "how long the source keeps changing")
	fs.DurationVar(&o.ChangeEvery, "change-every", time.Second, "each job's document changes this often (the jobs spread over the period)")
	fs.DurationVar(&o.PollEvery, "poll-every", time.Second, "each job's schedule, as @every INTERVAL")
	fs.IntVar(&o.ItemBytes, "item-bytes", 100, "approximate size of each item, so of each event's after")
	fs.StringVar(&o.Query, "query", "", "query string of every subscription, e.g. types=item.created or job=stream-0,stream-1 (a job filter leaves the other jobs' events out of what is expected: use it with every job)")
	fs.IntVar(&o.Stream.MaxClients, "max-clients", 0, "streams.max_clients (0: clients + 100)")
	fs.IntVar(&o.Stream.Buffer, "buffer", 256, "streams.buffer, events held per client before it counts as slow")
	fs.DurationVar(&o.Stream.Heartbeat, "heartbeat", 15*time.Second, "streams.heartbeat")
	fs.DurationVar(&o.Stream.Retention, "retention", time.Hour, "streams.retention")
	fs.IntVar(&o.ConnectWorkers, "connect-workers", 64, "clients connecting at once")
	fs.DurationVar(&o.ReadyTimeout, "ready-timeout", time.Minute, "longest wait for /readyz and for every job's first poll")
	fs.DurationVar(&o.ConnectTimeout, "connect-timeout", time.Minute, "longest wait for every client's stream to open")
	fs.DurationVar(&o.Drain, "drain", 15*time.Second, "longest wait, after the last change and the poll that shows it, for every client to receive everything")
	fs.BoolVar(&o.Reconnect, "reconnect", false, "a client whose stream ends opens it again with Last-Event-ID (without: it stays gone and its later events count as missed)")
	fs.BoolVar(&o.JSON, "json", false, "print the report as one JSON object instead of a table")
	fs.BoolVar(&o.Keep, "keep", false, "keep the temporary directory (configuration, store, pollhook's log)")
	fs.StringVar(&o.Profile, "profile", "", "write pollhook's profiles over the window to this `dir` (cpu.pprof, heap.pprof, goroutine.txt, ...); builds pollhook with an overlay serving net/http/pprof")
	fs.Var((*loadkit.EnvFlag)(&o.Env), "env", "KEY=VALUE added to pollhook's environment (GOMAXPROCS=1, GODEBUG=gctrace=1); repeatable")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if o.Clients < 1 || o.ConnectWorkers < 1 || o.Stream.Buffer < 1 {
		problems = append(problems, "-clients, -connect-workers and -buffer must be at least 1")
	}
	if _, err := newSchedule(o.Jobs, o.Rate, o.ChangeEvery, o.Duration); err != nil {
		problems = append(problems, err.Error())
	}
	if o.PollEvery < time.Second || o.PollEvery%time.Second != 0 {
		problems = append(problems, "-poll-every must be whole seconds (cron fires on seconds)")
	}
	if o.Stream.MaxClients == 0 {
		o.Stream.MaxClients = o.Clients + 100
	}
	if o.Stream.MaxClients < o.Clients {
		problems = append(problems, fmt.Sprintf("-max-clients %d is below -clients %d: pollhook would refuse some", o.Stream.MaxClients, o.Clients))
	}
	if o.Stream.Heartbeat <= 0 || o.Stream.Retention <= 0 || o.Drain <= 0 || o.ReadyTimeout <= 0 || o.ConnectTimeout <= 0 {
		problems = append(problems, "-heartbeat, -retention, -drain, -ready-timeout and -connect-timeout must be positive")
	}
	if strings.HasPrefix(o.Query, "?") {
		o.Query = o.Query[1:]
	}
	if o.Profile != "" && o.Binary != "" {
		problems = append(problems, "-profile builds pollhook itself: leave -binary out")
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, "pollhook-streamload:", p)
		}
		return o, errors.New("bad flags")
	}
	var tok [16]byte
	_, _ = rand.Read(tok[:]) // crypto/rand.Read never fails
	o.token = hex.EncodeToString(tok[:])
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
	rep, err := measure(ctx, o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "pollhook-streamload: %v\n", err)
		return loadkit.ExitError
	}
	rep.Command = "pollhook-streamload " + strings.Join(args, " ")
	if o.JSON {
		err = rep.printJSON(stdout)
	} else {
		err = rep.printTable(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "pollhook-streamload: %v\n", err)
		return loadkit.ExitError
	}
	if !rep.OK {
		return loadkit.ExitGoalMissed
	}
	return loadkit.ExitOK
}
