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
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Bounds of the harness itself.
const (
	stopTimeout   = 15 * time.Second // SIGTERM to SIGKILL
	progressEvery = 10 * time.Second
	// fdsPerTool is what the tool needs besides one descriptor per client:
	// the source's connections from pollhook, the log, the binaries.
	fdsPerTool = 256
)

// cpuSample is the CPU time used until at.
type cpuSample struct {
	At       time.Time
	Pollhook float64 // seconds, user + system
	Tool     float64 // seconds, this process: the clients, the source, sampling
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

	env := o.Env
	if o.Profile != "" {
		if err := os.MkdirAll(o.Profile, 0o755); err != nil {
			return nil, err
		}
		env = append(env, pprofEnv+"=1")
	}
	started := time.Now()
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
	addr, err := d.waitReady(ctx, o.ReadyTimeout)
	if err != nil {
		return nil, err
	}
	if err := waitFirstPolls(ctx, d, src, o.ReadyTimeout); err != nil {
		return nil, err
	}
	obs.ReadyS = time.Since(started).Seconds()
	idle, err := readMemory(d.pid)
	if err != nil {
		return nil, err
	}
	obs.IdleRSSKB = idle.RSSKB
	fmt.Fprintf(progress, "pollhook (pid %s) ready and every job polled after %.1fs; RSS %.1f MB; connecting %d clients\n",
		d.pid, obs.ReadyS, float64(idle.RSSKB)/1024, o.Clients)

	if err := runClients(ctx, o, sched, src, d, addr, &obs, progress); err != nil {
		return nil, err
	}
	obs.Webhooks, obs.WebhookPosts = src.webhooks.Load(), src.hooks.Load()
	obs.Shutdown = d.stop(stopTimeout)
	stopped = true
	obs.Log = logs.problems()
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
		case <-d.done:
			return d.exited()
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
	for i := range clients {
		select {
		case sem <- struct{}{}:
		case <-connectDeadline.C:
			return connectTimeout
		case <-d.done:
			return d.exited()
		case <-ctx.Done():
			return ctx.Err()
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
		select {
		case sem <- struct{}{}:
		case <-connectDeadline.C:
			return connectTimeout
		case <-d.done:
			return d.exited()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if n := failed.Load(); n > 0 {
		errMu.Lock()
		defer errMu.Unlock()
		return fmt.Errorf("%d clients could not subscribe; the first: %w", n, firstErr)
	}
	obs.ConnectS = time.Since(connectStart).Seconds()
	open, err := readMemory(d.pid)
	if err != nil {
		return err
	}
	obs.OpenRSSKB = open.RSSKB
	fmt.Fprintf(progress, "%d streams open after %.1fs; RSS %.1f MB; source changing for %s (%d events per client, %g/s)\n",
		o.Clients, obs.ConnectS, float64(open.RSSKB)/1024, o.Duration, sched.total, sched.rate())

	if obs.Start, err = sampleCPU(d.pid); err != nil {
		return err
	}
	t0 := time.Now()
	cache.begin(t0)
	src.begin(t0)
	cpuProfile := make(chan error, 1)
	if o.Profile != "" {
		secs := max(1, int((sched.length()+o.PollEvery)/time.Second))
		go func() {
			cpuProfile <- fetchProfile(ctx, d.log.pprofAddr(), "profile?seconds="+strconv.Itoa(secs), filepath.Join(o.Profile, "cpu.pprof"))
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
		for _, p := range []struct{ query, file string }{
			{"heap", "heap.pprof"}, {"block", "block.pprof"}, {"mutex", "mutex.pprof"}, {"goroutine?debug=1", "goroutine.txt"},
		} {
			if err := fetchProfile(ctx, d.log.pprofAddr(), p.query, filepath.Join(o.Profile, p.file)); err != nil {
				return err
			}
		}
		fmt.Fprintf(progress, "profiles in %s (go tool pprof -top %s)\n", o.Profile, filepath.Join(o.Profile, "cpu.pprof"))
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
		case <-d.done:
			return d.exited()
		case <-ctx.Done():
			return ctx.Err()
		case now := <-tick.C:
			m, err := readMemory(d.pid)
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
	if obs.End, err = sampleCPU(d.pid); err != nil {
		return err
	}
	obs.DrainS = max(0, obs.End.At.Sub(lastChange).Seconds())
	if obs.FinalMem, err = readMemory(d.pid); err != nil {
		return err
	}
	if !obs.AllComplete {
		fmt.Fprintf(progress, "drain ran out: %d of %d clients complete; every change shown to pollhook: %t\n", completeN.Load(), o.Clients, src.shownAll())
	}
	return nil
}

// fetchProfile saves http://addr/debug/pprof/query into file.
func fetchProfile(ctx context.Context, addr, query, file string) error {
	if addr == "" {
		return errors.New("pollhook did not announce its pprof listener")
	}
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
