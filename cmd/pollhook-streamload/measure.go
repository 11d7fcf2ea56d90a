package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pollhook/pollhook/cmd/internal/loadkit"
)

// Bounds of the harness itself.
const (
	progressEvery = 10 * time.Second
	// fdsPerTool is what the tool needs besides one descriptor per client:
	// the source's connections from pollhook, the log, the binaries.
	fdsPerTool = 256
)

// observations are the raw figures of one run.
type observations struct {
	Machine      machineInfo
	ReadyS       float64
	ConnectS     float64 // from the first connection to the last stream open
	DrainS       float64 // from the last change to the end of the window
	Start, End   cpuSample
	IdleRSSKB    int64   // pollhook before any client
	OpenRSSKB    int64   // with every client connected, before any event
	RSSKB        []int64 // once a second in the window
	FinalMem     memory  // at the end of the window, the clients still connected
	AllComplete  bool    // every client received everything before the drain ran out
	Clients      []*client
	DistinctIDs  int
	Latency      *latencies
	Webhooks     int64
	WebhookPosts int64
	Log          map[string]int
	Shutdown     shutdown
}

// raiseFileLimit lets the process open need descriptors.
func raiseFileLimit(need uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	if lim.Cur >= need {
		return nil
	}
	lim.Cur = need
	lim.Max = max(lim.Max, need) // raising the hard limit needs privileges
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raise RLIMIT_NOFILE to %d (ulimit -n; the hard limit needs root to go higher): %w", need, err)
	}
	return nil
}

// measure runs the whole load and returns its report.
func measure(ctx context.Context, o options, progress io.Writer) (*report, error) {
	if err := raiseFileLimit(uint64(o.Clients) + fdsPerTool); err != nil {
		return nil, err
	}
	sched, err := newSchedule(o.Jobs, o.Rate, o.ChangeEvery, o.Duration)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pollhook-streamload-")
	if err != nil {
		return nil, err
	}
	if o.Keep {
		defer fmt.Fprintf(progress, "kept %s (pollhook.yaml, pollhook.log, data/)\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	binary, err := kit.Binary(ctx, o.Binary, dir, o.Profile != "", progress)
	if err != nil {
		return nil, err
	}
	var obs observations
	if obs.Machine, err = loadkit.DescribeMachine(binary); err != nil {
		return nil, err
	}

	src, err := startSource(sched, o.ItemBytes)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	var cfg bytes.Buffer
	if err := writeConfig(&cfg, sched, src, o.PollEvery, o.Stream, o.token, filepath.Join(dir, "data")); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "pollhook.yaml")
	if err := os.WriteFile(cfgPath, cfg.Bytes(), 0o600); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "pollhook.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	logs := newLogWatcher(logFile)

	env, err := kit.ProfileEnv(o.Env, o.Profile)
	if err != nil {
		return nil, err
	}
	started := time.Now()
	d, err := loadkit.Start(binary, cfgPath, env, logs)
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			d.Stop(loadkit.StopTimeout)
		}
	}()
	addr, err := d.WaitReady(ctx, &http.Client{Timeout: 10 * time.Second}, 50*time.Millisecond, o.ReadyTimeout)
	if err != nil {
		return nil, err
	}
	if err := waitFirstPolls(ctx, d, src, o.ReadyTimeout); err != nil {
		return nil, err
	}
	obs.ReadyS = time.Since(started).Seconds()
	idle, err := loadkit.ReadMemory(d.PID())
	if err != nil {
		return nil, err
	}
	obs.IdleRSSKB = idle.RSSKB
	fmt.Fprintf(progress, "pollhook (pid %s) ready and every job polled after %.1fs; RSS %.1f MB; connecting %d clients\n",
		d.PID(), obs.ReadyS, float64(idle.RSSKB)/1024, o.Clients)

	if err := runClients(ctx, o, sched, src, d, addr, &obs, progress); err != nil {
		return nil, err
	}
	obs.Webhooks, obs.WebhookPosts = src.webhooks.Load(), src.hooks.Load()
	obs.Shutdown = d.Stop(loadkit.StopTimeout)
	stopped = true
	obs.Log = logs.Problems()
	return obs.report(o, sched), nil
}

