package pusher

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pollhook/pollhook/store"
)

// batchIDs returns the event ids in a batch body.
func batchIDs(t *testing.T, h hit) []string {
	t.Helper()
	var body struct{ Events []struct{ ID string } }
	if err := json.Unmarshal(h.Body, &body); err != nil {
		t.Fatalf("batch body %s: %v", h.Body, err)
	}
	var out []string
	for _, ev := range body.Events {
		out = append(out, ev.ID)
	}
	return out
}

func checkBatch(t *testing.T, h hit, want []store.Event) {
	t.Helper()
	if got := batchIDs(t, h); !slices.Equal(got, ids(want)) {
		t.Errorf("batch holds %v, want %v", got, ids(want))
	}
	if h.ID() != batchID(want) {
		t.Errorf("batch webhook-id %s, want %s", h.ID(), batchID(want))
	}
}

func TestBatchGathering(t *testing.T) {
	created := func(n int) []string { return slices.Repeat([]string{"item.created"}, n) }
	t.Run("a full batch goes at once", func(t *testing.T) {
		st := openStore(t, "")
		rc := newReceiver(t, status(http.StatusOK))
		p := newPusher(t, st, []Destination{{Name: "hook", URL: rc.URL, Batch: BatchPolicy{MaxEvents: 3, MaxWait: time.Hour}, Retry: fastRetry}},
			orders, nil, testOptions())
		evs := commitTyped(t, st, "orders", []string{"hook"}, created(4)...)
		r := start(t, p)
		checkBatch(t, rc.next(t), evs[:3])
		r.stop(t) // the fourth waits for more
		rc.none(t)
		if ls := laneState(t, st, "hook", "orders"); ls != (store.LaneState{Destination: "hook", Job: "orders", Cursor: 4}) {
			t.Errorf("lane = %+v, want the batch acked", ls)
		}
	})
	t.Run("a partial batch goes after max_wait", func(t *testing.T) {
		st := openStore(t, "")
		rc := newReceiver(t, status(http.StatusOK))
		const wait = 200 * ms
		p := newPusher(t, st, []Destination{{Name: "hook", URL: rc.URL, Batch: BatchPolicy{MaxEvents: 3, MaxWait: wait}, Retry: fastRetry}},
			orders, nil, testOptions())
		evs := commitTyped(t, st, "orders", []string{"hook"}, created(2)...)
		begin := time.Now()
		start(t, p)
		h := rc.next(t)
		checkBatch(t, h, evs)
		if waited := h.At.Sub(begin); waited < wait {
			t.Errorf("sent after %s, before max_wait %s", waited, wait)
		}
	})
	t.Run("new events join a waiting batch", func(t *testing.T) {
		st := openStore(t, "")
		rc := newReceiver(t, status(http.StatusOK))
		p := newPusher(t, st, []Destination{{Name: "hook", URL: rc.URL, Batch: BatchPolicy{MaxEvents: 3, MaxWait: time.Hour}, Retry: fastRetry}},
			orders, nil, testOptions())
		evs := commitTyped(t, st, "orders", []string{"hook"}, created(2)...)
		start(t, p)
		evs = append(evs, commitTyped(t, st, "orders", []string{"hook"}, "item.deleted")...)
		p.Wake("orders")
		checkBatch(t, rc.next(t), evs)
	})
	t.Run("skipped types", func(t *testing.T) {
		st := openStore(t, "")
		rc := newReceiver(t, status(http.StatusOK))
		p := newPusher(t, st, []Destination{{Name: "hook", URL: rc.URL, Events: []string{"item.deleted"},
			Batch: BatchPolicy{MaxEvents: 2}, Retry: fastRetry}}, orders, nil, testOptions())
		evs := commitTyped(t, st, "orders", []string{"hook"}, "item.created", "item.deleted", "item.created", "item.created", "item.deleted")
		r := start(t, p)
		// Only the deleted events are sent; a batch of nothing is not.
		checkBatch(t, rc.next(t), []store.Event{evs[1], evs[4]})
		r.stop(t)
		rc.none(t)
		if ls := laneState(t, st, "hook", "orders"); ls.Cursor != 6 {
			t.Errorf("lane = %+v, want past every event", ls)
		}
	})
}

