package main

import (
	"bufio"
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Bounds of the harness itself.
const (
	stopTimeout   = 15 * time.Second // SIGTERM to SIGKILL; pollhook's own shutdown is bounded at 8 s
	progressEvery = 10 * time.Second
)

// cpuSample is the CPU time used until at.
type cpuSample struct {
	At       time.Time
	Pollhook float64 // seconds, user + system
	Tool     float64 // seconds, this process: sources, receiver, sampling
	Machine  machineCPU
}

func sampleCPU(pid string) (cpuSample, error) {
	s := cpuSample{At: time.Now()}
	var err error
	if s.Pollhook, err = cpuTime(pid); err != nil {
		return s, fmt.Errorf("pollhook's CPU time: %w", err)
	}
	if s.Tool, err = cpuTime("self"); err != nil {
		return s, fmt.Errorf("own CPU time: %w", err)
	}
	if s.Machine, err = readMachineCPU(); err != nil {
		return s, err
	}
	return s, nil
}

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
	h.binary = o.Binary
	if h.binary == "" {
		fmt.Fprintf(progress, "building %s\n", pollhookPackage)
		if h.binary, err = buildPollhook(ctx, h.dir, o.Profile != "", progress); err != nil {
			return h, err
		}
	}
	if h.machine, err = describeMachine(h.binary); err != nil {
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

	env := o.Env
	if o.Profile != "" {
		if err := os.MkdirAll(o.Profile, 0o755); err != nil {
			return h, err
		}
		env = append(env, pprofEnv+"=1")
	}
	started := time.Now()
	if h.d, err = startDaemon(h.binary, cfgPath, env, h.logs); err != nil {
		return h, err
	}
	if h.addr, err = h.d.waitReady(ctx, h.client, o.ReadyTimeout); err != nil {
		return h, err
	}
	h.readyS = time.Since(started).Seconds()
	fmt.Fprintf(progress, "pollhook (pid %s) ready after %.2fs with %d jobs; warming up for %s\n", h.d.pid, h.readyS, o.Jobs, o.Warmup)
	return h, wait(ctx, h.d, o.Warmup)
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
	return h.d.stop(stopTimeout)
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
	obs.Log = h.logs.problems()
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
	if obs.Start, err = sampleCPU(d.pid); err != nil {
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
			cpuProfile <- fetch(ctx, d.log.pprofAddr(), "profile?seconds="+strconv.Itoa(secs), filepath.Join(o.Profile, "cpu.pprof"))
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
	if obs.End, err = sampleCPU(d.pid); err != nil {
		return err
	}
	obs.SourcesEnd = f.snapshot(false)
	obs.Webhooks, obs.NotModified = f.webhooks.Load()-hooks0, f.notModified.Load()-nm0
	obs.Latencies, obs.UndatedWebhooks = f.latency.between(obs.Start.At, obs.End.At), f.latency.unknown.Load()-undated0
	obs.SourceConns, obs.ReceiverConns = f.sourceConns.opened.Load()-sc0, f.receiverConns.opened.Load()-rc0
	obs.OpenSourceConns = f.sourceConns.open.Load()
	mem, err := readMemory(d.pid)
	if err != nil {
		return err
	}
	obs.HWMKB = mem.HWMKB
	if obs.MetricsEnd, err = scrapeMetrics(ctx, client, addr); err != nil {
		return err
	}
	if o.Profile != "" {
		for _, p := range []struct{ query, file string }{
			{"heap", "heap.pprof"}, {"block", "block.pprof"}, {"mutex", "mutex.pprof"}, {"goroutine?debug=1", "goroutine.txt"},
		} {
			if err := fetch(ctx, d.log.pprofAddr(), p.query, filepath.Join(o.Profile, p.file)); err != nil {
				return err
			}
		}
		fmt.Fprintf(progress, "profiles in %s (go tool pprof -top %s)\n", o.Profile, filepath.Join(o.Profile, "cpu.pprof"))
	}
	return nil
}

// fetch saves http://addr/debug/pprof/query into file.
func fetch(ctx context.Context, addr, query, file string) error {
	if addr == "" {
		return errors.New("pollhook did not announce its pprof listener")
	}
	// A CPU profile takes as long as it asks for: no client timeout.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/pprof/"+query, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("pprof %s: %w", query, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof %s: status %d", query, resp.StatusCode)
	}
	out, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		out.Close()
		return fmt.Errorf("pprof %s: %w", query, err)
	}
	return out.Close()
}

// wait waits for d, but returns an error when pollhook exits or ctx ends.
func wait(ctx context.Context, d *daemon, dur time.Duration) error {
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-d.done:
		return d.exited()
	case <-ctx.Done():
		return ctx.Err()
	}
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
		case <-d.done:
			return nil, d.exited()
		case <-ctx.Done():
			return nil, ctx.Err()
		case now := <-tick.C:
			m, err := readMemory(d.pid)
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

// machineInfo names what the figures were measured on.
type machineInfo struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	GoVersion string `json:"go_version"` // the one pollhook was built with
	Revision  string `json:"revision"`   // pollhook's commit, "+changes" when built from a modified tree
}

func describeMachine(binary string) (machineInfo, error) {
	m := machineInfo{CPUs: runtime.NumCPU(), CPUModel: "unknown"}
	bi, err := buildinfo.ReadFile(binary)
	if err != nil {
		return m, fmt.Errorf("read the build info of %s: %w", binary, err)
	}
	m.GoVersion = bi.GoVersion
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	m.Revision = "unknown"
	if rev != "" {
		m.Revision = rev[:min(len(rev), 12)]
		if modified == "true" {
			m.Revision += "+changes"
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if name, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(name) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m, nil
}
