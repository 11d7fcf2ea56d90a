package pusher

import (
	"log/slog"
	"net/http"
	"testing"

	"github.com/pollhook/pollhook/store"
)

// TestRetiredLaneIsDeleted shows that a destination removed from a job's
// configuration loses its lane (so the job's log can be pruned), its
// undelivered events going to the dead letters with a warning, while the
// remaining lane delivers as before.
func TestRetiredLaneIsDeleted(t *testing.T) {
	st := openStore(t, "")
	evs := commit(t, st, "orders", []string{"hook", "gone"}, `{"n":1}`, `{"n":2}`)
	// Event 1 died on gone earlier and was queued again.
	if err := st.DeadLetter(store.DeadLetter{Destination: "gone", Event: evs[0]}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RetryDeadLetter("gone", evs[0].ID); err != nil {
		t.Fatal(err)
	}
	rc := newReceiver(t, status(http.StatusNoContent))
	logger, logs := newLogLines(slog.LevelInfo)
	p := newPusher(t, st, []Destination{{Name: "hook", URL: rc.URL, Retry: fastRetry}}, orders, logger, testOptions())
	r := start(t, p)
	line := logs.wait(t, "destination no longer configured for job: its undelivered events were dead-lettered")
	if want := `level=WARN msg="destination no longer configured for job: its undelivered events were dead-lettered" destination=gone job=orders dead_lettered=2`; line != want {
		t.Errorf("log line\n%s\nwant\n%s", line, want)
	}
	if a, b := rc.next(t).ID(), rc.next(t).ID(); a != evs[0].ID || b != evs[1].ID {
		t.Errorf("delivered %s, %s; want %s, %s", a, b, evs[0].ID, evs[1].ID)
	}
	r.stop(t)
	lanes, err := st.Lanes()
	if err != nil {
		t.Fatal(err)
	}
	want := store.LaneState{Destination: "hook", Job: "orders", Cursor: evs[1].Seq + 1}
	if len(lanes) != 1 || lanes[0] != want {
		t.Errorf("lanes after retirement = %+v, want only %+v", lanes, want)
	}
	dls, err := st.DeadLetters("gone")
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 2 || dls[0].Event.ID != evs[0].ID || dls[1].Event.ID != evs[1].ID || dls[0].LastError != retiredReason || dls[1].LastError != retiredReason {
		t.Errorf("dead letters of the retired lane = %+v, want both events with reason %q", dls, retiredReason)
	}
	if rs, err := st.Redeliveries("gone", "orders", 0); err != nil || len(rs) != 0 {
		t.Errorf("queue of the retired lane = %+v, %v; want empty", rs, err)
	}
}
