package main

import (
	"bytes"
	"encoding/json"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// eventInfo is what the tool knows about one event id, read once from
// the first client that received it and shared by all.
type eventInfo struct {
	id    string
	typ   string
	data  []byte // the data: field as first received; every client must get the same bytes
	index int    // among the schedule's events; -1: not one of them
	job   int
	// Times in Unix nanoseconds: when the source's document changed, when
	// the source first served a poll showing the change (0: unknown), and
	// the envelope's timestamp (pollhook's detection time, in ms).
	changed, polled, stamped int64
}

// eventCache maps event ids to what they are, parsing each id's data once.
type eventCache struct {
	sched *schedule
	// start is the schedule's start (Unix nanoseconds), set before the
	// first change, so before any event.
	start  atomic.Int64
	polled func(j, s int) int64 // when the source first served job j's step s; 0: not yet
	lat    *latencies

	mu  sync.RWMutex
	ids map[string]*eventInfo
}

func newEventCache(s *schedule, polled func(j, step int) int64, lat *latencies) *eventCache {
	return &eventCache{sched: s, polled: polled, lat: lat, ids: make(map[string]*eventInfo, s.total)}
}

// begin records the schedule's start.
func (c *eventCache) begin(t time.Time) { c.start.Store(t.UnixNano()) }

// get returns the info of ev's id, reading it from ev the first time.
func (c *eventCache) get(ev sseEvent) *eventInfo {
	c.mu.RLock()
	info := c.ids[string(ev.ID)] // no allocation for the lookup
	c.mu.RUnlock()
	if info != nil {
		return info
	}
	info = c.read(ev)
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev := c.ids[info.id]; prev != nil {
		return prev // another client read it at the same time
	}
	c.ids[info.id] = info
	return info
}

// envelope is the part of an event's data the tool reads.
type envelope struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      struct {
		Job string `json:"job"`
		Key string `json:"key"`
	} `json:"data"`
}

// read makes the info of an id not seen before.
func (c *eventCache) read(ev sseEvent) *eventInfo {
	info := &eventInfo{id: string(ev.ID), typ: string(ev.Type), data: bytes.Clone(ev.Data), index: -1}
	var env envelope
	if err := json.Unmarshal(ev.Data, &env); err != nil || env.Type != info.typ || env.Type != "item.created" {
		return info
	}
	index, j, id, ok := c.sched.event(env.Data.Job, env.Data.Key)
	if !ok {
		return info
	}
	info.index, info.job = index, j
	info.changed = c.start.Load() + int64(c.sched.changeAt(j, id))
	info.polled = c.polled(j, c.sched.stepOf(j, id))
	if !env.Timestamp.IsZero() {
		info.stamped = env.Timestamp.UnixNano()
	}
	return info
}

// tally is one client's account of what it received.
type tally struct {
	sched *schedule
	lat   *latencies
	got   []uint64 // bit per schedule event received

	Received   int // events of the schedule, duplicates included
	Distinct   int
	Duplicates int // a schedule event received again (under its id or another)
	Unexpected int // events the schedule did not make (other types, unknown job or key, bad data)
	Corrupt    int // an id whose data differs from what the first client got for it
	// OutOfOrder counts events whose id is not above the last id of the
	// same job: pollhook assigns a job's ids in increasing order.
	OutOfOrder int
	// Backwards counts ids below the last id of any job: across jobs,
	// events committed at once may interleave either way.
	Backwards int
	lastID    []string // per job
	prevID    string
	seq       uint64 // FNV-1a over the ids in order, to compare clients' sequences
	LastAt    int64  // Unix nanoseconds of the last event received
}

func newTally(s *schedule, lat *latencies) *tally {
	return &tally{sched: s, lat: lat, got: make([]uint64, (s.total+63)/64), lastID: make([]string, s.jobs), seq: fnvOffset}
}

