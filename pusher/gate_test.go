package pusher

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pollhook/pollhook/store"
)

// commitTyped appends one event per type to job's log, routed to dests,
// each with data {"job":job,"n":i} (i from 1), and returns them as stored.
func commitTyped(t testing.TB, st store.Store, job string, dests []string, types ...string) []store.Event {
	t.Helper()
	head, err := st.Head(job)
	if err != nil {
		t.Fatal(err)
	}
	c := &store.Commit{Snapshot: []byte("s"), BodyHash: []byte("h"), Destinations: dests}
	for i, typ := range types {
		c.Events = append(c.Events, store.Event{Type: typ, Job: job, Key: strconv.Itoa(i + 1),
			Data: json.RawMessage(fmt.Sprintf(`{"job":%q,"n":%d}`, job, i+1))})
	}
	if _, err := st.Commit(context.Background(), job, head.Version, c); err != nil {
		t.Fatal(err)
	}
	return c.Events
}

// jobOf reads the job named in a single event's body.
func jobOf(t *testing.T, h hit) string {
	t.Helper()
	var body struct {
		Data struct{ Job string }
	}
	if err := json.Unmarshal(h.Body, &body); err != nil {
		t.Fatalf("body %s: %v", h.Body, err)
	}
	return body.Data.Job
}

func ids(events []store.Event) []string {
	out := make([]string, len(events))
	for i, ev := range events {
		out[i] = ev.ID
	}
	return out
}

// TestSlowDestinationsDoNotDelayOthers runs three destinations on the same
// six jobs: one whose receiver never answers, one limited to a request per
// thousand seconds, and a healthy one, which gets every event, in order per
// job, while the first two are stuck.
func TestSlowDestinationsDoNotDelayOthers(t *testing.T) {
	st := openStore(t, "")
	hung := newReceiver(t, func(_ hit, _ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	slow := newReceiver(t, status(http.StatusOK))
	ok := newReceiver(t, status(http.StatusOK))
	dests := []Destination{
		{Name: "hung", URL: hung.URL, Timeout: time.Hour, Retry: fastRetry}, // 4 lanes at once, by default
		{Name: "slow", URL: slow.URL, RateLimit: 0.001, Retry: fastRetry},
		{Name: "ok", URL: ok.URL, Retry: fastRetry},
	}
	names := []string{"hung", "slow", "ok"}
	routes := make(map[string][]string)
	want := make(map[string][]string)
	for _, job := range []string{"a", "b", "c", "d", "e", "f"} {
		routes[job] = names
		want[job] = ids(commitTyped(t, st, job, names, "item.created", "item.updated"))
	}
	opts := testOptions()
	opts.DrainTimeout = 50 * ms
	r := start(t, newPusher(t, st, dests, routes, nil, opts))

	got := make(map[string][]string)
	for range 12 {
		h := ok.next(t)
		got[jobOf(t, h)] = append(got[jobOf(t, h)], h.ID())
	}
	for job, w := range want {
		if !slices.Equal(got[job], w) {
			t.Errorf("ok got job %s as %v, want %v", job, got[job], w)
		}
	}
	// Meanwhile hung holds its four concurrency slots, and slow has sent
	// the one request its rate allows.
	for range 4 {
		hung.next(t)
	}
	slow.next(t)
	r.stop(t)
	hung.none(t)
	slow.none(t)
	for _, job := range []string{"a", "f"} {
		if ls := laneState(t, st, "ok", job); ls.Cursor != 3 || ls.Attempts != 0 {
			t.Errorf("lane ok/%s = %+v, want both events delivered", job, ls)
		}
		if ls := laneState(t, st, "hung", job); ls != (store.LaneState{Destination: "hung", Job: job, Cursor: 1}) {
			t.Errorf("lane hung/%s = %+v, want nothing counted", job, ls)
		}
	}
}

// signal waits for one signal on ch.
func signal(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitLimit):
		t.Fatalf("%s: nothing within %s", what, waitLimit)
	}
}

