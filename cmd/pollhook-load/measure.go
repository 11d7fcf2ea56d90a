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
	"time"

	"github.com/pollhook/pollhook/cmd/internal/loadkit"
)

// Bounds of the harness itself.
const (
	progressEvery = 10 * time.Second
	// readyPoll is how often /readyz is asked: fine enough to time a
	// start-up of tens of milliseconds.
	readyPoll = 5 * time.Millisecond
)

// observations are the raw figures of one run, from which the report is
// computed.
type observations struct {
	Machine                    machineInfo
	ReadySeconds               float64
	Start, End                 cpuSample
	SourcesStart, SourcesEnd   sourceCounts
	MetricsStart, MetricsEnd   counters
	Webhooks, NotModified      int64           // in the window
	Latencies                  []time.Duration // of the webhooks received in the window
	UndatedWebhooks            int64           // received in the window, not a change the sources dated
	SourceConns, ReceiverConns int64           // connections opened in the window
	OpenSourceConns            int64           // at the end of the window
	RSSKB                      []int64
	HWMKB                      int64
	Log                        map[string]int
	Shutdown                   shutdown
}

// harness is a running load: the fleet of sources and receivers, and
// pollhook polling them, ready and warmed up.
type harness struct {
	o       options
	dir     string // temporary: configuration, store, pollhook's log
	binary  string
	machine machineInfo
	f       *fleet
	logs    *logWatcher
	logFile *os.File
	d       *daemon
	client  *http.Client
	addr    string  // pollhook's admin listener
	readyS  float64 // from the process's start to /readyz 200
	stopped bool
}

// startHarness builds pollhook unless o.Binary names one, starts the
// fleet and pollhook on a configuration of o.Jobs jobs, waits for /readyz
// and then o.Warmup. close undoes it all, whatever it returned.
func startHarness(ctx context.Context, o options, progress io.Writer) (*harness, error) {
	h := &harness{o: o, client: &http.Client{Timeout: 30 * time.Second}}
	var err error
	if h.dir, err = os.MkdirTemp("", "pollhook-load-"); err != nil {
		return h, err
	}
	if h.binary, err = kit.Binary(ctx, o.Binary, h.dir, o.Profile != "", progress); err != nil {
		return h, err
	}
	if h.machine, err = loadkit.DescribeMachine(h.binary); err != nil {
		return h, err
	}
	if h.f, err = startFleet(o.Jobs, o.Sources, o.Items, o.ChangeEvery, o.ETag, o.Destinations); err != nil {
		return h, err
	}
	cfgPath, err := h.writeConfig("data")
	if err != nil {
		return h, err
	}
	if h.logFile, err = os.Create(filepath.Join(h.dir, "pollhook.log")); err != nil {
		return h, err
	}
	h.logs = newLogWatcher(h.logFile)

	env, err := kit.ProfileEnv(o.Env, o.Profile)
	if err != nil {
		return h, err
	}
	started := time.Now()
	if h.d, err = loadkit.Start(h.binary, cfgPath, env, h.logs); err != nil {
		return h, err
	}
	if h.addr, err = h.d.WaitReady(ctx, h.client, readyPoll, o.ReadyTimeout); err != nil {
		return h, err
	}
	h.readyS = time.Since(started).Seconds()
	fmt.Fprintf(progress, "pollhook (pid %s) ready after %.2fs with %d jobs; warming up for %s\n", h.d.PID(), h.readyS, o.Jobs, o.Warmup)
	return h, h.d.Wait(ctx, o.Warmup)
}

// writeConfig writes the configuration of a store in dir/data and
// returns its path.
func (h *harness) writeConfig(data string) (string, error) {
	var cfg bytes.Buffer
	if err := writeConfig(&cfg, h.o, h.f, filepath.Join(h.dir, data)); err != nil {
		return "", err
	}
	cfgPath := filepath.Join(h.dir, "pollhook-"+data+".yaml")
	return cfgPath, os.WriteFile(cfgPath, cfg.Bytes(), 0o600)
}

// stop ends pollhook with SIGTERM and says how it went.
func (h *harness) stop() shutdown {
	h.stopped = true
	return h.d.Stop(loadkit.StopTimeout)
}

// close stops whatever startHarness started.
func (h *harness) close(progress io.Writer) {
	if h.d != nil && !h.stopped {
		h.stop()
	}
	if h.f != nil {
		h.f.Close()
	}
	if h.logFile != nil {
		h.logFile.Close()
	}
	if h.dir == "" {
		return
	}
	if h.o.Keep {
		fmt.Fprintf(progress, "kept %s (pollhook-*.yaml, pollhook.log, data/)\n", h.dir)
	} else {
		os.RemoveAll(h.dir)
	}
}