// add counts one event received at recv (Unix nanoseconds) whose data
// was data.
func (t *tally) add(info *eventInfo, data []byte, recv int64) {
	t.LastAt = recv
	t.seq = fnvAdd(t.seq, info.id)
	if info.index < 0 {
		t.Unexpected++
		return
	}
	if !bytes.Equal(data, info.data) {
		t.Corrupt++
	}
	t.Received++
	word, bit := info.index/64, uint64(1)<<(info.index%64)
	if t.got[word]&bit != 0 {
		t.Duplicates++
	} else {
		t.got[word] |= bit
		t.Distinct++
		t.lat.record(info, recv)
	}
	if info.id <= t.lastID[info.job] {
		t.OutOfOrder++
	} else {
		t.lastID[info.job] = info.id
	}
	if info.id < t.prevID {
		t.Backwards++
	}
	t.prevID = max(t.prevID, info.id)
}

// Missed is how many of the schedule's events the client has not received.
func (t *tally) Missed() int { return t.sched.total - t.Distinct }

// missedByJob returns how many events of each job the client missed,
// for a report that says where the gaps are.
func (t *tally) missedByJob() []int {
	out := make([]int, t.sched.jobs)
	for j := range t.sched.jobs {
		n := t.sched.perStep[j] * t.sched.steps
		for i := t.sched.offset[j]; i < t.sched.offset[j]+n; i++ {
			if t.got[i/64]&(1<<(i%64)) == 0 {
				out[j]++
			}
		}
	}
	return out
}

// fnvOffset is FNV-1a's initial value.
const fnvOffset = 14695981039346656037

// fnvAdd folds s and a separator into an FNV-1a hash.
func fnvAdd(h uint64, s string) uint64 {
	const prime = 1099511628211
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= prime
	}
	h ^= '\n'
	return h * prime
}

// latencies are the run's three latency distributions, over every
// client's first receipt of every event.
type latencies struct {
	Change histogram // source change → client receive: includes the wait for the next poll
	Poll   histogram // first poll served showing the change → client receive: pollhook's work
	Stamp  histogram // envelope timestamp (detection, ms) → client receive: the stream's part
}

func (l *latencies) record(info *eventInfo, recv int64) {
	l.Change.record((recv - info.changed) / 1e3)
	if info.polled != 0 {
		l.Poll.record((recv - info.polled) / 1e3)
	}
	if info.stamped != 0 {
		l.Stamp.record((recv - info.stamped) / 1e3)
	}
}

// histogram counts values (microseconds) in log-linear buckets: exact
// below 128, then 64 buckets per power of two (within 1.6%), up to the
// largest int64. Safe for concurrent use.
type histogram struct {
	counts [histBuckets]atomic.Uint64
	n      atomic.Uint64
	max    atomic.Int64
}

const (
	histSub     = 64
	histBuckets = 2*histSub + 56*histSub // shifts 1..56 cover every positive int64
)

func bucketOf(v int64) int {
	if v < 2*histSub {
		return int(max(v, 0))
	}
	shift := bits.Len64(uint64(v)) - 7 // v>>shift is in [64, 128)
	return 2*histSub + (shift-1)*histSub + int(v>>shift) - histSub
}

// bucketLow is the smallest value of bucket i.
func bucketLow(i int) int64 {
	if i < 2*histSub {
		return int64(i)
	}
	shift := (i-2*histSub)/histSub + 1
	return int64((i-2*histSub)%histSub+histSub) << shift
}

func (h *histogram) record(v int64) {
	h.counts[bucketOf(v)].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			return
		}
	}
}

// count is the number of values recorded.
func (h *histogram) count() uint64 { return h.n.Load() }

// quantile returns the q-quantile (0..1) by nearest rank, as the middle of
// its bucket (the largest value for q = 1); 0 without values.
func (h *histogram) quantile(q float64) int64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	if q >= 1 {
		return h.max.Load()
	}
	rank := uint64(q*float64(n-1)) + 1
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			lo := bucketLow(i)
			if i+1 < histBuckets {
				return min((lo+bucketLow(i+1)-1)/2, h.max.Load())
			}
			return lo
		}
	}
	return h.max.Load()
}
