package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/pollhook/pollhook/cmd/internal/loadkit"
)

// startupReport is the time from starting pollhook's process to its first
// /readyz 200, asked every readyPoll.
type startupReport struct {
	Machine   machineInfo `json:"machine"`
	Jobs      int         `json:"jobs"`
	FreshMs   []float64   `json:"fresh_ms"`   // each on a new, empty store
	RestartMs []float64   `json:"restart_ms"` // each on the store the first run left
	Fresh     countSpread `json:"fresh"`
	Restart   countSpread `json:"restart"`
	OK        bool        `json:"ok"` // every run exited cleanly
}

// startup starts pollhook o.StartupRuns times on an empty store and as
// many times on the store of the first run, stopping it once ready.
func startup(ctx context.Context, o options, progress io.Writer) (*startupReport, error) {
	o.Warmup = 0
	h, err := startHarness(ctx, o, progress)
	defer h.close(progress)
	if err != nil {
		return nil, err
	}
	r := &startupReport{Machine: h.machine, Jobs: o.Jobs, FreshMs: []float64{h.readyS * 1000}, OK: true}
	if s := h.stop(); s.ExitCode != 0 || s.Killed {
		r.OK = false
	}
	for i := 1; i < 2*o.StartupRuns; i++ {
		data := "data"
		if i < o.StartupRuns {
			data = "data-" + strconv.Itoa(i)
		}
		cfg, err := h.writeConfig(data)
		if err != nil {
			return nil, err
		}
		started := time.Now()
		d, err := loadkit.Start(h.binary, cfg, o.Env, newLogWatcher(h.logFile))
		if err != nil {
			return nil, err
		}
		_, err = d.WaitReady(ctx, h.client, readyPoll, o.ReadyTimeout)
		ms := float64(time.Since(started)) / float64(time.Millisecond)
		s := d.Stop(loadkit.StopTimeout)
		if err != nil {
			return nil, err
		}
		if s.ExitCode != 0 || s.Killed {
			r.OK = false
		}
		if i < o.StartupRuns {
			r.FreshMs = append(r.FreshMs, ms)
		} else {
			r.RestartMs = append(r.RestartMs, ms)
		}
	}
	r.Fresh, r.Restart = spreadMs(r.FreshMs), spreadMs(r.RestartMs)
	return r, nil
}

func spreadMs(v []float64) countSpread {
	s := slices.Sorted(slices.Values(v))
	return countSpread{Min: pick(s, 0), Median: pick(s, 0.5), Max: pick(s, 1)}
}

func (r *startupReport) print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "machine\t%d CPUs, %s, pollhook %s built with %s\n", r.Machine.CPUs, r.Machine.CPUModel, r.Machine.Revision, r.Machine.GoVersion)
	fmt.Fprintf(tw, "start-up to /readyz 200, %d jobs\t(asked every %s)\n", r.Jobs, readyPoll)
	fmt.Fprintf(tw, "empty store\tmin %.0f ms, median %.0f ms, max %.0f ms (%d runs)\n", r.Fresh.Min, r.Fresh.Median, r.Fresh.Max, len(r.FreshMs))
	fmt.Fprintf(tw, "restart on its store\tmin %.0f ms, median %.0f ms, max %.0f ms (%d runs)\n", r.Restart.Min, r.Restart.Median, r.Restart.Max, len(r.RestartMs))
	if !r.OK {
		fmt.Fprintf(tw, "NOTE\ta run did not exit cleanly on SIGTERM\n")
	}
	return flushWithJSON(tw, w, r)
}
