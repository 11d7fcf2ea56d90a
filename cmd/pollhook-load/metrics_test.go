package main

import (
	"context"
	"math"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pollhook/pollhook/admin"
	"github.com/pollhook/pollhook/scheduler"
)

func TestParseMetrics(t *testing.T) {
	const text = `# HELP pollhook_polls_total Polls by job and result.
# TYPE pollhook_polls_total counter
pollhook_polls_total{job="a",result="unchanged"} 58

pollhook_polls_total{job="b \"q\"\\ \nx" , result="changed",} 2 1700000000000
go_goroutines 12
pollhook_poll_duration_seconds_bucket{job="a",le="+Inf"} 60
other_metric{x="y"} 1
pollhook_skipped_ticks_total{} NaN
`
	got, err := parseMetrics(strings.NewReader(text), func(name string) bool { return name != "other_metric" })
	if err != nil {
		t.Fatal(err)
	}
	want := []sample{
		{Name: "pollhook_polls_total", Labels: map[string]string{"job": "a", "result": "unchanged"}, Value: 58},
		{Name: "pollhook_polls_total", Labels: map[string]string{"job": "b \"q\"\\ \nx", "result": "changed"}, Value: 2},
		{Name: "go_goroutines", Value: 12},
		{Name: "pollhook_poll_duration_seconds_bucket", Labels: map[string]string{"job": "a", "le": "+Inf"}, Value: 60},
	}
	if len(got) != len(want)+1 {
		t.Fatalf("got %d samples, want %d: %+v", len(got), len(want)+1, got)
	}
	if !reflect.DeepEqual(got[:len(want)], want) {
		t.Errorf("got  %+v\nwant %+v", got[:len(want)], want)
	}
	if last := got[len(want)]; last.Name != "pollhook_skipped_ticks_total" || len(last.Labels) != 0 || !math.IsNaN(last.Value) {
		t.Errorf("last sample %+v, want pollhook_skipped_ticks_total without labels, NaN", last)
	}
}

func TestParseMetricsErrors(t *testing.T) {
	tests := []struct{ text, err string }{
		{"pollhook_polls_total\n", `metrics line 1: no value: "pollhook_polls_total"`},
		{"# c\npollhook_polls_total{job=\"a} 1\n", "metrics line 2: label job: unterminated value"},
		{`pollhook_polls_total{job="a"x} 1`, `metrics line 1: label job: want ',' or '}' after its value at "x} 1"`},
		{`pollhook_polls_total{job=a} 1`, `metrics line 1: label: want name="value" at "job=a} 1"`},
		{`pollhook_polls_total{job="a"}`, `metrics line 1: want a value and an optional timestamp after pollhook_polls_total: "pollhook_polls_total{job=\"a\"}"`},
		{"pollhook_polls_total 1 2 3", `metrics line 1: want a value and an optional timestamp after pollhook_polls_total: "pollhook_polls_total 1 2 3"`},
		{"pollhook_polls_total one", `metrics line 1: value: strconv.ParseFloat: parsing "one": invalid syntax`},
	}
	for _, tt := range tests {
		_, err := parseMetrics(strings.NewReader(tt.text), keepMetric)
		if msg := errString(err); msg != tt.err {
			t.Errorf("%q: error %q, want %q", tt.text, msg, tt.err)
		}
	}
}

