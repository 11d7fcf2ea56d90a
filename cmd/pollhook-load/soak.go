package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"text/tabwriter"
	"time"

	"github.com/pollhook/pollhook/cmd/internal/loadkit"
)

// soakSample is one point of a soak's time series, read every
// --sample-every.
type soakSample struct {
	ElapsedS   float64 `json:"elapsed_s"` // since the warm-up ended
	RSSMB      float64 `json:"rss_mb"`
	Goroutines float64 `json:"goroutines"`
	HeapMB     float64 `json:"heap_inuse_mb"`
	PollsPerS  float64 `json:"polls_per_s"`    // since the sample before
	HooksPerS  float64 `json:"webhooks_per_s"` // since the sample before
	CPUCores   float64 `json:"cpu_cores"`      // pollhook's, since the sample before
}

// flatness compares a series' last third with its middle third: the first
// third is left out, as the time pollhook takes to reach its working set.
type flatness struct {
	MiddleMean float64 `json:"middle_mean"`
	LastMean   float64 `json:"last_mean"`
	Change     float64 `json:"change"`    // (last - middle) / middle
	Tolerance  float64 `json:"tolerance"` // growth allowed, as a fraction
	Flat       bool    `json:"flat"`
}

// flatOf judges values (at least 3) flat when the mean of the last third
// exceeds that of the middle third by at most tol of it. Falling is flat.
func flatOf(values []float64, tol float64) flatness {
	n := len(values)
	fl := flatness{Tolerance: tol}
	if n < 3 {
		return fl
	}
	fl.MiddleMean = mean(values[n/3 : 2*n/3])
	fl.LastMean = mean(values[2*n/3:])
	if fl.MiddleMean > 0 {
		fl.Change = (fl.LastMean - fl.MiddleMean) / fl.MiddleMean
	}
	fl.Flat = fl.LastMean <= fl.MiddleMean*(1+tol)
	return fl
}

func mean(v []float64) float64 {
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	return sum / float64(len(v))
}

// soakReport is the outcome of a soak.
type soakReport struct {
	Machine      machineInfo        `json:"machine"`
	Jobs         int                `json:"jobs"`
	Destinations int                `json:"destinations"`
	Schedule     string             `json:"schedule"`
	ChangeEvery  string             `json:"change_every"`
	SampleEvery  string             `json:"sample_every"`
	DurationS    float64            `json:"duration_s"`
	Samples      []soakSample       `json:"samples"`
	RSS          flatness           `json:"rss"`
	Goroutines   flatness           `json:"goroutines"`
	Polls        int64              `json:"polls"`
	PollsBy      map[string]float64 `json:"polls_by_result"` // pollhook's count over the soak
	Skipped      map[string]float64 `json:"skipped_ticks"`
	Webhooks     int64              `json:"webhooks_received"`
	Latency      latencySpread      `json:"latency"` // over the whole soak
	Log          map[string]int     `json:"log"`
	Shutdown     shutdown           `json:"shutdown"`
	OK           bool               `json:"ok"` // flat, no failed poll, a clean exit
}

