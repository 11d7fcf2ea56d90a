package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// sample is one line of the Prometheus text exposition format.
type sample struct {
	Name   string
	Labels map[string]string
	Value  float64
}

// parseMetrics reads the Prometheus text exposition format (version
// 0.0.4, what promhttp serves without content negotiation) and returns
// the samples whose metric name keep accepts, in order. Comments and
// blank lines are skipped; timestamps are ignored.
func parseMetrics(r io.Reader, keep func(name string) bool) ([]sample, error) {
	var out []sample
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		end := strings.IndexAny(line, "{ \t")
		if end <= 0 {
			return nil, fmt.Errorf("metrics line %d: no value: %q", n, line)
		}
		s := sample{Name: line[:end]}
		if !keep(s.Name) {
			continue
		}
		rest := line[end:]
		if rest[0] == '{' {
			var err error
			if s.Labels, rest, err = parseLabels(rest[1:]); err != nil {
				return nil, fmt.Errorf("metrics line %d: %w", n, err)
			}
		}
		f := strings.Fields(rest)
		if len(f) == 0 || len(f) > 2 {
			return nil, fmt.Errorf("metrics line %d: want a value and an optional timestamp after %s: %q", n, s.Name, line)
		}
		v, err := strconv.ParseFloat(f[0], 64) // accepts NaN, +Inf and -Inf too
		if err != nil {
			return nil, fmt.Errorf("metrics line %d: value: %w", n, err)
		}
		s.Value = v
		out = append(out, s)
	}
	return out, sc.Err()
}

// parseLabels reads `a="x",b="y\"z"}` (what follows the '{') and returns
// the labels and what follows the '}'.
func parseLabels(s string) (map[string]string, string, error) {
	labels := map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t")
		if strings.HasPrefix(s, "}") {
			return labels, s[1:], nil
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || len(s) < eq+2 || s[eq+1] != '"' {
			return nil, "", fmt.Errorf("label: want name=\"value\" at %q", s)
		}
		name := strings.TrimSpace(s[:eq])
		var v strings.Builder
		i := eq + 2
		for ; i < len(s) && s[i] != '"'; i++ {
			c := s[i]
			if c == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					c = '\n'
				default: // \\ and \"
					c = s[i]
				}
			}
			v.WriteByte(c)
		}
		if i == len(s) {
			return nil, "", fmt.Errorf("label %s: unterminated value", name)
		}
		labels[name] = v.String()
		s = strings.TrimLeft(s[i+1:], " \t")
		if strings.HasPrefix(s, ",") {
			s = s[1:]
		} else if !strings.HasPrefix(s, "}") {
			return nil, "", fmt.Errorf("label %s: want ',' or '}' after its value at %q", name, s)
		}
	}
}

// Metric names the report reads.
const (
	metricPolls    = "pollhook_polls_total"
	metricSkipped  = "pollhook_skipped_ticks_total"
	metricChanges  = "pollhook_changes_total"
	metricDuration = "pollhook_poll_duration_seconds_bucket"
)

// gaugeNames are read as they are at the end of the run, for the reader
// looking for where memory went.
var gaugeNames = []string{"go_goroutines", "go_memstats_stack_inuse_bytes", "go_memstats_heap_inuse_bytes", "go_memstats_sys_bytes", "go_memstats_next_gc_bytes"}

// bucket is one cumulative histogram bucket: Count observations <= LE.
type bucket struct {
	LE    float64
	Count float64
}

// counters is one /metrics scrape reduced to what the report needs, every
// per-job series summed over the jobs.
type counters struct {
	Polls    map[string]float64 // by result
	Skipped  map[string]float64 // by reason
	Changes  float64            // change events committed
	Duration []bucket           // poll duration, cumulative, by increasing LE
	Gauges   map[string]float64
}

// sumCounters sums the samples over jobs.
func sumCounters(samples []sample) (counters, error) {
	c := counters{Polls: map[string]float64{}, Skipped: map[string]float64{}, Gauges: map[string]float64{}}
	byLE := map[float64]float64{}
	for _, s := range samples {
		switch s.Name {
		case metricPolls:
			c.Polls[s.Labels["result"]] += s.Value
		case metricSkipped:
			c.Skipped[s.Labels["reason"]] += s.Value
		case metricChanges:
			c.Changes += s.Value
		case metricDuration:
			le, err := strconv.ParseFloat(s.Labels["le"], 64)
			if err != nil {
				return counters{}, fmt.Errorf("%s: le %q: %w", s.Name, s.Labels["le"], err)
			}
			byLE[le] += s.Value
		default:
			c.Gauges[s.Name] = s.Value
		}
	}
	for _, le := range slices.Sorted(maps.Keys(byLE)) {
		c.Duration = append(c.Duration, bucket{LE: le, Count: byLE[le]})
	}
	return c, nil
}

// since returns what was counted between start and c: the counters' and
// buckets' differences (gauges stay c's).
func (c counters) since(start counters) counters {
	d := counters{Polls: map[string]float64{}, Skipped: map[string]float64{}, Changes: c.Changes - start.Changes, Gauges: c.Gauges}
	for k, v := range c.Polls {
		d.Polls[k] = v - start.Polls[k]
	}
	for k, v := range c.Skipped {
		d.Skipped[k] = v - start.Skipped[k]
	}
	before := map[float64]float64{}
	for _, b := range start.Duration {
		before[b.LE] = b.Count
	}
	for _, b := range c.Duration {
		d.Duration = append(d.Duration, bucket{LE: b.LE, Count: b.Count - before[b.LE]})
	}
	return d
}

// quantile estimates the q-quantile (0..1) of cumulative buckets as
// Prometheus' histogram_quantile does: linearly inside the bucket the rank
// falls in, from 0 for the first; a rank in the +Inf bucket gives the
// highest finite bound. NaN without observations.
func quantile(q float64, buckets []bucket) float64 {
	if len(buckets) == 0 {
		return math.NaN()
	}
	total := buckets[len(buckets)-1].Count
	if total <= 0 {
		return math.NaN()
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for _, b := range buckets {
		if b.Count >= rank && b.Count > below {
			if math.IsInf(b.LE, 1) {
				return lower
			}
			return lower + (b.LE-lower)*(rank-below)/(b.Count-below)
		}
		lower, below = b.LE, b.Count
	}
	return lower
}

// keepMetric selects the series the report reads.
func keepMetric(name string) bool {
	switch name {
	case metricPolls, metricSkipped, metricChanges, metricDuration:
		return true
	}
	return slices.Contains(gaugeNames, name)
}

// scrapeMetrics reads http://addr/metrics.
func scrapeMetrics(ctx context.Context, client *http.Client, addr string) (counters, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return counters{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return counters{}, fmt.Errorf("scrape /metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return counters{}, fmt.Errorf("scrape /metrics: status %d", resp.StatusCode)
	}
	samples, err := parseMetrics(resp.Body, keepMetric)
	if err != nil {
		return counters{}, fmt.Errorf("scrape /metrics: %w", err)
	}
	return sumCounters(samples)
}
