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
	Webhooks, NotModified      int64 // in the window
	SourceConns, ReceiverConns int64 // connections opened in the window
	OpenSourceConns            int64 // at the end of the window
	RSSKB                      []int64
	HWMKB                      int64
	Log                        map[string]int
	Shutdown                   shutdown
}

// measure runs the whole load and returns its report.
func measure(ctx context.Context, o options, progress io.Writer) (*report, error) {
	dir, err := os.MkdirTemp("", "pollhook-load-")
	if err != nil {
		return nil, err
	}
	if o.Keep {
		defer fmt.Fprintf(progress, "kept %s (pollhook.yaml, pollhook.log, data/)\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	binary := o.Binary
	if binary == "" {
		fmt.Fprintf(progress, "building %s\n", pollhookPackage)
		if binary, err = buildPollhook(ctx, dir, o.Profile != "", progress); err != nil {
			return nil, err
		}
	}
	var obs observations
	if obs.Machine, err = describeMachine(binary); err != nil {
		return nil, err
	}

	f, err := startFleet(o.Jobs, o.Sources, o.Items, o.ChangeEvery, o.ETag)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var cfg bytes.Buffer
	if err := writeConfig(&cfg, o, f, filepath.Join(dir, "data")); err != nil {
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

	started := time.Now()
	env := o.Env
	if o.Profile != "" {
		if err := os.MkdirAll(o.Profile, 0o755); err != nil {
			return nil, err
		}
		env = append(env, pprofEnv+"=1")
	}
	d, err := startDaemon(binary, cfgPath, env, logs)
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			d.stop(stopTimeout)
		}
	}()
	client := &http.Client{Timeout: 30 * time.Second}
	addr, err := d.waitReady(ctx, client, o.ReadyTimeout)
	if err != nil {
		return nil, err
	}
	obs.ReadySeconds = time.Since(started).Seconds()
	fmt.Fprintf(progress, "pollhook (pid %s) ready after %.1fs with %d jobs; warming up for %s\n", d.pid, obs.ReadySeconds, o.Jobs, o.Warmup)
	if err := wait(ctx, d, o.Warmup); err != nil {
		return nil, err
	}

	if err := observe(ctx, o, d, f, client, addr, &obs, progress); err != nil {
		return nil, err
	}
	obs.Shutdown = d.stop(stopTimeout)
	stopped = true
	obs.Log = logs.problems()
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
	hooks0, nm0 := f.webhooks.Load(), f.notModified.Load()
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
