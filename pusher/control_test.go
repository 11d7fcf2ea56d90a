package pusher

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pollhook/pollhook/store"
)

// failing answers 422 to the events whose ids it holds, 200 to the others.
type failing struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (f *failing) set(ids ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ids = make(map[string]bool)
	for _, id := range ids {
		f.ids[id] = true
	}
}

func (f *failing) respond(h hit, w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ids[h.ID()] {
		http.Error(w, "rejected", http.StatusUnprocessableEntity)
	}
}

func hitIDs(t *testing.T, rc *receiver, n int) []string {
	t.Helper()
	var got []string
	for range n {
		got = append(got, rc.next(t).ID())
	}
	return got
}

func TestRedeliveries(t *testing.T) {
	st := openStore(t, t.TempDir())
	var f failing
	rc := newReceiver(t, f.respond)
	logger, logs := newLogLines(slog.LevelInfo)
	policy := fastRetry
	policy.MaxAttempts = 2
	p := newPusher(t, st, []Destination{{Name: "hook", URL: rc.URL, Retry: policy}}, orders, logger, testOptions())
	evs := commitTyped(t, st, "orders", []string{"hook"}, "item.created", "item.created", "item.created")
	e1, e2, e3 := evs[0], evs[1], evs[2]
	f.set(e1.ID, e2.ID)
	r := start(t, p)
	if got, want := hitIDs(t, rc, 5), []string{e1.ID, e1.ID, e2.ID, e2.ID, e3.ID}; !slices.Equal(got, want) {
		t.Fatalf("requests %v, want %v", got, want)
	}
	logs.wait(t, "event dead-lettered")
	logs.wait(t, "event dead-lettered")

	// Retried, e1 fails twice again and goes back to the dead letters.
	if err := p.RetryDeadLetter("hook", e1.ID); err != nil {
		t.Fatal(err)
	}
	if got, want := hitIDs(t, rc, 2), []string{e1.ID, e1.ID}; !slices.Equal(got, want) {
		t.Errorf("requests %v, want %v", got, want)
	}
	line := logs.wait(t, "event dead-lettered")
	if want := `level=ERROR msg="event dead-lettered" destination=hook job=orders event_id=` + e1.ID +
		` redelivery=true attempts=2 status=422 reason="422 Unprocessable Entity: rejected" why="max_attempts 2 reached"`; line != want {
		t.Errorf("log\n%s\nwant\n%s", line, want)
	}

	// Replayed once the receiver takes them: both, in event order, with
	// their ids, and the dead letters are gone.
	f.set()
	if n, err := p.ReplayDeadLetters("hook"); n != 2 || err != nil {
		t.Fatalf("ReplayDeadLetters = %d, %v; want 2", n, err)
	}
	if got, want := hitIDs(t, rc, 2), []string{e1.ID, e2.ID}; !slices.Equal(got, want) {
		t.Errorf("requests %v, want %v", got, want)
	}
	r.stop(t)
	rc.none(t)
	if dls, err := st.DeadLetters(""); err != nil || len(dls) != 0 {
		t.Errorf("dead letters = %+v, %v; want none", dls, err)
	}
	if rs, err := st.Redeliveries("hook", "orders", 0); err != nil || len(rs) != 0 {
		t.Errorf("queue = %+v, %v; want empty", rs, err)
	}
	err := p.RetryDeadLetter("hook", e1.ID)
	if want := `pusher: retry dead letter: destination "hook", event "` + e1.ID + `": store: no such dead letter`; !errors.Is(err, store.ErrNoDeadLetter) || err.Error() != want {
		t.Errorf("RetryDeadLetter without a letter = %v, want %s", err, want)
	}
}

// TestReplaySinceGoesBeforeNewEvents shows a replay sent in event order
// ahead of the lane's next event; an event on the wire when the replay is
// asked for is not part of it.
func TestReplaySinceGoesBeforeNewEvents(t *testing.T) {
	st := openStore(t, "")
	hold := make(chan struct{})
	rc := newReceiver(t, heldUntil(hold, 4, status(http.StatusOK)))
	// audit's receiver is gone: its lane is paused and keeps the log.
	gone := newReceiver(t, status(http.StatusGone))
	both := []string{"hook", "audit"}
	p := newPusher(t, st, []Destination{{Name: "hook", URL: rc.URL, Retry: fastRetry}, {Name: "audit", URL: gone.URL, Retry: fastRetry}},
		map[string][]string{"orders": both}, nil, testOptions())
	evs := commitTyped(t, st, "orders", both, "item.created", "item.updated", "item.deleted")
	r := start(t, p)
	if got := hitIDs(t, rc, 3); !slices.Equal(got, ids(evs)) {
		t.Fatalf("requests %v, want %v", got, ids(evs))
	}
	gone.next(t)
	e4 := commitTyped(t, st, "orders", both, "item.created")[0]
	p.Wake("orders")
	if h := rc.next(t); h.ID() != e4.ID { // held
		t.Fatalf("request %s, want %s", h.ID(), e4.ID)
	}
	e5 := commitTyped(t, st, "orders", both, "item.created")[0]
	n, err := p.ReplaySince("hook", "orders", evs[0].Time)
	if n != 3 || err != nil {
		t.Fatalf("ReplaySince = %d, %v; want 3", n, err)
	}
	close(hold)
	if got, want := hitIDs(t, rc, 4), append(ids(evs), e5.ID); !slices.Equal(got, want) {
		t.Errorf("requests %v, want %v", got, want)
	}
	r.stop(t)
	rc.none(t)
	if n, err := p.ReplaySince("hook", "orders", e5.Time.Add(time.Second)); n != 0 || err != nil {
		t.Errorf("ReplaySince(after everything) = %d, %v", n, err)
	}
}
