package pusher

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/pollhook/pollhook/store"
)

// unackable is a real store whose acknowledgements fail while broken is set.
type unackable struct {
	store.Store
	broken atomic.Bool
}

func (u *unackable) Settle(s store.Settlement) error {
	if u.broken.Load() {
		return errors.New("disk full")
	}
	return u.Store.Settle(s)
}

// TestUnackedDeliveriesAreSentAgain pins at-least-once with acks in the
// background: a lane goes on delivering while its acks fail, and what was
// delivered but never acked is sent again after a restart, with the same
// webhook-ids.
func TestUnackedDeliveriesAreSentAgain(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	u := &unackable{Store: st}
	u.broken.Store(true)
	rc := newReceiver(t, status(http.StatusOK))
	logger, logs := newLogLines(slog.LevelInfo)
	evs := commitTyped(t, st, "orders", []string{"hook"}, "item.created", "item.updated", "item.deleted")
	r := start(t, newPusher(t, u, []Destination{{Name: "hook", URL: rc.URL, Retry: fastRetry}}, orders, logger, testOptions()))
	if got := hitIDs(t, rc, 3); !slices.Equal(got, ids(evs)) {
		t.Fatalf("requests %v, want %v", got, ids(evs))
	}
	line := logs.wait(t, "store error")
	r.stop(t)
	if want := `level=ERROR msg="store error" destination=hook job=orders op="record deliveries" err="disk full"`; line != want {
		t.Errorf("log\n%s\nwant\n%s", line, want)
	}
	if ls := laneState(t, st, "hook", "orders"); ls.Cursor != evs[0].Seq {
		t.Fatalf("lane = %+v, want nothing acked", ls)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = openStore(t, dir)
	r = start(t, newPusher(t, st, []Destination{{Name: "hook", URL: rc.URL, Retry: fastRetry}}, orders, nil, testOptions()))
	if got := hitIDs(t, rc, 3); !slices.Equal(got, ids(evs)) {
		t.Errorf("after the restart: requests %v, want %v again", got, ids(evs))
	}
	r.stop(t)
	if ls := laneState(t, st, "hook", "orders"); ls != (store.LaneState{Destination: "hook", Job: "orders", Cursor: 4}) {
		t.Errorf("lane = %+v, want all acked", ls)
	}
}
