package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/pollhook/pollhook/cmd/internal/loadkit"
)

// report is the outcome of one run.
type report struct {
	Command string      `json:"command"`
	Machine machineInfo `json:"machine"`
	Load    loadSpec    `json:"load"`

	ReadyS   float64 `json:"ready_s"`   // pollhook started, ready and every job polled once
	ConnectS float64 `json:"connect_s"` // every client's stream open
	WindowS  float64 `json:"window_s"`  // first change to the end of the window
	DrainS   float64 `json:"drain_s"`   // last change to the end of the window

	Expected   int            `json:"expected_per_client"` // events each client must receive
	Received   int64          `json:"received"`            // by all clients, duplicates included, unexpected ones not
	Clients    clientCounts   `json:"clients"`
	Missed     int64          `json:"missed"`                  // all clients' missed events
	MaxMissed  int            `json:"max_missed"`              // the most one client missed
	MissedJobs map[string]int `json:"missed_by_job,omitempty"` // summed over clients
	Duplicates int64          `json:"duplicates"`
	OutOfOrder int64          `json:"out_of_order"` // ids not above the job's last id
	Corrupt    int64          `json:"corrupt"`      // data differing from the first client's for the same id
	Unexpected int64          `json:"unexpected"`   // events the schedule did not make
	// Backwards counts ids below an earlier one of another job; Orders is
	// how many different sequences of ids the complete clients saw (1:
	// they all saw the same order).
	Backwards   int64 `json:"backwards"`
	Orders      int   `json:"orders"`
	DistinctIDs int   `json:"distinct_ids"` // event ids seen by any client
	Heartbeats  int   `json:"heartbeats"`
	Reconnects  int   `json:"reconnects"`

	LatencyChange latencySummary `json:"latency_change_ms"` // source change → client: includes the wait for the next poll
	LatencyPoll   latencySummary `json:"latency_poll_ms"`   // poll served → client: pollhook's diff, commit and stream
	LatencyStamp  latencySummary `json:"latency_stamp_ms"`  // envelope timestamp → client: the stream's part (ms resolution)

	Pollhook     processFigures `json:"pollhook"`
	ToolCPUS     float64        `json:"tool_cpu_s"` // this process: clients, source, receiver
	ToolCPUCores float64        `json:"tool_cpu_cores"`
	MachineBusy  float64        `json:"machine_busy_cores"`
	IRQCores     float64        `json:"irq_cores"`
	OtherCores   float64        `json:"other_cores"` // busy minus pollhook, the tool and interrupts

	Webhooks     int64          `json:"webhook_events"` // events the receiver got, for comparison
	WebhookPosts int64          `json:"webhook_requests"`
	Log          map[string]int `json:"log"`
	Shutdown     shutdown       `json:"shutdown"`
	Goals        loadkit.Goals  `json:"goals"`
	OK           bool           `json:"ok"`
}

// loadSpec is what was asked for.
type loadSpec struct {
	Clients     int      `json:"clients"`
	Jobs        int      `json:"jobs"`
	Rate        float64  `json:"events_per_s"`
	DurationS   float64  `json:"duration_s"`
	ChangeEvery string   `json:"change_every"`
	PollEvery   string   `json:"poll_every"`
	ItemBytes   int      `json:"item_bytes"`
	Query       string   `json:"query,omitempty"`
	MaxClients  int      `json:"max_clients"`
	Buffer      int      `json:"buffer"`
	Heartbeat   string   `json:"heartbeat"`
	Reconnect   bool     `json:"reconnect"`
	Env         []string `json:"env,omitempty"`
}

// clientCounts sorts the clients by outcome.
type clientCounts struct {
	Total    int `json:"total"`
	Complete int `json:"complete"` // received every event
	Missing  int `json:"missing"`  // missed at least one
	// Dropped were sent an error event (pollhook's drop of a slow
	// client); Ended saw their stream end otherwise before the run did.
	Dropped     int            `json:"dropped"`
	Ended       int            `json:"ended"`
	DropReasons map[string]int `json:"drop_reasons,omitempty"`
	EndReasons  map[string]int `json:"end_reasons,omitempty"`
}

