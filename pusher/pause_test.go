package pusher

import (
	"log/slog"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pollhook/pollhook/store"
)

// TestGonePausesDestination: a 410 pauses every lane of its destination,
// and only those, across a restart, until Resume.
func TestGonePausesDestination(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	var isGone atomic.Bool
	isGone.Store(true)
	hook := newReceiver(t, func(_ hit, w http.ResponseWriter, _ *http.Request) {
		if isGone.Load() {
			http.Error(w, "unsubscribed", http.StatusGone)
		}
	})
	other := newReceiver(t, status(http.StatusOK))
	dests := []Destination{{Name: "hook", URL: hook.URL, Retry: fastRetry}, {Name: "other", URL: other.URL, Retry: fastRetry}}
	routes := map[string][]string{"a": {"hook", "other"}, "b": {"hook"}}
	a1 := commitTyped(t, st, "a", []string{"hook", "other"}, "item.created")[0]
	logger, logs := newLogLines(slog.LevelInfo)
	p := newPusher(t, st, dests, routes, logger, testOptions())
	r := start(t, p)

	line := logs.wait(t, "destination paused: its receiver answered 410 Gone; resume it to deliver again")
	if want := `level=ERROR msg="destination paused: its receiver answered 410 Gone; resume it to deliver again" destination=hook job=a event_id=` +
		a1.ID + ` status=410 reason="410 Gone: unsubscribed"`; line != want {
		t.Errorf("log\n%s\nwant\n%s", line, want)
	}
	if h := hook.next(t); h.ID() != a1.ID {
		t.Errorf("hook got %s, want %s", h.ID(), a1.ID)
	}
	paused, err := st.Paused()
	if err != nil || len(paused) != 1 {
		t.Fatalf("Paused = %+v, %v", paused, err)
	}
	if pz := paused[0]; pz.Destination != "hook" || pz.Job != "a" || pz.EventID != a1.ID || pz.Status != 410 ||
		pz.Reason != "410 Gone: unsubscribed" || pz.At.IsZero() {
		t.Errorf("pause = %+v", pz)
	}

	// Other destinations go on; every lane of hook holds.
	b1 := commitTyped(t, st, "b", []string{"hook"}, "item.created")[0]
	p.Wake("b")
	a2 := commitTyped(t, st, "a", []string{"hook", "other"}, "item.created")[0]
	p.Wake("a")
	if got := []string{other.next(t).ID(), other.next(t).ID()}; !slices.Equal(got, []string{a1.ID, a2.ID}) {
		t.Errorf("other got %v, want %s, %s", got, a1.ID, a2.ID)
	}
	r.stop(t)
	hook.none(t)
	ls := laneState(t, st, "hook", "a")
	if ls.Cursor != a1.Seq || ls.Attempts != 1 || ls.LastStatus != 410 || ls.LastError != "410 Gone: unsubscribed" || !ls.NextAttempt.IsZero() {
		t.Errorf("lane hook/a = %+v, want the event kept with one attempt, to be sent on resumption", ls)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// After a restart the pause holds.
	st = openStore(t, dir)
	logger, logs = newLogLines(slog.LevelInfo)
	p = newPusher(t, st, dests, routes, logger, testOptions())
	r = start(t, p)
	line = logs.wait(t, "destination paused since its receiver answered 410 Gone; resume it to deliver again")
	if want := `level=WARN msg="destination paused since its receiver answered 410 Gone; resume it to deliver again" destination=hook since=` +
		paused[0].At.Format(time.RFC3339) + ` job=a event_id=` + a1.ID; line != want {
		t.Errorf("log\n%s\nwant\n%s", line, want)
	}
	a3 := commitTyped(t, st, "a", []string{"hook", "other"}, "item.created")[0]
	p.Wake("a")
	if h := other.next(t); h.ID() != a3.ID {
		t.Errorf("other got %s, want %s", h.ID(), a3.ID)
	}
	hook.none(t)

	isGone.Store(false)
	if was, err := p.Resume("hook"); !was || err != nil {
		t.Fatalf("Resume = %v, %v; want true", was, err)
	}
	logs.wait(t, "destination resumed")
	got := map[string][]string{}
	for range 4 {
		h := hook.next(t)
		got[jobOf(t, h)] = append(got[jobOf(t, h)], h.ID())
	}
	r.stop(t)
	if want := []string{a1.ID, a2.ID, a3.ID}; !slices.Equal(got["a"], want) {
		t.Errorf("hook got job a as %v, want %v", got["a"], want)
	}
	if want := []string{b1.ID}; !slices.Equal(got["b"], want) {
		t.Errorf("hook got job b as %v, want %v", got["b"], want)
	}
	if paused, err := st.Paused(); err != nil || len(paused) != 0 {
		t.Errorf("Paused after Resume = %+v, %v", paused, err)
	}
	if was, err := p.Resume("hook"); was || err != nil {
		t.Errorf("second Resume = %v, %v; want false", was, err)
	}
	if _, err := p.Resume("nope"); err == nil || err.Error() != `pusher: no destination "nope"` {
		t.Errorf("Resume of an unknown destination = %v", err)
	}
	if ls := laneState(t, st, "hook", "a"); ls != (store.LaneState{Destination: "hook", Job: "a", Cursor: a3.Seq + 1}) {
		t.Errorf("lane hook/a = %+v, want all delivered", ls)
	}
}