func TestConcurrencyCap(t *testing.T) {
	st := openStore(t, "")
	entered, release := make(chan struct{}, 5), make(chan struct{})
	var inFlight, most atomic.Int64
	rc := newReceiver(t, func(_ hit, w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1) // before the answer is written
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		entered <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	routes := make(map[string][]string)
	for i := range 5 {
		job := "job" + strconv.Itoa(i)
		routes[job] = []string{"hook"}
		commitTyped(t, st, job, []string{"hook"}, "item.created")
	}
	p := newPusher(t, st, []Destination{{Name: "hook", URL: rc.URL, Concurrency: 2, Retry: fastRetry}}, routes, nil, testOptions())
	waiting := make(chan struct{}, 5)
	p.gates["hook"].onWait = func() { waiting <- struct{}{} }
	start(t, p)
	// Two requests are held while the three other lanes wait for a slot;
	// then each release lets one more in.
	signal(t, entered, "first request")
	signal(t, entered, "second request")
	for range 3 {
		signal(t, waiting, "a lane waiting for a slot")
	}
	for range 3 {
		release <- struct{}{}
		signal(t, entered, "next request")
	}
	release <- struct{}{}
	release <- struct{}{}
	if m := most.Load(); m != 2 {
		t.Errorf("at most %d requests in flight, want 2", m)
	}
	for range 5 {
		rc.next(t)
	}
	rc.none(t)
}

func TestRateLimitPacesEveryRequest(t *testing.T) {
	st := openStore(t, "")
	// The first attempt takes three tries (two quick in-process retries).
	rc := newReceiver(t, failFirst(2, http.StatusServiceUnavailable, ""))
	p := newPusher(t, st, []Destination{{Name: "hook", URL: rc.URL, RateLimit: 20, Retry: fastRetry}}, orders, nil, testOptions())
	commitTyped(t, st, "orders", []string{"hook"}, "item.created", "item.created", "item.created")
	start(t, p)
	var at []time.Time
	for range 5 {
		at = append(at, rc.next(t).At)
	}
	// 20 requests/s spaces five requests over at least 200ms; arrival
	// times may bunch a little behind a slow first request.
	if span := at[4].Sub(at[0]); span < 150*ms {
		t.Errorf("5 requests within %s, want them paced 50ms apart", span)
	}
}

// TestSuccessCodes shows a listed status counting as delivered at its first
// answer: no in-process retry of a 503 that is a success, no retry state.
func TestSuccessCodes(t *testing.T) {
	st := openStore(t, "")
	rc := newReceiver(t, status(http.StatusServiceUnavailable))
	p := newPusher(t, st, []Destination{{Name: "hook", URL: rc.URL, SuccessCodes: []int{409, 503}, Retry: fastRetry}}, orders, nil, testOptions())
	evs := commitTyped(t, st, "orders", []string{"hook"}, "item.created", "item.deleted")
	r := start(t, p)
	got := []string{rc.next(t).ID(), rc.next(t).ID()}
	r.stop(t)
	if want := ids(evs); !slices.Equal(got, want) {
		t.Errorf("requests %v, want %v", got, want)
	}
	rc.none(t)
	if ls := laneState(t, st, "hook", "orders"); ls != (store.LaneState{Destination: "hook", Job: "orders", Cursor: 3}) {
		t.Errorf("lane = %+v, want both delivered", ls)
	}
}

// TestEventTypeFilter shows a destination receiving only the event types
// it lists, while its lane moves past the others.
func TestEventTypeFilter(t *testing.T) {
	st := openStore(t, "")
	rc := newReceiver(t, status(http.StatusOK))
	all := newReceiver(t, status(http.StatusOK))
	p := newPusher(t, st, []Destination{
		{Name: "hook", URL: rc.URL, Events: []string{"item.created", "item.deleted"}, Retry: fastRetry},
		{Name: "all", URL: all.URL, Retry: fastRetry},
	}, map[string][]string{"orders": {"hook", "all"}}, nil, testOptions())
	evs := commitTyped(t, st, "orders", []string{"hook", "all"},
		"item.updated", "item.created", "item.updated", "item.updated", "item.deleted", "item.updated", "item.created")
	r := start(t, p)
	got := hitIDs(t, rc, 3)
	for range evs {
		all.next(t)
	}
	r.stop(t)
	if want := []string{evs[1].ID, evs[4].ID, evs[6].ID}; !slices.Equal(got, want) {
		t.Errorf("hook got %v, want the created and deleted events %v", got, want)
	}
	rc.none(t)
	if ls := laneState(t, st, "hook", "orders"); ls.Cursor != 8 {
		t.Errorf("lane = %+v, want past every event (cursor 8)", ls)
	}
}

// TestParallelLanesOfOneDestination checks, under the race detector, many
// lanes of one destination delivering at once through shared slots, a
// shared limiter and per-lane ackers.
func TestParallelLanesOfOneDestination(t *testing.T) {
	st := openStore(t, t.TempDir())
	var mu sync.Mutex
	seen := make(map[string][]string)
	rc := newReceiver(t, func(h hit, _ http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		var body struct{ Data struct{ Job string } }
		_ = json.Unmarshal(h.Body, &body)
		seen[body.Data.Job] = append(seen[body.Data.Job], h.ID())
	})
	routes := make(map[string][]string)
	want := make(map[string][]string)
	const jobs, perJob = 8, 40
	types := slices.Repeat([]string{"item.created"}, perJob)
	for i := range jobs {
		job := "job" + strconv.Itoa(i)
		routes[job] = []string{"hook"}
		want[job] = ids(commitTyped(t, st, job, []string{"hook"}, types...))
	}
	p := newPusher(t, st, []Destination{{Name: "hook", URL: rc.URL, Concurrency: 3, RateLimit: 10000, Retry: fastRetry}}, routes, nil, testOptions())
	r := start(t, p)
	for range jobs * perJob {
		rc.next(t)
	}
	r.stop(t)
	mu.Lock()
	defer mu.Unlock()
	for job, w := range want {
		if !slices.Equal(seen[job], w) {
			t.Errorf("job %s arrived as %v, want %v", job, seen[job], w)
		}
		if ls := laneState(t, st, "hook", job); ls.Cursor != perJob+1 {
			t.Errorf("lane hook/%s = %+v, want every event acked", job, ls)
		}
	}
}