// latencySummary is a distribution in milliseconds.
type latencySummary struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

func summarise(h *histogram) latencySummary {
	return latencySummary{Count: h.count(), P50: float64(h.quantile(0.5)) / 1e3, P99: float64(h.quantile(0.99)) / 1e3, Max: float64(h.quantile(1)) / 1e3}
}

// processFigures are pollhook's resources.
type processFigures struct {
	CPUS       float64 `json:"cpu_s"` // in the window
	CPUCores   float64 `json:"cpu_cores"`
	CPUSPer1k  float64 `json:"cpu_s_per_1000_deliveries"` // per 1,000 events delivered to a client
	IdleRSSMB  float64 `json:"idle_rss_mb"`               // ready, no client
	OpenRSSMB  float64 `json:"open_rss_mb"`               // every client connected, no event yet
	MaxRSSMB   float64 `json:"max_rss_mb"`                // the highest once-a-second sample in the window
	FinalRSSMB float64 `json:"final_rss_mb"`              // VmRSS at the end of the window
	PeakRSSMB  float64 `json:"peak_rss_mb"`               // VmHWM at the end of the window (its whole life), or a higher sample
}

// report computes the figures and checks the goals.
func (obs *observations) report(o options, s *schedule) *report {
	r := &report{
		Machine: obs.Machine,
		Load: loadSpec{
			Clients: o.Clients, Jobs: o.Jobs, Rate: s.rate(), DurationS: o.Duration.Seconds(),
			ChangeEvery: o.ChangeEvery.String(), PollEvery: o.PollEvery.String(), ItemBytes: o.ItemBytes, Query: o.Query,
			MaxClients: o.Stream.MaxClients, Buffer: o.Stream.Buffer, Heartbeat: o.Stream.Heartbeat.String(), Reconnect: o.Reconnect, Env: o.Env,
		},
		ReadyS: obs.ReadyS, ConnectS: obs.ConnectS, DrainS: obs.DrainS,
		Expected: s.total, DistinctIDs: obs.DistinctIDs,
		Webhooks: obs.Webhooks, WebhookPosts: obs.WebhookPosts, Log: obs.Log, Shutdown: obs.Shutdown,
	}
	r.Clients = clientCounts{Total: len(obs.Clients), DropReasons: map[string]int{}, EndReasons: map[string]int{}}
	orders := map[uint64]bool{}
	missedByJob := make([]int, s.jobs)
	for _, c := range obs.Clients {
		t := c.tally
		r.Received += int64(t.Received)
		m := t.Missed()
		r.Missed += int64(m)
		r.MaxMissed = max(r.MaxMissed, m)
		if m == 0 {
			r.Clients.Complete++
			orders[t.seq] = true
		} else {
			r.Clients.Missing++
			for j, n := range t.missedByJob() {
				missedByJob[j] += n
			}
		}
		r.Duplicates += int64(t.Duplicates)
		r.OutOfOrder += int64(t.OutOfOrder)
		r.Corrupt += int64(t.Corrupt)
		r.Unexpected += int64(t.Unexpected)
		r.Backwards += int64(t.Backwards)
		r.Heartbeats += c.Heartbeats
		r.Reconnects += max(0, c.Connects-1)
		if c.Drops > 0 {
			r.Clients.Dropped++
			r.Clients.DropReasons[shorten(c.Dropped)]++
		}
		if c.Ended != "" {
			r.Clients.Ended++
			r.Clients.EndReasons[shorten(c.Ended)]++
		}
	}
	r.Orders = len(orders)
	if r.Missed > 0 {
		r.MissedJobs = map[string]int{}
		for j, n := range missedByJob {
			if n > 0 {
				r.MissedJobs[s.names[j]] = n
			}
		}
	}
	r.LatencyChange = summarise(&obs.Latency.Change)
	r.LatencyPoll = summarise(&obs.Latency.Poll)
	r.LatencyStamp = summarise(&obs.Latency.Stamp)

	r.WindowS = obs.End.At.Sub(obs.Start.At).Seconds()
	p := &r.Pollhook
	u := obs.End.Since(obs.Start)
	p.CPUS, p.CPUCores, r.ToolCPUS, r.ToolCPUCores = u.PollhookS, u.PollhookCores, u.ToolS, u.ToolCores
	r.MachineBusy, r.IRQCores, r.OtherCores = u.MachineBusy, u.IRQCores, u.OtherCores
	if r.Received > 0 {
		p.CPUSPer1k = p.CPUS / float64(r.Received) * 1000
	}
	p.IdleRSSMB = float64(obs.IdleRSSKB) / 1024
	p.OpenRSSMB = float64(obs.OpenRSSKB) / 1024
	for _, kb := range obs.RSSKB {
		p.MaxRSSMB = max(p.MaxRSSMB, float64(kb)/1024)
	}
	p.FinalRSSMB = float64(obs.FinalMem.RSSKB) / 1024
	p.PeakRSSMB = max(float64(obs.FinalMem.HWMKB)/1024, p.MaxRSSMB)
	r.check()
	return r
}