// waitFirstPolls waits until every job has polled the source once, so
// that the schedule starts with every job's baseline taken.
func waitFirstPolls(ctx context.Context, d *daemon, src *source, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		missing := 0
		for j := range src.jobs {
			if src.polls(j) == 0 {
				missing++
			}
		}
		if missing == 0 {
			return nil
		}
		select {
		case <-tick.C:
		case <-d.Done():
			return d.Exited()
		case <-deadline.C:
			return fmt.Errorf("%d jobs not polled within %s", missing, timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// runClients connects the clients, starts the schedule, and observes the
// window until every client received everything or the drain ran out.
func runClients(ctx context.Context, o options, sched *schedule, src *source, d *daemon, addr string, obs *observations, progress io.Writer) error {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	obs.Latency = &latencies{}
	cache := newEventCache(sched, src.polled, obs.Latency)
	var completeN atomic.Int64
	allComplete := make(chan struct{})
	hooks := &clientHooks{
		cache: cache, reconnect: o.Reconnect,
		complete: func() {
			if completeN.Add(1) == int64(o.Clients) {
				close(allComplete)
			}
		},
	}
	url := "http://" + addr + "/api/v1/stream"
	if o.Query != "" {
		url += "?" + o.Query
	}
	target := streamTarget{url: url, token: o.token, client: newStreamClient(o.Clients)}
	defer target.client.CloseIdleConnections()

	clients := make([]*client, o.Clients)
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel, on every return
	defer cancel()
	var (
		failed   atomic.Int64
		errMu    sync.Mutex
		firstErr error
	)
	sem := make(chan struct{}, o.ConnectWorkers)
	connectStart := time.Now()
	connectDeadline := time.NewTimer(o.ConnectTimeout)
	defer connectDeadline.Stop()
	connectTimeout := fmt.Errorf("not every client's stream opened within %s", o.ConnectTimeout)
	// acquire takes a connecting slot, unless the connect deadline,
	// pollhook's exit or ctx comes first.
	acquire := func() error {
		select {
		case sem <- struct{}{}:
			return nil
		case <-connectDeadline.C:
			return connectTimeout
		case <-d.Done():
			return d.Exited()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for i := range clients {
		if err := acquire(); err != nil {
			return err
		}
		c := &client{tally: newTally(sched, obs.Latency)}
		clients[i] = c
		wg.Go(func() {
			var once sync.Once
			release := func() { once.Do(func() { <-sem }) }
			defer release()
			c.run(cctx, target, hooks, release)
			if c.Err != nil {
				failed.Add(1)
				errMu.Lock()
				firstErr = cmp(firstErr, c.Err)
				errMu.Unlock()
			}
		})
		if n := failed.Load(); n > 0 {
			break
		}
	}
	// Every stream is open (or failed) once every slot is free again.
	for range o.ConnectWorkers {
		if err := acquire(); err != nil {
			return err
		}
	}
	if n := failed.Load(); n > 0 {
		errMu.Lock()
		defer errMu.Unlock()
		return fmt.Errorf("%d clients could not subscribe; the first: %w", n, firstErr)
	}
	obs.ConnectS = time.Since(connectStart).Seconds()
	open, err := loadkit.ReadMemory(d.PID())
	if err != nil {
		return err
	}
	obs.OpenRSSKB = open.RSSKB
	fmt.Fprintf(progress, "%d streams open after %.1fs; RSS %.1f MB; source changing for %s (%d events per client, %g/s)\n",
		o.Clients, obs.ConnectS, float64(open.RSSKB)/1024, o.Duration, sched.total, sched.rate())

	if obs.Start, err = loadkit.SampleCPU(d.PID()); err != nil {
		return err
	}
	t0 := time.Now()
	cache.begin(t0)
	src.begin(t0)
	cpuProfile := make(chan error, 1)
	if o.Profile != "" {
		secs := max(1, int((sched.length()+o.PollEvery)/time.Second))
		go func() {
			cpuProfile <- loadkit.FetchProfile(ctx, d.Log().PprofAddr(), "profile?seconds="+strconv.Itoa(secs), filepath.Join(o.Profile, "cpu.pprof"))
		}()
	} else {
		cpuProfile <- nil
	}
	err = observe(ctx, o, sched, src, d, hooks, allComplete, &completeN, t0, obs, progress)
	err = errors.Join(err, <-cpuProfile)
	if err != nil {
		return err
	}
	if o.Profile != "" {
		if err := loadkit.FetchProfiles(ctx, d.Log().PprofAddr(), o.Profile, progress); err != nil {
			return err
		}
	}
	cancel()
	wg.Wait()
	obs.Clients = clients
	cache.mu.RLock()
	obs.DistinctIDs = len(cache.ids)
	cache.mu.RUnlock()
	return nil
}

// cmp keeps the first error.
func cmp(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// observe samples pollhook once a second from t0 until every client has
// every event or the drain runs out, and takes the window's end figures.
func observe(ctx context.Context, o options, sched *schedule, src *source, d *daemon, h *clientHooks, allComplete <-chan struct{}, completeN *atomic.Int64, t0 time.Time, obs *observations, progress io.Writer) error {
	lastChange := t0.Add(sched.length())
	// The last change is seen by the poll after it, then the events take
	// their time to the clients.
	deadline := time.NewTimer(time.Until(lastChange) + o.PollEvery + o.Drain)
	defer deadline.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastAt, lastN := t0, int64(0)
	done := false
	for !done {
		select {
		case <-allComplete:
			obs.AllComplete = true
			done = true
		case <-deadline.C:
			done = true
		case <-d.Done():
			return d.Exited()
		case <-ctx.Done():
			return ctx.Err()
		case now := <-tick.C:
			m, err := loadkit.ReadMemory(d.PID())
			if err != nil {
				return err
			}
			obs.RSSKB = append(obs.RSSKB, m.RSSKB)
			if now.Sub(lastAt) >= progressEvery {
				n := h.received.Load()
				fmt.Fprintf(progress, "  %3.0fs  %8.0f events/s to all clients (%.0f per client)  %d clients complete  RSS %5.1f MB\n",
					now.Sub(t0).Seconds(), float64(n-lastN)/now.Sub(lastAt).Seconds(),
					float64(n-lastN)/now.Sub(lastAt).Seconds()/float64(o.Clients), completeN.Load(), float64(m.RSSKB)/1024)
				lastAt, lastN = now, n
			}
		}
	}
	var err error
	if obs.End, err = loadkit.SampleCPU(d.PID()); err != nil {
		return err
	}
	obs.DrainS = max(0, obs.End.At.Sub(lastChange).Seconds())
	if obs.FinalMem, err = loadkit.ReadMemory(d.PID()); err != nil {
		return err
	}
	if !obs.AllComplete {
		fmt.Fprintf(progress, "drain ran out: %d of %d clients complete; every change shown to pollhook: %t\n", completeN.Load(), o.Clients, src.shownAll())
	}
	return nil
}