// soak keeps the load running for o.Duration after the warm-up, sampling
// pollhook every o.SampleEvery and writing each sample to out as it comes.
func soak(ctx context.Context, o options, out, progress io.Writer) (*soakReport, error) {
	h, err := startHarness(ctx, o, progress)
	defer h.close(progress)
	if err != nil {
		return nil, err
	}
	r := &soakReport{Machine: h.machine, Jobs: o.Jobs, Destinations: o.Destinations, Schedule: "@every " + o.Interval.String(),
		ChangeEvery: o.ChangeEvery.String(), SampleEvery: o.SampleEvery.String()}
	m0, err := scrapeMetrics(ctx, h.client, h.addr)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	polls0, hooks0 := h.f.polls.Load(), h.f.webhooks.Load()
	prevAt, prevPolls, prevHooks := start, polls0, hooks0
	prevCPU, err := loadkit.CPUTime(h.d.PID())
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "%8s  %8s  %10s  %8s  %8s  %10s  %6s\n", "elapsed", "RSS MB", "goroutines", "heap MB", "polls/s", "webhooks/s", "cores")
	tick := time.NewTicker(o.SampleEvery)
	defer tick.Stop()
	// Whole samples: the soak lasts --duration rounded down to them.
	n := int(o.Duration / o.SampleEvery)
	for i := range n {
		select {
		case <-tick.C:
		case <-h.d.Done():
			return nil, h.d.Exited()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		now := time.Now()
		mem, err := loadkit.ReadMemory(h.d.PID())
		if err != nil {
			return nil, err
		}
		m, err := scrapeMetrics(ctx, h.client, h.addr)
		if err != nil {
			return nil, err
		}
		cpu, err := loadkit.CPUTime(h.d.PID())
		if err != nil {
			return nil, err
		}
		polls, hooks := h.f.polls.Load(), h.f.webhooks.Load()
		dt := now.Sub(prevAt).Seconds()
		s := soakSample{
			ElapsedS: now.Sub(start).Seconds(), RSSMB: float64(mem.RSSKB) / 1024,
			Goroutines: m.Gauges["go_goroutines"], HeapMB: m.Gauges["go_memstats_heap_inuse_bytes"] / (1 << 20),
			PollsPerS: float64(polls-prevPolls) / dt, HooksPerS: float64(hooks-prevHooks) / dt, CPUCores: (cpu - prevCPU) / dt,
		}
		r.Samples = append(r.Samples, s)
		fmt.Fprintf(out, "%7.0fs  %8.1f  %10.0f  %8.1f  %8.0f  %10.0f  %6.2f\n", s.ElapsedS, s.RSSMB, s.Goroutines, s.HeapMB, s.PollsPerS, s.HooksPerS, s.CPUCores)
		prevAt, prevPolls, prevHooks, prevCPU = now, polls, hooks, cpu
		if i == n-1 {
			d := m.since(m0)
			r.PollsBy, r.Skipped = nonZero(d.Polls), nonZero(d.Skipped)
		}
	}
	r.DurationS = time.Since(start).Seconds()
	r.Polls, r.Webhooks = h.f.polls.Load()-polls0, h.f.webhooks.Load()-hooks0
	r.Latency = spreadOf(h.f.latency.between(start, time.Now()))
	r.Shutdown = h.stop()
	r.Log = h.logs.Problems()
	r.judge(o.FlatTolerance)
	return r, nil
}

// judge computes the verdicts.
func (r *soakReport) judge(tol float64) {
	rss := make([]float64, len(r.Samples))
	gr := make([]float64, len(r.Samples))
	for i, s := range r.Samples {
		rss[i], gr[i] = s.RSSMB, s.Goroutines
	}
	r.RSS, r.Goroutines = flatOf(rss, tol), flatOf(gr, tol)
	r.OK = r.RSS.Flat && r.Goroutines.Flat && r.PollsBy["failed"] == 0 && r.Shutdown.ExitCode == 0 && !r.Shutdown.Killed
}

// print writes the summary, then the report as one line of JSON.
func (r *soakReport) print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "machine\t%d CPUs, %s, pollhook %s built with %s\n", r.Machine.CPUs, r.Machine.CPUModel, r.Machine.Revision, r.Machine.GoVersion)
	fmt.Fprintf(tw, "load\t%d jobs %s, each sending to %d destinations; one item of each job changes every %s\n", r.Jobs, r.Schedule, r.Destinations, r.ChangeEvery)
	fmt.Fprintf(tw, "soak\t%.0fs, %d samples every %s\n", r.DurationS, len(r.Samples), r.SampleEvery)
	fmt.Fprintf(tw, "polls\t%d (%.0f/s); pollhook's count by result: %s; skipped ticks: %s\n", r.Polls, float64(r.Polls)/math.Max(r.DurationS, 1), counts(r.PollsBy), counts(r.Skipped))
	fmt.Fprintf(tw, "webhooks\t%d received (%.0f/s); latency from the change p50 %.0f ms, p99 %.0f ms, max %.0f ms\n",
		r.Webhooks, float64(r.Webhooks)/math.Max(r.DurationS, 1), r.Latency.P50Ms, r.Latency.P99Ms, r.Latency.MaxMs)
	fmt.Fprintf(tw, "pollhook log\t%s\n", loadkit.LogCounts(r.Log))
	fmt.Fprintf(tw, "shutdown\texit code %d after %.1fs of SIGTERM (killed: %t)\n", r.Shutdown.ExitCode, r.Shutdown.Seconds, r.Shutdown.Killed)
	for _, v := range []struct {
		name, unit string
		fl         flatness
	}{{"RSS", " MB", r.RSS}, {"goroutines", "", r.Goroutines}} {
		verdict := "flat"
		if !v.fl.Flat {
			verdict = "GROWING"
		}
		fmt.Fprintf(tw, "verdict: %s\t%s: mean of the last third %.1f%s against %.1f%s in the middle third (%+.1f%%, tolerance +%.0f%%)\n",
			v.name, verdict, v.fl.LastMean, v.unit, v.fl.MiddleMean, v.unit, 100*v.fl.Change, 100*v.fl.Tolerance)
	}
	return flushWithJSON(tw, w, r)
}