// measure runs the whole load and returns its report.
func measure(ctx context.Context, o options, progress io.Writer) (*report, error) {
	h, err := startHarness(ctx, o, progress)
	defer h.close(progress)
	if err != nil {
		return nil, err
	}
	obs := observations{Machine: h.machine, ReadySeconds: h.readyS}
	if err := observe(ctx, o, h.d, h.f, h.client, h.addr, &obs, progress); err != nil {
		return nil, err
	}
	obs.Shutdown = h.stop()
	obs.Log = h.logs.Problems()
	return obs.report(o), nil
}

// observe measures the window: CPU, memory, the sources' counts and
// pollhook's metrics at its start and end, and with o.Profile pollhook's
// profiles.
func observe(ctx context.Context, o options, d *daemon, f *fleet, client *http.Client, addr string, obs *observations, progress io.Writer) error {
	var err error
	// The scrapes cost pollhook CPU: they run outside the CPU window.
	if obs.MetricsStart, err = scrapeMetrics(ctx, client, addr); err != nil {
		return err
	}
	if obs.Start, err = loadkit.SampleCPU(d.PID()); err != nil {
		return err
	}
	obs.SourcesStart = f.snapshot(true)
	hooks0, nm0, undated0 := f.webhooks.Load(), f.notModified.Load(), f.latency.unknown.Load()
	sc0, rc0 := f.sourceConns.opened.Load(), f.receiverConns.opened.Load()
	fmt.Fprintf(progress, "measuring for %s\n", o.Duration)
	cpuProfile := make(chan error, 1)
	if o.Profile != "" {
		secs := max(1, int(o.Duration/time.Second)-1)
		go func() {
			cpuProfile <- loadkit.FetchProfile(ctx, d.Log().PprofAddr(), "profile?seconds="+strconv.Itoa(secs), filepath.Join(o.Profile, "cpu.pprof"))
		}()
	}
	obs.RSSKB, err = sampleRSS(ctx, d, f, o.Duration, progress)
	if o.Profile != "" {
		// Waited for even on error, so that no fetch outlives observe.
		err = errors.Join(err, <-cpuProfile)
	}
	if err != nil {
		return err
	}
	if obs.End, err = loadkit.SampleCPU(d.PID()); err != nil {
		return err
	}
	obs.SourcesEnd = f.snapshot(false)
	obs.Webhooks, obs.NotModified = f.webhooks.Load()-hooks0, f.notModified.Load()-nm0
	obs.Latencies, obs.UndatedWebhooks = f.latency.between(obs.Start.At, obs.End.At), f.latency.unknown.Load()-undated0
	obs.SourceConns, obs.ReceiverConns = f.sourceConns.opened.Load()-sc0, f.receiverConns.opened.Load()-rc0
	obs.OpenSourceConns = f.sourceConns.open.Load()
	mem, err := loadkit.ReadMemory(d.PID())
	if err != nil {
		return err
	}
	obs.HWMKB = mem.HWMKB
	if obs.MetricsEnd, err = scrapeMetrics(ctx, client, addr); err != nil {
		return err
	}
	if o.Profile != "" {
		return loadkit.FetchProfiles(ctx, d.Log().PprofAddr(), o.Profile, progress)
	}
	return nil
}

// sampleRSS reads pollhook's VmRSS every second for dur, and writes a line
// of progress every progressEvery.
func sampleRSS(ctx context.Context, d *daemon, f *fleet, dur time.Duration, progress io.Writer) ([]int64, error) {
	var out []int64
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	start := time.Now()
	end := time.NewTimer(dur)
	defer end.Stop()
	lastPolls, lastAt := f.polls.Load(), start
	for {
		select {
		case <-end.C:
			return out, nil
		case <-d.Done():
			return nil, d.Exited()
		case <-ctx.Done():
			return nil, ctx.Err()
		case now := <-tick.C:
			m, err := loadkit.ReadMemory(d.PID())
			if err != nil {
				return nil, err
			}
			out = append(out, m.RSSKB)
			if now.Sub(lastAt) >= progressEvery {
				polls := f.polls.Load()
				fmt.Fprintf(progress, "  %3.0fs  %7.0f polls/s  RSS %5.1f MB\n", now.Sub(start).Seconds(),
					float64(polls-lastPolls)/now.Sub(lastAt).Seconds(), float64(m.RSSKB)/1024)
				lastPolls, lastAt = polls, now
			}
		}
	}
}
