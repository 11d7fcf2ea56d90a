package main

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// fakeEvent is the SSE event pollhook would send for job j's item id,
// with the given event id.
func fakeEvent(s *schedule, id string, j, item int, stamp time.Time) sseEvent {
	data := fmt.Sprintf(`{"type":"item.created","timestamp":%q,"data":{"job":%q,"key":%q,"after":{"id":%d}}}`,
		stamp.UTC().Format("2006-01-02T15:04:05.000Z"), s.names[j], strconv.Itoa(item), item)
	return sseEvent{ID: []byte(id), Type: []byte("item.created"), Data: []byte(data)}
}

func TestEventCacheRead(t *testing.T) {
	s, err := newSchedule(2, 4, time.Second, 3*time.Second) // 2 items a step, phases 0 and 500 ms
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1_700_000_000, 0)
	polled := func(j, step int) int64 { return start.Add(time.Duration(j*10+step) * time.Second).UnixNano() }
	c := newEventCache(s, polled, &latencies{})
	c.begin(start)
	stamp := start.Add(1500 * time.Millisecond)

	info := c.get(fakeEvent(s, "evt_A", 1, 4, stamp)) // job 1, item 4: step 1, at 0.5 + 1 s
	want := eventInfo{
		id: "evt_A", typ: "item.created", data: fakeEvent(s, "evt_A", 1, 4, stamp).Data,
		index: 6 + 3, job: 1,
		changed: start.Add(1500 * time.Millisecond).UnixNano(),
		polled:  start.Add(11 * time.Second).UnixNano(),
		stamped: stamp.UnixNano(),
	}
	if !reflect.DeepEqual(*info, want) {
		t.Errorf("info\n%+v\nwant\n%+v", *info, want)
	}
	if again := c.get(fakeEvent(s, "evt_A", 1, 4, stamp)); again != info {
		t.Error("the second get of an id read it again")
	}

	// Events the schedule did not make are kept, with index -1.
	for name, ev := range map[string]sseEvent{
		"other type":                       {ID: []byte("evt_B"), Type: []byte("item.updated"), Data: []byte(`{"type":"item.updated","data":{"job":"stream-0","key":"1"}}`)},
		"type differs from the envelope's": {ID: []byte("evt_C"), Type: []byte("item.created"), Data: []byte(`{"type":"item.deleted","data":{"job":"stream-0","key":"1"}}`)},
		"unknown job":                      {ID: []byte("evt_D"), Type: []byte("item.created"), Data: []byte(`{"type":"item.created","data":{"job":"other","key":"1"}}`)},
		"not JSON":                         {ID: []byte("evt_E"), Type: []byte("item.created"), Data: []byte(`{`)},
	} {
		if info := c.get(ev); info.index != -1 || info.id != string(ev.ID) {
			t.Errorf("%s: index %d, id %q; want -1, %q", name, info.index, info.id, ev.ID)
		}
	}
}

func TestTally(t *testing.T) {
	s, err := newSchedule(2, 4, time.Second, 2*time.Second) // 2 items a step, 4 per job, 8 in all
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1_700_000_000, 0)
	lat := &latencies{}
	c := newEventCache(s, func(int, int) int64 { return 0 }, lat)
	c.begin(start)
	stamp := start.Add(time.Second)
	ev := func(id string, j, item int) sseEvent { return fakeEvent(s, id, j, item, stamp) }
	recv := start.Add(2 * time.Second).UnixNano()

	type counts struct {
		Received, Distinct, Duplicates, Unexpected, Corrupt, OutOfOrder, Backwards, Missed int
		ByJob                                                                              []int
	}
	get := func(tl *tally) counts {
		return counts{tl.Received, tl.Distinct, tl.Duplicates, tl.Unexpected, tl.Corrupt, tl.OutOfOrder, tl.Backwards, tl.Missed(), tl.missedByJob()}
	}
	// The reference order: every event once, ids increasing.
	all := []sseEvent{ev("evt_01", 0, 1), ev("evt_02", 0, 2), ev("evt_03", 1, 1), ev("evt_04", 1, 2),
		ev("evt_05", 0, 3), ev("evt_06", 0, 4), ev("evt_07", 1, 3), ev("evt_08", 1, 4)}
	tests := []struct {
		name   string
		events []sseEvent
		want   counts
	}{
		{"every event", all, counts{8, 8, 0, 0, 0, 0, 0, 0, []int{0, 0}}},
		{"none", nil, counts{0, 0, 0, 0, 0, 0, 0, 8, []int{4, 4}}},
		{"two missed in job 1", append(append([]sseEvent{}, all[:3]...), all[4:7]...), counts{6, 6, 0, 0, 0, 0, 0, 2, []int{0, 2}}},
		{
			name:   "an event again, under its id: a duplicate, and not after its job's last id",
			events: append(append([]sseEvent{}, all[:2]...), all[1], all[2]),
			want:   counts{4, 3, 1, 0, 0, 1, 0, 5, []int{2, 3}},
		},
		{
			// pollhook committing one change twice would do this.
			name:   "an event again, under a new id: a duplicate, in order",
			events: []sseEvent{all[0], ev("evt_09", 0, 1)},
			want:   counts{2, 1, 1, 0, 0, 0, 0, 7, []int{3, 4}},
		},
		{
			name:   "jobs interleaved against id order: backwards, not out of order",
			events: []sseEvent{all[2], all[0], all[3], all[1]},
			want:   counts{4, 4, 0, 0, 0, 0, 2, 4, []int{2, 2}},
		},
		{
			name:   "a job's events swapped",
			events: []sseEvent{all[1], all[0]},
			want:   counts{2, 2, 0, 0, 0, 1, 1, 6, []int{2, 4}},
		},
		{
			name: "other data under a known id: corrupt, still counted",
			events: []sseEvent{all[0], {ID: []byte("evt_02"), Type: []byte("item.created"),
				Data: []byte(`{"type":"item.created","timestamp":"2023-11-14T22:13:21.000Z","data":{"job":"stream-0","key":"2","after":{"id":"two"}}}`)}},
			want: counts{2, 2, 0, 0, 1, 0, 0, 6, []int{2, 4}},
		},
		{
			name:   "unexpected",
			events: []sseEvent{all[0], {ID: []byte("evt_10"), Type: []byte("item.deleted"), Data: []byte(`{}`)}},
			want:   counts{1, 1, 0, 1, 0, 0, 0, 7, []int{3, 4}},
		},
	}
	// Every case shares the cache, as clients do: "evt_02" is cached
	// from the first case, so the corrupt case's data differs from it.
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := newTally(s, lat)
			for _, e := range tt.events {
				tl.add(c.get(e), e.Data, recv)
			}
			if got := get(tl); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestTallySequence holds the order hash to the ids and their order.
