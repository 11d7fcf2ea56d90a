package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/pollhook/pollhook/cmd/internal/loadkit"
	"github.com/pollhook/pollhook/scheduler"
)

// report is the outcome of one run, printed as a table and as one line
// of JSON.
type report struct {
	Machine     machineInfo `json:"machine"`
	Jobs        int         `json:"jobs"`
	Sources     int         `json:"sources"`
	Items       int         `json:"items"`
	Schedule    string      `json:"schedule"`
	Jitter      string      `json:"jitter"`
	ChangeEvery string      `json:"change_every"`
	ETag        bool        `json:"etag"`
	Dests       int         `json:"destinations"`
	SyncWrites  bool        `json:"sync_writes"`
	MaxConc     int         `json:"max_concurrent_polls,omitempty"`
	Env         []string    `json:"env,omitempty"`
	ReadyS      float64     `json:"ready_s"`
	WarmupS     float64     `json:"warmup_s"`
	WindowS     float64     `json:"window_s"`

	Polls         int64              `json:"polls"` // requests the sources answered in the window
	PollsPerS     float64            `json:"polls_per_s"`
	PollsByResult map[string]float64 `json:"polls_by_result"` // pollhook's count in the window
	Skipped       map[string]float64 `json:"skipped_ticks"`   // by reason, pollhook's count
	Changes       float64            `json:"changes_committed"`
	Webhooks      int64              `json:"webhooks_received"`
	// Latency is from a source's change to its webhook's arrival, for the
	// webhooks received in the window.
	Latency      latencySpread `json:"latency"`
	Undated      int64         `json:"undated_webhooks"`
	NotModified  int64         `json:"not_modified_sent"`
	SourceConns  int64         `json:"source_conns_opened"`   // by pollhook, in the window
	OpenSrcConns int64         `json:"source_conns_open"`     // at the end of the window
	RecvConns    int64         `json:"receiver_conns_opened"` // by pollhook, in the window
	PerJobPolls  countSpread   `json:"per_job_polls"`
	MissedJobs   int           `json:"missed_jobs"` // jobs the sources saw fewer than expected-1 times
	MaxGapS      tailSpread    `json:"max_gap_s"`   // per job, the longest time between two polls
	PollP50Ms    *float64      `json:"poll_p50_ms"` // from the histogram buckets; null without polls
	PollP99Ms    *float64      `json:"poll_p99_ms"`

	CPUS             float64     `json:"cpu_s"`
	CPUCores         float64     `json:"cpu_cores"`
	CPUSPer1000Polls float64     `json:"cpu_s_per_1000_polls"`
	ToolCPUS         float64     `json:"tool_cpu_s"`
	ToolCPUCores     float64     `json:"tool_cpu_cores"`
	MachineBusy      float64     `json:"machine_busy_cores"`
	IRQCores         float64     `json:"irq_cores"`   // interrupts and softirqs, charged to no process
	OtherCores       float64     `json:"other_cores"` // machine busy minus pollhook, the tool and IRQ: other processes
	RSSMB            countSpread `json:"rss_mb"`      // samples once a second in the window
	// PeakRSSMB is the larger of VmHWM at the end and the highest sample:
	// the kernel updates VmHWM lazily, so it can miss a peak it no longer holds.
	PeakRSSMB float64 `json:"peak_rss_mb"`

	Gauges   map[string]float64 `json:"gauges"`
	Log      map[string]int     `json:"log"`
	Shutdown shutdown           `json:"shutdown"`
	Goals    loadkit.Goals      `json:"goals"`
	OK       bool               `json:"ok"`
}

// countSpread summarises a distribution whose low end matters.
type countSpread struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}

// tailSpread summarises a distribution whose high end matters.
type tailSpread struct {
	Median float64 `json:"median"`
	P99    float64 `json:"p99"`
	Max    float64 `json:"max"`
}

// missedSkips are pollhook's skip reasons that are missed ticks (backoff
// is a chosen wait, not a miss).
var missedSkips = []string{scheduler.SkipRunning, scheduler.SkipConcurrency, scheduler.SkipHostRate}