// TestScrapeAdminMetrics reads what pollhook's own metrics serve, so that
// the tool is held to the real exposition and metric names.
func TestScrapeAdminMetrics(t *testing.T) {
	m := admin.NewMetrics()
	outcomes := []scheduler.Outcome{
		{Job: "a", Result: scheduler.ResultUnchanged, Duration: 3 * time.Millisecond},
		{Job: "b", Result: scheduler.ResultUnchanged, Duration: 3 * time.Millisecond},
		{Job: "a", Result: scheduler.ResultChanged, Duration: 40 * time.Millisecond, Events: 3,
			ByType: map[string]int{"item.updated": 2, "item.created": 1}},
		{Job: "b", Result: scheduler.ResultFailed, Duration: 2 * time.Second, Reason: "timeout"},
	}
	for _, o := range outcomes {
		m.ObservePoll(o)
	}
	m.ObserveSkipped("a", scheduler.SkipRunning)
	m.ObserveSkipped("b", scheduler.SkipRunning)
	m.ObserveSkipped("b", scheduler.SkipBackoff)
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()

	got, err := scrapeMetrics(context.Background(), srv.Client(), strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]float64{"unchanged": 2, "changed": 1, "failed": 1}; !reflect.DeepEqual(got.Polls, want) {
		t.Errorf("polls %v, want %v", got.Polls, want)
	}
	if want := map[string]float64{"running": 2, "backoff": 1}; !reflect.DeepEqual(got.Skipped, want) {
		t.Errorf("skipped %v, want %v", got.Skipped, want)
	}
	if got.Changes != 3 {
		t.Errorf("changes %v, want 3", got.Changes)
	}
	wantBuckets := []bucket{{0.005, 2}, {0.01, 2}, {0.025, 2}, {0.05, 3}, {0.1, 3}, {0.25, 3}, {0.5, 3}, {1, 3}, {2.5, 4}, {5, 4}, {10, 4}, {30, 4}, {math.Inf(1), 4}}
	if !reflect.DeepEqual(got.Duration, wantBuckets) {
		t.Errorf("duration buckets %v, want %v", got.Duration, wantBuckets)
	}
	if _, ok := got.Gauges["go_goroutines"]; !ok {
		t.Errorf("gauges %v: no go_goroutines", got.Gauges)
	}
}

func TestQuantile(t *testing.T) {
	inf := math.Inf(1)
	buckets := []bucket{{0.005, 0}, {0.01, 50}, {0.025, 100}, {0.05, 100}, {inf, 110}}
	tests := []struct {
		name    string
		q       float64
		buckets []bucket
		want    float64
	}{
		{"median inside a bucket", 0.5, buckets, 0.01 + 0.015*5/50},
		{"lower edge of a bucket", 50.0 / 110, buckets, 0.01},
		{"in the +Inf bucket: highest finite bound", 0.99, buckets, 0.05},
		{"first bucket interpolates from 0", 0.5, []bucket{{0.1, 10}, {inf, 10}}, 0.05},
		{"no observations", 0.5, []bucket{{0.1, 0}, {inf, 0}}, math.NaN()},
		{"no buckets", 0.5, nil, math.NaN()},
	}
	for _, tt := range tests {
		got := quantile(tt.q, tt.buckets)
		if !(got == tt.want || math.Abs(got-tt.want) < 1e-12 || math.IsNaN(got) && math.IsNaN(tt.want)) {
			t.Errorf("%s: quantile(%v) = %v, want %v", tt.name, tt.q, got, tt.want)
		}
	}
}

func TestCountersSince(t *testing.T) {
	start := counters{
		Polls: map[string]float64{"unchanged": 10, "baseline": 5}, Skipped: map[string]float64{"running": 1}, Changes: 4,
		Duration: []bucket{{0.01, 12}, {math.Inf(1), 15}}, Gauges: map[string]float64{"go_goroutines": 1},
	}
	end := counters{
		Polls: map[string]float64{"unchanged": 30, "baseline": 5, "changed": 2}, Skipped: map[string]float64{"running": 1}, Changes: 6,
		Duration: []bucket{{0.01, 30}, {math.Inf(1), 37}}, Gauges: map[string]float64{"go_goroutines": 9},
	}
	want := counters{
		Polls: map[string]float64{"unchanged": 20, "baseline": 0, "changed": 2}, Skipped: map[string]float64{"running": 0}, Changes: 2,
		Duration: []bucket{{0.01, 18}, {math.Inf(1), 22}}, Gauges: map[string]float64{"go_goroutines": 9},
	}
	if got := end.since(start); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}