func TestTallySequence(t *testing.T) {
	s, err := newSchedule(1, 2, time.Second, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := newEventCache(s, func(int, int) int64 { return 0 }, &latencies{})
	a, b := c.get(fakeEvent(s, "evt_1", 0, 1, time.Now())), c.get(fakeEvent(s, "evt_2", 0, 2, time.Now()))
	seq := func(infos ...*eventInfo) uint64 {
		tl := newTally(s, &latencies{})
		for _, i := range infos {
			tl.add(i, i.data, 0)
		}
		return tl.seq
	}
	if seq(a, b) != seq(a, b) || seq(a, b) == seq(b, a) || seq(a) == seq(a, b) {
		t.Error("the sequence hash does not tell orders apart")
	}
}

func TestLatencies(t *testing.T) {
	var l latencies
	l.record(&eventInfo{changed: 1_000_000, polled: 2_000_000, stamped: 3_000_000}, 5_000_000) // ns
	l.record(&eventInfo{changed: 1_000_000}, 9_000_000)                                        // no poll or stamp known
	if l.Change.count() != 2 || l.Poll.count() != 1 || l.Stamp.count() != 1 {
		t.Fatalf("counts %d %d %d, want 2 1 1", l.Change.count(), l.Poll.count(), l.Stamp.count())
	}
	if got := []int64{l.Change.quantile(0), l.Change.quantile(1), l.Poll.quantile(1), l.Stamp.quantile(1)}; !reflect.DeepEqual(got, []int64{4015, 8000, 3000, 2000}) {
		// 4,000 µs is in the bucket [4000, 4032): its middle; the largest
		// value is kept exactly; 3,000 and 2,000 are each the largest.
		t.Errorf("µs %v, want [4015 8000 3000 2000]", got)
	}
}

func TestHistogramBuckets(t *testing.T) {
	// Every value lands in a bucket whose range holds it, the buckets are
	// in order, and they are within 1/64 of the value.
	prev := -1
	for _, v := range []int64{0, 1, 127, 128, 129, 255, 256, 257, 1000, 4095, 4096, 1e6, 1e9, 1 << 40, 1<<62 - 1} {
		i := bucketOf(v)
		if i < prev {
			t.Errorf("bucket of %d is %d, below the previous value's %d", v, i, prev)
		}
		prev = i
		lo, hi := bucketLow(i), bucketLow(i+1)
		if v < lo || v >= hi {
			t.Errorf("%d in bucket %d of [%d, %d)", v, i, lo, hi)
		}
		if float64(hi-lo) > float64(max(v, 1))/64+1 {
			t.Errorf("bucket %d of %d is %d wide", i, v, hi-lo)
		}
	}
	if bucketOf(-5) != 0 || bucketOf(math.MaxInt64) != histBuckets-1 {
		t.Errorf("ends: %d, %d; want 0, %d", bucketOf(-5), bucketOf(math.MaxInt64), histBuckets-1)
	}
}

func TestHistogramQuantile(t *testing.T) {
	var h histogram
	if h.quantile(0.5) != 0 {
		t.Error("an empty histogram has a median")
	}
	for v := int64(1); v <= 100; v++ {
		h.record(v) // exact buckets below 128
	}
	h.record(10_000)
	for q, want := range map[float64]int64{0: 1, 0.5: 51, 0.99: 100, 1: 10_000} {
		if got := h.quantile(q); got != want {
			t.Errorf("q%g = %d, want %d", q, got, want)
		}
	}
	// Above 128 the middle of the bucket, never above the largest value.
	var g histogram
	g.record(1000)
	if got := g.quantile(0.5); got != 1000 {
		t.Errorf("median of one value 1000 is %d", got)
	}
	g.record(5000)
	g.record(5000)
	if got := g.quantile(0.5); got < 5000*63/64 || got > 5000 {
		t.Errorf("median of 1000, 5000, 5000 is %d, want within 1/64 below 5000", got)
	}
}