// shorten makes a reason a short map key.
func shorten(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return s
}

// check evaluates the goals: every client gets every event exactly once,
// in order, unaltered.
func (r *report) check() {
	r.Goals.Add("no missed events", r.Missed == 0, "%d missed in all, at most %d by one client; %d of %d clients complete", r.Missed, r.MaxMissed, r.Clients.Complete, r.Clients.Total)
	r.Goals.Add("no duplicates", r.Duplicates == 0, "%d", r.Duplicates)
	r.Goals.Add("in order", r.OutOfOrder == 0, "%d events not after their job's previous one", r.OutOfOrder)
	r.Goals.Add("same data to every client", r.Corrupt == 0, "%d events whose data differed", r.Corrupt)
	r.Goals.Add("no unexpected events", r.Unexpected == 0, "%d", r.Unexpected)
	r.Goals.Add("no client dropped", r.Clients.Dropped == 0 && r.Clients.Ended == 0, "%d sent an error event, %d streams ended otherwise", r.Clients.Dropped, r.Clients.Ended)
	r.Goals.Add("clean exit", r.Shutdown.ExitCode == 0 && !r.Shutdown.Killed, "exit code %d after %.1fs of SIGTERM", r.Shutdown.ExitCode, r.Shutdown.Seconds)
	r.OK = r.Goals.Met()
}

