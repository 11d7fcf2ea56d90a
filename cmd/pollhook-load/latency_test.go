package main

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// TestChangeTime dates webhooks built from the documents themselves: for
// every version of every job, the item that version changed, as pollhook
// would report it, must date back to that version's start.
func TestChangeTime(t *testing.T) {
	start := time.Unix(1700000000, 0)
	const jobs, items, changeEvery = 7, 3, 10 * time.Second
	f := &fleet{start: start, changeEvery: changeEvery, items: items, jobs: make([]jobSource, jobs)}
	for i := range jobs {
		for v := int64(1); v <= 12; v++ {
			// The item version v changed, and its value there.
			prev, next := renderDocument(v-1, items), renderDocument(v, items)
			k := int64(-1)
			for id := range int64(items) {
				if val(t, prev, id) != val(t, next, id) {
					k = id
				}
			}
			body := fmt.Sprintf(`{"type":"item.updated","timestamp":"x","data":{"job":"load-%d","key":"%d","after":{"id":%d,"name":"n","v":%d}}}`,
				i, k+1, k+1, val(t, next, k))
			got, ok := f.changeTime([]byte(body))
			start := start.Add(versionStart(i, jobs, v, changeEvery))
			if !ok || !got.Equal(start) {
				t.Fatalf("job %d version %d: changeTime = %v, %t; want %v", i, v, got, ok, start)
			}
			// The version starts when docVersion moves to it.
			elapsed := start.Sub(f.start)
			if docVersion(i, jobs, elapsed, changeEvery) != v || docVersion(i, jobs, elapsed-1, changeEvery) != v-1 {
				t.Fatalf("job %d: version %d does not start at %s", i, v, elapsed)
			}
		}
	}
	for _, body := range []string{
		`{"type":"item.created","data":{"job":"load-1","after":{"id":1,"v":1}}}`,
		`{"type":"item.updated","data":{"job":"load-7","after":{"id":1,"v":1}}}`,
		`{"type":"item.updated","data":{"job":"other-1","after":{"id":1,"v":1}}}`,
		`{"type":"item.updated","data":{"job":"load-1","after":{"id":4,"v":1}}}`,
		`{"type":"item.updated","data":{"job":"load-1","after":{"id":0,"v":1}}}`,
		`not json`,
	} {
		if got, ok := f.changeTime([]byte(body)); ok {
			t.Errorf("changeTime(%s) = %v, want not dated", body, got)
		}
	}
}

// val returns item id's v (0-based id) from a rendered document.
func val(t *testing.T, doc []byte, id int64) int64 {
	t.Helper()
	var d struct {
		Items []struct{ V int64 } `json:"items"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	return d.Items[id].V
}

func TestLatencyLog(t *testing.T) {
	var l latencyLog
	t0 := time.Unix(100, 0)
	for i, ms := range []int{900, 100, 300, 200, 5000} {
		l.add(t0.Add(time.Duration(i)*time.Second), time.Duration(ms)*time.Millisecond)
	}
	// The window [1s, 4s) holds the 2nd to the 4th.
	got := spreadOf(l.between(t0.Add(time.Second), t0.Add(4*time.Second)))
	if want := (latencySpread{Count: 3, P50Ms: 200, P99Ms: 300, MaxMs: 300}); got != want {
		t.Errorf("spread %+v, want %+v", got, want)
	}
	if got := spreadOf(nil); got != (latencySpread{}) {
		t.Errorf("spread of none %+v", got)
	}
}
