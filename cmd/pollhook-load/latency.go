package main

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// latencyLog keeps, for every webhook received, when it came and how long
// after the change it reports the source had made that change.
type latencyLog struct {
	mu      sync.Mutex
	samples []latencySample
	unknown atomic.Int64 // webhooks whose change could not be dated
}

type latencySample struct {
	At      time.Time
	Latency time.Duration
}

func (l *latencyLog) add(at time.Time, d time.Duration) {
	l.mu.Lock()
	l.samples = append(l.samples, latencySample{At: at, Latency: d})
	l.mu.Unlock()
}

// between returns the latencies of the webhooks that came in [from, to).
func (l *latencyLog) between(from, to time.Time) []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []time.Duration
	for _, s := range l.samples {
		if !s.At.Before(from) && s.At.Before(to) {
			out = append(out, s.Latency)
		}
	}
	return out
}

// loadEvent is what the receiver reads of a webhook: the Standard Webhooks
// envelope of an item.updated event of a pollhook-load job.
type loadEvent struct {
	Type string `json:"type"`
	Data struct {
		Job   string `json:"job"`
		After struct {
			ID int64 `json:"id"`
			V  int64 `json:"v"`
		} `json:"after"`
	} `json:"data"`
}

// changeTime dates the change a webhook reports: the source's documents
// follow a fixed schedule (docVersion), so the job and the updated item's
// id and value name the version that made the change, and that version's
// start. False for a body that is not such an event.
func (f *fleet) changeTime(body []byte) (time.Time, bool) {
	if f.changeEvery <= 0 {
		return time.Time{}, false
	}
	var e loadEvent
	if err := json.Unmarshal(body, &e); err != nil || e.Type != "item.updated" {
		return time.Time{}, false
	}
	i, err := strconv.Atoi(strings.TrimPrefix(e.Data.Job, "load-"))
	k := e.Data.After.ID - 1
	if err != nil || !strings.HasPrefix(e.Data.Job, "load-") || i < 0 || i >= len(f.jobs) || k < 0 || k >= int64(f.items) {
		return time.Time{}, false
	}
	v := changeVersion(k, e.Data.After.V, f.items)
	return f.start.Add(versionStart(i, len(f.jobs), v, f.changeEvery)), true
}

// changeVersion is the document version in which item k (0-based) of
// items took the value v: renderDocument gives item k the value
// (version+items-1-k)/items, which first equals v at version
// v*items-items+1+k.
func changeVersion(k, v int64, items int) int64 {
	return v*int64(items) - int64(items) + 1 + k
}

// versionStart is when job i (of n) moved to version v, from the fleet's
// start: the inverse of docVersion.
func versionStart(i, n int, v int64, changeEvery time.Duration) time.Duration {
	phase := time.Duration(int64(changeEvery) * int64(i) / int64(n))
	return time.Duration(v)*changeEvery - phase
}

// latencySpread summarises webhook latencies, in milliseconds.
type latencySpread struct {
	Count int     `json:"count"`
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
}

func spreadOf(ds []time.Duration) latencySpread {
	ms := make([]float64, len(ds))
	for i, d := range ds {
		ms[i] = float64(d) / float64(time.Millisecond)
	}
	slices.Sort(ms)
	return latencySpread{Count: len(ms), P50Ms: pick(ms, 0.5), P99Ms: pick(ms, 0.99), MaxMs: pick(ms, 1)}
}
