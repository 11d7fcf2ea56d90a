package admin

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pollhook/pollhook/scheduler"
)

func TestObservePoll(t *testing.T) {
	m := NewMetrics()
	for _, o := range []scheduler.Outcome{
		{Job: "orders", Result: scheduler.ResultBaseline, Duration: 20 * time.Millisecond, Bytes: 1500},
		{Job: "orders", Result: scheduler.ResultChanged, Events: 3, ByType: map[string]int{"item.created": 2, "item.deleted": 1}, Duration: 40 * time.Millisecond},
		{Job: "orders", Result: scheduler.ResultFailed, Reason: "timeout", Err: errors.New("timed out"), Duration: 10 * time.Second},
		{Job: "stock", Result: scheduler.ResultFailed, Reason: "response", Err: errors.New(`item 1: key field "id" is missing`), Duration: time.Millisecond, Bytes: 20},
		{Job: "stock", Result: scheduler.ResultHeld, Duration: time.Millisecond},
		{Job: "stock", Result: scheduler.ResultHeld, Duration: time.Millisecond},
		{Job: "stock", Result: scheduler.ResultFailed, Reason: "status", Err: errors.New("503"), Health: scheduler.TypeSourceDown, Duration: time.Millisecond},
	} {
		m.ObservePoll(o)
	}
	m.ObserveSkipped("stock", scheduler.SkipBackoff)
	m.ObserveSkipped("stock", scheduler.SkipBackoff)
	m.ObserveSkipped("orders", scheduler.SkipRunning)
	want := `
# HELP pollhook_changes_total Committed change events by job and type.
# TYPE pollhook_changes_total counter
pollhook_changes_total{job="orders",type="item.created"} 2
pollhook_changes_total{job="orders",type="item.deleted"} 1
# HELP pollhook_held_polls_total Polls whose changes the guard held as suspicious (mass deletion or change).
# TYPE pollhook_held_polls_total counter
pollhook_held_polls_total{job="stock"} 2
# HELP pollhook_poll_failures_total Failed polls by job and reason (status, timeout, too_large, transport, canceled, auth, response, store).
# TYPE pollhook_poll_failures_total counter
pollhook_poll_failures_total{job="orders",reason="timeout"} 1
pollhook_poll_failures_total{job="stock",reason="response"} 1
pollhook_poll_failures_total{job="stock",reason="status"} 1
# HELP pollhook_polls_total Polls by job and result (failed, not_modified, unchanged, baseline, held, no_change, changed).
# TYPE pollhook_polls_total counter
pollhook_polls_total{job="orders",result="baseline"} 1
pollhook_polls_total{job="orders",result="changed"} 1
pollhook_polls_total{job="orders",result="failed"} 1
pollhook_polls_total{job="stock",result="failed"} 2
pollhook_polls_total{job="stock",result="held"} 2
# HELP pollhook_skipped_ticks_total Scheduled polls not run, by job and reason (running, concurrency, host_rate, backoff).
# TYPE pollhook_skipped_ticks_total counter
pollhook_skipped_ticks_total{job="orders",reason="running"} 1
pollhook_skipped_ticks_total{job="stock",reason="backoff"} 2
# HELP pollhook_source_health_events_total source.down and source.recovered events committed, by job and type.
# TYPE pollhook_source_health_events_total counter
pollhook_source_health_events_total{job="stock",type="source.down"} 1
# HELP pollhook_fetched_bytes_total Response body bytes fetched from sources, decoded, by job.
# TYPE pollhook_fetched_bytes_total counter
pollhook_fetched_bytes_total{job="orders"} 1500
pollhook_fetched_bytes_total{job="stock"} 20
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want), "pollhook_fetched_bytes_total",
		"pollhook_changes_total", "pollhook_held_polls_total", "pollhook_poll_failures_total", "pollhook_polls_total",
		"pollhook_skipped_ticks_total", "pollhook_source_health_events_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.pollDuration); n != 2 {
		t.Errorf("poll duration series = %d, want one per job", n)
	}
}
