package main

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// healthyRun is 4 jobs polled every second for 10 s, all goals met.
func healthyRun() observations {
	t0 := time.Unix(1700000000, 0)
	return observations{
		Machine:      machineInfo{CPUs: 2, CPUModel: "test", GoVersion: "go1.26"},
		Start:        cpuSample{At: t0, Pollhook: 100, Tool: 10, Machine: machineCPU{Busy: 1000, IRQ: 50}},
		End:          cpuSample{At: t0.Add(10 * time.Second), Pollhook: 102, Tool: 10.5, Machine: machineCPU{Busy: 1004, IRQ: 50.5}},
		SourcesStart: sourceCounts{Polls: []int64{5, 5, 5, 5}},
		SourcesEnd: sourceCounts{Polls: []int64{15, 15, 14, 16},
			MaxGap: []time.Duration{1100 * time.Millisecond, 1200 * time.Millisecond, 1150 * time.Millisecond, 1190 * time.Millisecond}},
		MetricsStart: counters{Polls: map[string]float64{"baseline": 4, "unchanged": 16}, Duration: []bucket{{0.01, 20}, {math.Inf(1), 20}}},
		MetricsEnd: counters{Polls: map[string]float64{"baseline": 4, "unchanged": 52, "changed": 4}, Skipped: map[string]float64{"backoff": 2},
			Duration: []bucket{{0.01, 58}, {math.Inf(1), 60}}},
		RSSKB: []int64{30 * 1024, 20 * 1024, 25 * 1024},
		HWMKB: 28 * 1024,
	}
}

func TestReport(t *testing.T) {
	o := options{Jobs: 4, Sources: 1, Items: 10, Interval: time.Second, Jitter: 200 * time.Millisecond, MaxRSSMB: 200}
	r := healthyRun().report(o)
	checks := []struct {
		name      string
		got, want any
	}{
		{"window", r.WindowS, 10.0},
		{"polls", r.Polls, int64(40)},
		{"polls/s", r.PollsPerS, 4.0},
		{"per job", r.PerJobPolls, countSpread{Min: 9, Median: 10, Max: 11}},
		{"missed jobs", r.MissedJobs, 0},
		{"gaps", r.MaxGapS, tailSpread{Median: 1.19, P99: 1.2, Max: 1.2}},
		{"by result (baseline left out)", r.PollsByResult, map[string]float64{"unchanged": 36, "changed": 4}},
		{"skipped", r.Skipped, map[string]float64{"backoff": 2}},
		{"CPU s", r.CPUS, 2.0},
		{"CPU s per 1000 polls", r.CPUSPer1000Polls, 50.0},
		{"tool cores", r.ToolCPUCores, 0.05},
		{"IRQ cores", r.IRQCores, 0.05},
		// Busy 0.4 cores: pollhook 0.2, tool 0.05, IRQ 0.05.
		{"other cores", math.Round(r.OtherCores*1000) / 1000, 0.1},
		{"RSS", r.RSSMB, countSpread{Min: 20, Median: 25, Max: 30}},
		{"peak: the highest sample beats a lazy VmHWM", r.PeakRSSMB, 30.0},
		{"ok", r.OK, true},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	// 20 of the 38 polls in the window fell in the first bucket (up to 10 ms).
	if r.PollP50Ms == nil || math.Abs(*r.PollP50Ms-10*20.0/38) > 1e-9 || r.PollP99Ms == nil || *r.PollP99Ms != 10 {
		t.Errorf("poll p50 %v ms, p99 %v ms; want %v and 10", r.PollP50Ms, r.PollP99Ms, 10*20.0/38)
	}
	var b bytes.Buffer
	if err := r.print(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	var back report
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &back); err != nil {
		t.Fatalf("last line is not the report as JSON: %v\n%s", err, b.String())
	}
	if !reflect.DeepEqual(&back, r) {
		t.Errorf("JSON line decodes to\n%+v\nwant\n%+v", back, *r)
	}
}

func TestReportGoals(t *testing.T) {
	o := options{Jobs: 4, Interval: time.Second, MaxRSSMB: 200, MaxMissedJobs: 0}
	tests := []struct {
		name   string
		change func(*observations, *options)
		missed []string // the goals missed
	}{
		{"all met", func(*observations, *options) {}, nil},
		{"RSS over", func(obs *observations, _ *options) { obs.HWMKB = 200 * 1024 }, []string{"peak RSS"}},
		{"RSS over, no goal", func(obs *observations, o *options) { obs.HWMKB = 300 * 1024; o.MaxRSSMB = 0 }, nil},
		{"a job polled twice less", func(obs *observations, _ *options) { obs.SourcesEnd.Polls[2] = 13 }, []string{"missed ticks (sources)"}},
		{"a skipped tick", func(obs *observations, _ *options) { obs.MetricsEnd.Skipped["running"] = 1 }, []string{"skipped ticks (pollhook)"}},
		{"missed ticks allowed", func(obs *observations, o *options) {
			obs.SourcesEnd.Polls[2] = 13
			obs.MetricsEnd.Skipped["concurrency"] = 1
			o.MaxMissedJobs = 1
		}, nil},
		{"missed ticks, no goal", func(obs *observations, o *options) { obs.SourcesEnd.Polls[2] = 1; o.MaxMissedJobs = -1 }, nil},
		{"a failed poll", func(obs *observations, _ *options) { obs.MetricsEnd.Polls["failed"] = 1 }, []string{"failed polls"}},
		{"killed", func(obs *observations, _ *options) { obs.Shutdown = shutdown{ExitCode: -1, Killed: true} }, []string{"clean exit"}},
		{"exit 1", func(obs *observations, _ *options) { obs.Shutdown = shutdown{ExitCode: 1} }, []string{"clean exit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs, o := healthyRun(), o
			tt.change(&obs, &o)
			r := obs.report(o)
			var missed []string
			for _, g := range r.Goals {
				if !g.OK {
					missed = append(missed, g.Name)
				}
			}
			if !reflect.DeepEqual(missed, tt.missed) || r.OK != (len(tt.missed) == 0) {
				t.Errorf("missed %v (ok %t), want %v; goals %+v", missed, r.OK, tt.missed, r.Goals)
			}
		})
	}
}