// TestBatchRetriedAsAUnit shows a failed batch sent again exactly as it
// was, although more events arrived meanwhile, then the next batch.
func TestBatchRetriedAsAUnit(t *testing.T) {
	st := openStore(t, "")
	hold := make(chan struct{})
	// The first attempt (three tries) fails; its last answer waits until
	// more events are committed.
	rc := newReceiver(t, heldUntil(hold, 3, failFirst(3, http.StatusInternalServerError, "")))
	p := newPusher(t, st, []Destination{{Name: "hook", URL: rc.URL, Batch: BatchPolicy{MaxEvents: 3}, Retry: fastRetry}},
		orders, nil, testOptions())
	first := commitTyped(t, st, "orders", []string{"hook"}, "item.created", "item.created")
	r := start(t, p)
	var tries []hit
	for range 3 {
		tries = append(tries, rc.next(t))
	}
	more := commitTyped(t, st, "orders", []string{"hook"}, "item.updated", "item.updated")
	close(hold)
	retry, next := rc.next(t), rc.next(t)
	r.stop(t)
	for i, h := range append(tries, retry) {
		checkBatch(t, h, first)
		if string(h.Body) != string(tries[0].Body) {
			t.Errorf("try %d body %s, want %s", i+1, h.Body, tries[0].Body)
		}
	}
	checkBatch(t, next, more)
	if ls := laneState(t, st, "hook", "orders"); ls != (store.LaneState{Destination: "hook", Job: "orders", Cursor: 5}) {
		t.Errorf("lane = %+v, want both batches acked", ls)
	}
}

func TestBatchDeadLettered(t *testing.T) {
	st := openStore(t, "")
	rc := newReceiver(t, failFirst(99, http.StatusUnprocessableEntity, "bad batch"))
	logger, logs := newLogLines(slog.LevelInfo)
	policy := fastRetry
	policy.MaxAttempts = 1
	p := newPusher(t, st, []Destination{{Name: "hook", URL: rc.URL, Events: []string{"item.created"},
		Batch: BatchPolicy{MaxEvents: 5}, Retry: policy}}, orders, logger, testOptions())
	evs := commitTyped(t, st, "orders", []string{"hook"}, "item.created", "item.updated", "item.created")
	r := start(t, p)
	line := logs.wait(t, "event dead-lettered")
	r.stop(t)
	sent := []store.Event{evs[0], evs[2]}
	if want := `level=ERROR msg="event dead-lettered" destination=hook job=orders batch_id=` + batchID(sent) +
		` events=2 attempts=1 status=422 reason="422 Unprocessable Entity: bad batch" why="max_attempts 1 reached"`; line != want {
		t.Errorf("log\n%s\nwant\n%s", line, want)
	}
	dls, err := st.DeadLetters("hook")
	if err != nil || len(dls) != 2 || dls[0].Event.ID != evs[0].ID || dls[1].Event.ID != evs[2].ID ||
		dls[1].LastError != "422 Unprocessable Entity: bad batch" || dls[1].Attempts != 1 {
		t.Errorf("dead letters = %+v, %v; want the two events sent", dls, err)
	}
	if ls := laneState(t, st, "hook", "orders"); ls != (store.LaneState{Destination: "hook", Job: "orders", Cursor: 4}) {
		t.Errorf("lane = %+v, want past the batch", ls)
	}
}

// TestBatchKeepsItsIDAcrossRestart shows a batch cut off by shutdown (as
// when the process dies while the receiver may already have accepted it)
// sent again after the restart with the same events and the same
// webhook-id, although more events arrived meanwhile: the batch is pinned
// before its first attempt, not after a failed one.
func TestBatchKeepsItsIDAcrossRestart(t *testing.T) {
	st := openStore(t, "")
	var calls atomic.Int32
	rc := newReceiver(t, func(_ hit, w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			<-r.Context().Done() // the first request hangs until it is cut off
		}
	})
	opts := testOptions()
	opts.DrainTimeout = 10 * ms
	dests := []Destination{{Name: "hook", URL: rc.URL, Batch: BatchPolicy{MaxEvents: 10}, Retry: fastRetry}}
	first := commitTyped(t, st, "orders", []string{"hook"}, "item.created", "item.created")
	r := start(t, newPusher(t, st, dests, orders, nil, opts))
	checkBatch(t, rc.next(t), first)
	r.stop(t)

	more := commitTyped(t, st, "orders", []string{"hook"}, "item.updated")
	r = start(t, newPusher(t, st, dests, orders, nil, opts))
	checkBatch(t, rc.next(t), first)
	checkBatch(t, rc.next(t), more)
	r.stop(t)
	if ls := laneState(t, st, "hook", "orders"); ls != (store.LaneState{Destination: "hook", Job: "orders", Cursor: 4}) {
		t.Errorf("lane = %+v, want both batches acked", ls)
	}
}