// printTable writes the report for people.
func (r *report) printTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	l := r.Load
	p := r.Pollhook
	fmt.Fprintf(tw, "command\t%s\n", r.Command)
	fmt.Fprintf(tw, "machine\t%d CPUs, %s, pollhook %s built with %s\n", r.Machine.CPUs, r.Machine.CPUModel, r.Machine.Revision, r.Machine.GoVersion)
	fmt.Fprintf(tw, "load\t%d SSE clients; %g events/s from %d jobs polled every %s, changing every %s for %gs; items of ~%d bytes\n",
		l.Clients, l.Rate, l.Jobs, l.PollEvery, l.ChangeEvery, l.DurationS, l.ItemBytes)
	fmt.Fprintf(tw, "streams\tmax_clients %d, buffer %d, heartbeat %s; query %q; reconnect %t\n", l.MaxClients, l.Buffer, l.Heartbeat, l.Query, l.Reconnect)
	fmt.Fprintf(tw, "timing\tready in %.1fs, %d streams open in %.1fs, window %.1fs (drain %.1fs after the last change)\n", r.ReadyS, l.Clients, r.ConnectS, r.WindowS, r.DrainS)
	fmt.Fprintf(tw, "events\t%d expected per client, %d expected in all; %d received (%d distinct ids)\n", r.Expected, int64(r.Expected)*int64(l.Clients), r.Received, r.DistinctIDs)
	fmt.Fprintf(tw, "clients\t%d complete, %d missing events, %d dropped, %d ended early, %d reconnections\n", r.Clients.Complete, r.Clients.Missing, r.Clients.Dropped, r.Clients.Ended, r.Reconnects)
	fmt.Fprintf(tw, "missed\t%d (at most %d by one client)%s\n", r.Missed, r.MaxMissed, byJob(r.MissedJobs))
	fmt.Fprintf(tw, "duplicates, out of order\t%d, %d (ids below another job's earlier id: %d; orders seen by complete clients: %d)\n", r.Duplicates, r.OutOfOrder, r.Backwards, r.Orders)
	fmt.Fprintf(tw, "corrupt, unexpected\t%d, %d; heartbeats %d\n", r.Corrupt, r.Unexpected, r.Heartbeats)
	fmt.Fprintf(tw, "latency change→client\t%s (includes the wait for the next poll)\n", r.LatencyChange)
	fmt.Fprintf(tw, "latency poll→client\t%s (diff, commit, stream)\n", r.LatencyPoll)
	fmt.Fprintf(tw, "latency stamp→client\t%s (the stream's part; the stamp has ms resolution)\n", r.LatencyStamp)
	fmt.Fprintf(tw, "pollhook CPU\t%.1fs = %.2f cores; %.3f CPU-s per 1,000 events delivered to clients\n", p.CPUS, p.CPUCores, p.CPUSPer1k)
	fmt.Fprintf(tw, "pollhook RSS\tidle %.1f MB, streams open %.1f MB, max in window %.1f MB, final %.1f MB, peak (VmHWM) %.1f MB\n", p.IdleRSSMB, p.OpenRSSMB, p.MaxRSSMB, p.FinalRSSMB, p.PeakRSSMB)
	fmt.Fprintf(tw, "tool CPU\t%.1fs = %.2f cores (the clients, the source, the receiver)\n", r.ToolCPUS, r.ToolCPUCores)
	fmt.Fprintf(tw, "machine busy\t%.2f of %d cores: interrupts %.2f, other processes %.2f\n", r.MachineBusy, r.Machine.CPUs, r.IRQCores, r.OtherCores)
	fmt.Fprintf(tw, "webhooks\t%d events in %d requests to the receiver\n", r.Webhooks, r.WebhookPosts)
	fmt.Fprintf(tw, "pollhook log\t%s\n", loadkit.LogCounts(r.Log))
	for k, n := range sortedCounts(r.Clients.DropReasons) {
		fmt.Fprintf(tw, "drop reason\t%d × %s\n", n, k)
	}
	for k, n := range sortedCounts(r.Clients.EndReasons) {
		fmt.Fprintf(tw, "end reason\t%d × %s\n", n, k)
	}
	loadkit.NoteOtherCores(tw, r.OtherCores)
	r.Goals.Print(tw)
	return tw.Flush()
}

// printJSON writes the report as one JSON object.
func (r *report) printJSON(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

func (l latencySummary) String() string {
	if l.Count == 0 {
		return "-"
	}
	return fmt.Sprintf("p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d samples)", l.P50, l.P99, l.Max, l.Count)
}

// sortedCounts yields m's entries by key.
func sortedCounts(m map[string]int) func(func(string, int) bool) {
	return func(yield func(string, int) bool) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if !yield(k, m[k]) {
				return
			}
		}
	}
}

func byJob(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for k, n := range sortedCounts(m) {
		parts = append(parts, fmt.Sprintf("%s %d", k, n))
	}
	return "; by job: " + strings.Join(parts, ", ")
}
