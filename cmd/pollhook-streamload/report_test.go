package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestReport builds a report from three clients, one complete, one that
// missed two events and was dropped, one with a duplicate, and checks the
// sums, the goals and both outputs.
func TestReport(t *testing.T) {
	s, err := newSchedule(2, 4, time.Second, 2*time.Second) // 8 events
	if err != nil {
		t.Fatal(err)
	}
	lat := &latencies{}
	cache := newEventCache(s, func(int, int) int64 { return 0 }, lat)
	start := time.Unix(1_700_000_000, 0)
	cache.begin(start)
	var all []*eventInfo
	n := 0
	for j := range 2 {
		for id := 1; id <= 4; id++ {
			n++
			all = append(all, cache.get(fakeEvent(s, "evt_0"+string(rune('0'+n)), j, id, start)))
		}
	}
	mk := func(infos ...*eventInfo) *tally {
		tl := newTally(s, lat)
		for _, i := range infos {
			tl.add(i, i.data, start.Add(1500*time.Millisecond).UnixNano())
		}
		return tl
	}
	obs := &observations{
		Clients: []*client{
			{tally: mk(all...), Connects: 1, Heartbeats: 2},
			{tally: mk(all[:6]...), Connects: 1, Dropped: `{"reason":"slow"}`, Drops: 1, Ended: "closed by pollhook"},
			{tally: mk(append(all[:1:1], all...)...), Connects: 2},
		},
		Latency:   lat,
		Start:     cpuSample{At: start, Pollhook: 10, Tool: 1},
		End:       cpuSample{At: start.Add(4 * time.Second), Pollhook: 12, Tool: 3},
		IdleRSSKB: 10 << 10, OpenRSSKB: 20 << 10, RSSKB: []int64{21 << 10, 25 << 10},
		FinalMem: memory{RSSKB: 22 << 10, HWMKB: 24 << 10},
	}
	o := options{Clients: 3, Jobs: 2, Rate: 4, Duration: 2 * time.Second, ChangeEvery: time.Second, PollEvery: time.Second,
		Stream: streamSettings{MaxClients: 103, Buffer: 256, Heartbeat: 15 * time.Second}}
	r := obs.report(o, s)
	if r.Expected != 8 || r.Received != 8+6+9 || r.Missed != 2 || r.MaxMissed != 2 || r.Duplicates != 1 || r.OutOfOrder != 1 {
		t.Errorf("expected %d, received %d, missed %d (max %d), duplicates %d, out of order %d", r.Expected, r.Received, r.Missed, r.MaxMissed, r.Duplicates, r.OutOfOrder)
	}
	if r.Clients.Complete != 2 || r.Clients.Missing != 1 || r.Clients.Dropped != 1 || r.Clients.Ended != 1 || r.Reconnects != 1 || r.Heartbeats != 2 {
		t.Errorf("clients %+v, reconnects %d, heartbeats %d", r.Clients, r.Reconnects, r.Heartbeats)
	}
	if r.MissedJobs["stream-1"] != 2 || len(r.MissedJobs) != 1 {
		t.Errorf("missed by job %v, want stream-1: 2", r.MissedJobs)
	}
	// The two complete clients saw different sequences (one had a duplicate).
	if r.Orders != 2 {
		t.Errorf("orders %d, want 2", r.Orders)
	}
	if r.Pollhook.CPUS != 2 || r.Pollhook.CPUCores != 0.5 || r.ToolCPUCores != 0.5 || r.Pollhook.PeakRSSMB != 25 || r.Pollhook.FinalRSSMB != 22 || r.Pollhook.IdleRSSMB != 10 {
		t.Errorf("pollhook %+v, tool %g cores", r.Pollhook, r.ToolCPUCores)
	}
	// Latency: each client's first receipt of each event, 1.5 s after its
	// change for step 0 (items 1-2 of job 0), less for later ones... all
	// received at 1.5 s here: the largest is job 0's first step.
	if r.LatencyChange.Count != 8+6+8 || r.LatencyChange.Max != 1500 {
		t.Errorf("latency %+v", r.LatencyChange)
	}
	if r.OK {
		t.Error("OK with missed events")
	}
	failed := map[string]bool{}
	for _, g := range r.Goals {
		if !g.OK {
			failed[g.Name] = true
		}
	}
	for _, name := range []string{"no missed events", "no duplicates", "in order", "no client dropped"} {
		if !failed[name] {
			t.Errorf("goal %q not missed; goals %+v", name, r.Goals)
		}
	}
	if failed["same data to every client"] || failed["no unexpected events"] || failed["clean exit"] {
		t.Errorf("goals %+v", r.Goals)
	}

	var table bytes.Buffer
	if err := r.printTable(&table); err != nil {
		t.Fatal(err)
	}
	words := strings.Join(strings.Fields(table.String()), " ")
	for _, want := range []string{"missed 2 (at most 2 by one client); by job: stream-1 2", "goal: no missed events MISSED", `drop reason 1 × {"reason":"slow"}`} {
		if !strings.Contains(words, want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	var js bytes.Buffer
	if err := r.printJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back["missed"] != 2.0 || back["ok"] != false || back["expected_per_client"] != 8.0 {
		t.Errorf("JSON %s", js.String())
	}
}

// TestReportClean is the report of a run where everything arrived.
func TestReportClean(t *testing.T) {
	s, err := newSchedule(1, 2, time.Second, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	lat := &latencies{}
	cache := newEventCache(s, func(int, int) int64 { return 0 }, lat)
	a, b := cache.get(fakeEvent(s, "evt_1", 0, 1, time.Now())), cache.get(fakeEvent(s, "evt_2", 0, 2, time.Now()))
	tl := newTally(s, lat)
	tl.add(a, a.data, 0)
	tl.add(b, b.data, 0)
	obs := &observations{Clients: []*client{{tally: tl, Connects: 1}}, Latency: lat}
	r := obs.report(options{Clients: 1, Jobs: 1, Rate: 2, Duration: time.Second, ChangeEvery: time.Second, PollEvery: time.Second}, s)
	if !r.OK || r.Orders != 1 || r.MissedJobs != nil {
		t.Errorf("ok %t, orders %d, missed by job %v; goals %+v", r.OK, r.Orders, r.MissedJobs, r.Goals)
	}
}