// report computes the figures and checks the goals.
func (obs observations) report(o options) *report {
	window := obs.End.At.Sub(obs.Start.At).Seconds()
	m := obs.MetricsEnd.since(obs.MetricsStart)
	r := &report{
		Machine: obs.Machine, Jobs: o.Jobs, Sources: o.Sources, Items: o.Items,
		Schedule: "@every " + o.Interval.String(), Jitter: o.Jitter.String(), ChangeEvery: o.ChangeEvery.String(),
		ETag: o.ETag, Dests: o.Destinations, SyncWrites: o.SyncWrites, MaxConc: o.MaxConcurrent, Env: o.Env,
		ReadyS: obs.ReadySeconds, WarmupS: o.Warmup.Seconds(), WindowS: window,
		PollsByResult: nonZero(m.Polls), Skipped: nonZero(m.Skipped), Changes: m.Changes,
		Webhooks: obs.Webhooks, NotModified: obs.NotModified, Latency: spreadOf(obs.Latencies), Undated: obs.UndatedWebhooks,
		SourceConns: obs.SourceConns, OpenSrcConns: obs.OpenSourceConns, RecvConns: obs.ReceiverConns,
		Gauges: m.Gauges, Log: obs.Log, Shutdown: obs.Shutdown,
	}

	perJob := make([]float64, len(obs.SourcesEnd.Polls))
	gaps := make([]float64, len(perJob))
	// A job whose schedule fires every interval is polled window/interval
	// times, give or take one for where the window's ends fall between
	// its polls; fewer than that minus one is a missed tick.
	expected := math.Floor(window / o.Interval.Seconds())
	for i := range perJob {
		n := obs.SourcesEnd.Polls[i] - obs.SourcesStart.Polls[i]
		r.Polls += n
		perJob[i] = float64(n)
		if float64(n) < expected-1 {
			r.MissedJobs++
		}
		gaps[i] = obs.SourcesEnd.MaxGap[i].Seconds()
	}
	slices.Sort(perJob)
	slices.Sort(gaps)
	r.PerJobPolls = countSpread{Min: pick(perJob, 0), Median: pick(perJob, 0.5), Max: pick(perJob, 1)}
	r.MaxGapS = tailSpread{Median: pick(gaps, 0.5), P99: pick(gaps, 0.99), Max: pick(gaps, 1)}
	r.PollP50Ms = millis(quantile(0.5, m.Duration))
	r.PollP99Ms = millis(quantile(0.99, m.Duration))

	if window > 0 {
		r.PollsPerS = float64(r.Polls) / window
	}
	u := obs.End.Since(obs.Start)
	r.CPUS, r.CPUCores, r.ToolCPUS, r.ToolCPUCores = u.PollhookS, u.PollhookCores, u.ToolS, u.ToolCores
	r.MachineBusy, r.IRQCores, r.OtherCores = u.MachineBusy, u.IRQCores, u.OtherCores
	if r.Polls > 0 {
		r.CPUSPer1000Polls = r.CPUS / float64(r.Polls) * 1000
	}
	rss := make([]float64, len(obs.RSSKB))
	for i, kb := range obs.RSSKB {
		rss[i] = float64(kb) / 1024
	}
	slices.Sort(rss)
	r.RSSMB = countSpread{Min: pick(rss, 0), Median: pick(rss, 0.5), Max: pick(rss, 1)}
	r.PeakRSSMB = max(float64(obs.HWMKB)/1024, r.RSSMB.Max)

	r.check(o)
	return r
}

// check evaluates the goals.
func (r *report) check(o options) {
	if o.MaxRSSMB > 0 {
		r.Goals.Add("peak RSS", r.PeakRSSMB < o.MaxRSSMB, "%.1f MB, goal below %g MB", r.PeakRSSMB, o.MaxRSSMB)
	}
	if o.MaxMissedJobs >= 0 {
		r.Goals.Add("missed ticks (sources)", r.MissedJobs <= o.MaxMissedJobs,
			"%d jobs polled fewer than %.0f times in %.1fs, goal at most %d", r.MissedJobs, math.Floor(r.WindowS/o.Interval.Seconds())-1, r.WindowS, o.MaxMissedJobs)
		skipped := 0.0
		for _, reason := range missedSkips {
			skipped += r.Skipped[reason]
		}
		r.Goals.Add("skipped ticks (pollhook)", skipped <= float64(o.MaxMissedJobs), "%.0f skipped (running, concurrency, host_rate), goal at most %d", skipped, o.MaxMissedJobs)
	}
	r.Goals.Add("failed polls", r.PollsByResult["failed"] == 0, "%.0f", r.PollsByResult["failed"])
	r.Goals.Add("clean exit", r.Shutdown.ExitCode == 0 && !r.Shutdown.Killed, "exit code %d after %.1fs of SIGTERM", r.Shutdown.ExitCode, r.Shutdown.Seconds)
	r.OK = r.Goals.Met()
}

// print writes the table, then the JSON line.
func (r *report) print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "machine\t%d CPUs, %s, pollhook %s built with %s\n", r.Machine.CPUs, r.Machine.CPUModel, r.Machine.Revision, r.Machine.GoVersion)
	fmt.Fprintf(tw, "load\t%d jobs %s, jitter %s, on %d sources; %d items, one changes every %s per job; %d destinations; etag %t, sync_writes %t\n",
		r.Jobs, r.Schedule, r.Jitter, r.Sources, r.Items, r.ChangeEvery, r.Dests, r.ETag, r.SyncWrites)
	fmt.Fprintf(tw, "window\t%.1fs, after ready in %.1fs and %.0fs of warm-up\n", r.WindowS, r.ReadyS, r.WarmupS)
	fmt.Fprintf(tw, "polls\t%d (%.1f/s); pollhook's count by result: %s\n", r.Polls, r.PollsPerS, counts(r.PollsByResult))
	fmt.Fprintf(tw, "polls per job\tmin %.0f, median %.0f, max %.0f; jobs missing a tick: %d\n", r.PerJobPolls.Min, r.PerJobPolls.Median, r.PerJobPolls.Max, r.MissedJobs)
	fmt.Fprintf(tw, "longest gap per job\tmedian %.2fs, p99 %.2fs, max %.2fs\n", r.MaxGapS.Median, r.MaxGapS.P99, r.MaxGapS.Max)
	fmt.Fprintf(tw, "skipped ticks\t%s\n", counts(r.Skipped))
	fmt.Fprintf(tw, "poll duration\tp50 %s, p99 %s (histogram buckets, interpolated)\n", ms(r.PollP50Ms), ms(r.PollP99Ms))
	fmt.Fprintf(tw, "changes, webhooks\t%.0f change events committed, %d webhooks received, %d 304s sent\n", r.Changes, r.Webhooks, r.NotModified)
	fmt.Fprintf(tw, "latency\tsource change to webhook received: p50 %.0f ms, p99 %.0f ms, max %.0f ms (%d webhooks; %d undated)\n",
		r.Latency.P50Ms, r.Latency.P99Ms, r.Latency.MaxMs, r.Latency.Count, r.Undated)
	fmt.Fprintf(tw, "connections\t%d opened to the sources (%d open at the end), %d to the receiver\n", r.SourceConns, r.OpenSrcConns, r.RecvConns)
	fmt.Fprintf(tw, "pollhook CPU\t%.1fs = %.2f cores; %.3f CPU-s per 1,000 polls\n", r.CPUS, r.CPUCores, r.CPUSPer1000Polls)
	fmt.Fprintf(tw, "tool CPU\t%.1fs = %.2f cores (sources, receiver, sampling)\n", r.ToolCPUS, r.ToolCPUCores)
	fmt.Fprintf(tw, "machine busy\t%.2f of %d cores: interrupts %.2f (loopback TCP), other processes %.2f\n", r.MachineBusy, r.Machine.CPUs, r.IRQCores, r.OtherCores)
	fmt.Fprintf(tw, "RSS\tmin %.1f, median %.1f, max %.1f MB in the window; peak (VmHWM, whole life) %.1f MB\n", r.RSSMB.Min, r.RSSMB.Median, r.RSSMB.Max, r.PeakRSSMB)
	fmt.Fprintf(tw, "pollhook runtime\t%s\n", gauges(r.Gauges))
	fmt.Fprintf(tw, "pollhook log\t%s\n", loadkit.LogCounts(r.Log))
	loadkit.NoteOtherCores(tw, r.OtherCores)
	r.Goals.Print(tw)
	return flushWithJSON(tw, w, r)
}

// flushWithJSON ends a mode's report: the table, then the report as one
// line of JSON, which pollhook-bench reads.
func flushWithJSON(tw *tabwriter.Writer, w io.Writer, r any) error {
	if err := tw.Flush(); err != nil {
		return err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// pick returns the q-quantile (0..1) of sorted values by nearest rank; 0
// for none.
func pick(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(math.Round(q*float64(len(sorted)-1)))]
}

func millis(seconds float64) *float64 {
	if math.IsNaN(seconds) {
		return nil
	}
	v := seconds * 1000
	return &v
}

func ms(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f ms", *v)
}

func nonZero(m map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

func counts(m map[string]float64) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func gauges(m map[string]float64) string {
	return fmt.Sprintf("%.0f goroutines, stacks %.1f MB, heap in use %.1f MB, next GC at %.1f MB, from the OS %.1f MB (at the end)",
		m["go_goroutines"], m["go_memstats_stack_inuse_bytes"]/(1<<20), m["go_memstats_heap_inuse_bytes"]/(1<<20),
		m["go_memstats_next_gc_bytes"]/(1<<20), m["go_memstats_sys_bytes"]/(1<<20))
}
